"""What ``pairloop stats`` counts: catalogue items by source, graph entities apart (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re

from pairloop.sample.catalogue import write_sample
from store.models import ENTITY_SOURCE


def test_graph_entities_are_counted_apart_from_catalogue_items(cli, tmp_path):
    sample = write_sample(tmp_path / "sample")
    cli("import", "items", sample.catalogue)
    cli("import", "labels", sample.seed_labels)
    before = json.loads(cli("stats", "--json").stdout)
    extracted = json.loads(cli("graph", "entities", "--json").stdout)
    assert extracted["links"] > 0

    after = json.loads(cli("stats", "--json").stdout)
    assert (after["items"], after["items_by_source"]) == (before["items"], before["items_by_source"])
    assert after["graph_entities"] > 0
    table = " ".join(cli("stats").stdout.split())
    assert ENTITY_SOURCE not in table
    assert re.search(rf"items │ {after['items']:,} ", table)
    assert re.search(rf"graph entities │ {after['graph_entities']:,} ", table)
    assert (before["graph_entities"], before["late_labels"]) == (0, 0)
