"""Knowledge-graph fixtures: a small real BundleRec folder cut from ../shared/datasets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from knowledge_graph.records import CatalogueItem

BUNDLEREC_FILES = ("item_titles.csv", "item_categories.csv", "session_item.csv", "bundle_item.csv",
                   "session_bundle.csv", "bundle_intent.csv")


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        return next(reader), list(reader)


def cut_bundlerec(source: Path, target: Path, sessions: int) -> Path:
    """The first ``sessions`` sessions of a BundleRec domain, with their bundles and items only."""
    target.mkdir(parents=True)
    header, session_rows = _rows(source / "session_item.csv")
    kept_sessions = list(dict.fromkeys(row[0] for row in session_rows))[:sessions]
    keep = set(kept_sessions)
    items = {row[1] for row in session_rows if row[0] in keep}
    _h, session_bundle = _rows(source / "session_bundle.csv")
    bundles = {row[1] for row in session_bundle if row[0] in keep}
    keep_rows = {
        "session_item.csv": lambda r: r[0] in keep,
        "session_bundle.csv": lambda r: r[0] in keep,
        "bundle_item.csv": lambda r: r[0] in bundles,
        "bundle_intent.csv": lambda r: r[0] in bundles,
        "item_titles.csv": lambda r: r[0] in items,
        "item_categories.csv": lambda r: r[0] in items,
    }
    for name in BUNDLEREC_FILES:
        header, rows = _rows(source / name)
        with (target / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(row for row in rows if keep_rows[name](row))
    return target


def item_of_entity(snapshot: Path, entity: str) -> str:
    """The first item of ``entity`` in a snapshot folder."""
    for line in (snapshot / "item_entities.jsonl").read_text().splitlines():
        row = json.loads(line)
        if entity in row["entities"]:
            return row["item"]
    raise AssertionError(f"no item of {entity}")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The models here are small: on shared cores one thread is several times faster than two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def small_bundlerec(datasets, tmp_path) -> Path:
    """80 real purchase sessions of BundleRec electronics (~400 items), as a domain folder."""
    return cut_bundlerec(datasets / "bundlerec" / "electronic", tmp_path / "electronic", 80)


@pytest.fixture
def gadgets() -> list[CatalogueItem]:
    """A hand-written catalogue for rules that must hold on any data."""
    rows = [
        ("s:1", "EN-EL15 Battery Charger for Nikon D7000", "Electronics > Camera & Photo > Accessories > Chargers"),
        ("s:2", "Wasabi Power Battery Charger for GoPro Hero3",
         "Electronics > Camera & Photo > Accessories > Chargers"),
        ("s:3", "Pearstone Battery Charger, Black", "Electronics > Camera & Photo > Accessories > Chargers"),
        ("s:4", "Nikon D3200 Digital SLR Camera (Black)", "Electronics > Camera & Photo > Digital Cameras"),
        ("s:5", "Canon EOS Rebel T5 Digital SLR Camera", "Electronics > Camera & Photo > Digital Cameras"),
        ("s:6", "Sony Cyber-shot Digital SLR Camera", "Electronics > Camera & Photo > Digital Cameras"),
        ("s:7", "SanDisk Ultra 32GB SDHC Memory Card", "Electronics > Computers > Memory Cards"),
        ("s:8", "Transcend 16GB SDHC Memory Card with reader", "Electronics > Computers > Memory Cards"),
        ("s:9", "Kingston 64GB Memory Card", "Electronics > Computers > Memory Cards"),
        ("s:10", "Mystery Gadget XJ-9000", "Electronics > Computers"),
        ("s:11", "Leather Case for iPad", "Electronics > Tablets > Cases & Sleeves > Cases"),
        ("s:12", "Camera Case for Nikon", "Electronics > Camera & Photo > Bags > Cases"),
    ]
    return [CatalogueItem(key, title, path) for key, title, path in rows]
