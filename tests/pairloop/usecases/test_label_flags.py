"""Label-error flags in a round's status, and flagged pairs sent to the round's adjudication: the
adjudicator's ruling decides, every earlier label is kept (the real Label Studio)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from support.noisy_labels import write_noisy_labels
from support.service import service_settings

from annotator.annotations import answer_result
from annotator.label_studio import ADJUDICATED_PAIR
from classifier.label_errors import detection
from pairloop.sample.catalogue import write_sample
from pairloop.usecases import round_steps as steps
from pairloop.usecases.context import Context
from pairloop.usecases.label_errors import MIN_FLAG_LABELS
from pairloop.usecases.rounds import adjudicate_suspects, close_round, round_status, start_round, sync_round
from store import formats
from store.db import make_engine
from store.errors import Conflict
from store.importer import Importer
from store.models import Item, Label, Pair
from store.verified import current_votes, decide


def store_context(sqlite_url, tmp_path, labels_file=None, **settings) -> Context:
    """A store with the sample catalogue, its pool and its 30 seed labels (and ``labels_file``)."""
    sample = write_sample(tmp_path / "sample")
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        importer = Importer(conn)
        importer.items(formats.read_items(sample.catalogue))
        importer.pairs(formats.read_pairs(sample.pool))
        importer.pairs(formats.read_pairs(labels_file(sample) if labels_file else sample.seed_labels))
    return Context(service_settings(sqlite_url, tmp_path / "data", **settings), engine_given=engine)


def by_items(ctx: Context) -> dict[int, frozenset]:
    a, b = aliased(Item), aliased(Item)
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(Pair.id, a.external_id, b.external_id)
                            .join(a, Pair.item_a_id == a.id).join(b, Pair.item_b_id == b.id))
        return {pid: frozenset((x, y)) for pid, x, y in rows}


def test_too_few_verified_labels_say_so_and_fail_nothing(sqlite_url, tmp_path):
    ctx = store_context(sqlite_url, tmp_path)
    round_id = steps.select_pairs(ctx, "random", 3, seed=1)
    flags = round_status(ctx, round_id, flags=True).label_flags
    assert not flags.computed and flags.verified == 30 and flags.flagged is None and flags.suspects == []
    assert flags.note.startswith("not enough verified labels: 30") and f"need {MIN_FLAG_LABELS}" in flags.note
    assert round_status(ctx, round_id).label_flags is None  # not asked: no flags, nothing trained
    with pytest.raises(Conflict, match="nothing to send: not enough verified labels"):
        adjudicate_suspects(ctx, round_id)


@pytest.mark.labelstudio
def test_flagged_labels_reach_the_rounds_adjudication_and_the_ruling_decides(sqlite_url, tmp_path, studio_state, ls):
    given_true = {}

    def labels_file(sample):
        path = tmp_path / "labels.csv"
        given_true.update(write_noisy_labels(sample.truth, path))
        return path

    ctx = store_context(sqlite_url, tmp_path, labels_file, label_studio_url=studio_state.url,
                        label_studio_token=studio_state.token, annotators_per_pair=1)
    started = start_round(ctx, "random", 3, seed=1, llm="none")
    round_id = started.round

    status = round_status(ctx, round_id, flags=True)
    flags = status.label_flags
    assert flags.computed and flags.verified == 300 and flags.flagged == len(flags.suspects) > 0
    items = by_items(ctx)
    wrong = [p for p, ends in items.items() if ends in given_true and len(set(given_true[ends])) == 2]
    found = detection([s.pair_id for s in flags.suspects], wrong)
    assert found.wrong == 30 and found.precision >= 0.5 and found.recall >= 0.5, found
    kept = list((ctx.settings.data_path / "reports" / "label-flags").iterdir())
    assert len(kept) == 1 and round_status(ctx, round_id, flags=True).label_flags == flags  # the kept flagging
    assert status.flagged_sent == [] and status.flagged_in_adjudication == 0

    sent = adjudicate_suspects(ctx, round_id)
    flagged = [s.pair_id for s in flags.suspects]
    assert sorted(sent.routed) == sorted(flagged) and sent.already_routed == []
    tasks = {int(t.data[ADJUDICATED_PAIR]): t for t in ls.list_tasks(sent.adjudication_project)}
    assert sorted(tasks) == sorted(flagged)
    first = flags.suspects[0]
    note = tasks[first.pair_id].data["answers_summary"]
    assert note.startswith(f"Flagged as a likely wrong label: verified {first.given}") and "annotator-1" in note
    assert ls.task(tasks[first.pair_id].id)["predictions"] == []  # nothing pre-selected for the adjudicator
    again = adjudicate_suspects(ctx, round_id)
    assert again.routed == [] and sorted(again.already_routed) == sorted(flagged)  # routed once

    status = round_status(ctx, round_id)
    assert sorted(status.flagged_sent) == sorted(flagged) and status.flagged_in_adjudication == len(flagged)
    with pytest.raises(Conflict, match=f"{len(flagged)} flagged, awaiting a ruling"):
        close_round(ctx, round_id)

    # The adjudicator gives the true relation of the most suspect pair; a sync reads the ruling.
    truth = given_true[items[first.pair_id]][1]
    ls.create_annotation(tasks[first.pair_id].id, answer_result(truth))
    sync = sync_round(ctx, round_id)
    assert sync.adjudication.rulings.labels_added == 1
    with ctx.engine.connect() as conn:
        votes = current_votes(conn, [first.pair_id])[first.pair_id]
        history = conn.execute(select(func.count()).select_from(Label)
                               .where(Label.pair_id == first.pair_id)).scalar_one()
    label = decide(first.pair_id, votes, ctx.settings.majority_rule, ctx.settings.min_agreeing)
    assert (label.relation.value, label.basis) == (truth, "adjudication")
    assert history == 3  # both annotators' labels are kept beside the ruling
    assert round_status(ctx, round_id).flagged_in_adjudication == len(flagged) - 1


def test_round_status_and_labels_suspects_on_the_command_line(sqlite_cli, sqlite_url, tmp_path):
    ctx = Context(service_settings(sqlite_url, tmp_path / "data"), engine_given=make_engine(sqlite_url))
    sample = write_sample(tmp_path / "sample")
    sqlite_cli("import", "items", sample.catalogue)
    sqlite_cli("import", "labels", sample.seed_labels)
    sqlite_cli("import", "pairs", sample.pool)
    round_id = steps.select_pairs(ctx, "random", 3, seed=1)
    table = " ".join(sqlite_cli("round", "status", str(round_id)).stdout.split())
    assert "labels flagged as likely wrong" in table and "not enough verified labels: 30" in table
    assert "LLM pre-annotation" not in table  # not pushed yet: no policy
    shown = json.loads(sqlite_cli("round", "status", "--json").stdout)
    assert shown["label_flags"]["computed"] is False and shown["preannotation"] is None
    assert json.loads(sqlite_cli("round", "status", "--no-flags", "--json").stdout)["label_flags"] is None
    refused = sqlite_cli("labels", "suspects", "--round", str(round_id), expect=2).stderr
    assert "give --send too" in " ".join(refused.split())
    refused = sqlite_cli("labels", "suspects", "--send", expect=2).stderr
    assert "nothing to send: not enough verified labels" in " ".join(refused.split())
