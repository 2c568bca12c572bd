"""Acquisition rounds end to end: select → propose → gate → push → verify → close.

Every step records what it did before the next starts, so a round that failed half-way
(Label Studio or the LLM unreachable, the process killed) is resumed by running the same
step again: proposals are cached per (pair, model, prompt version), LLM labels carry an
idempotency key, and pairs that already have a Label Studio task are never pushed twice.

States: ``selecting`` → ``labelling`` (selected; proposals and push under way) →
``verifying`` (every pair auto-accepted or in Label Studio) → ``closed``.

A pushed pair whose annotators all answered without reaching a verified label is *disputed*;
``adjudicate`` (run by ``sync``) sends it to the round's adjudication project (its pair status
becomes ``adjudicating``) and reads the adjudicators' rulings back (see
:mod:`annotator.adjudication`). The round's ``params`` record the overlap it was pushed with
and its adjudication project.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.orm import Session

from annotator.adjudication import read_rulings, route
from annotator.agreement import accuracy_and_kappa, confusion
from annotator.inter_annotator import human_agreement
from annotator.label_studio import LabelStudio
from annotator.llm import Labeller, propose_cached
from annotator.llm.cache import cached
from annotator.push import model_version, push_round_pairs, stored_proposals
from annotator.reconcile import reconcile
from annotator.trust_gate import TrustGate, fit_gate, samples_of
from store.models import Label, LlmProposal, Round, RoundPair
from store.repository import insert_labels
from store.taxonomy import LabelSource, Verdict
from store.verified import MajorityRule, current_votes, decide, disputed_pairs

Progress = Callable[[int], None]
OPEN_STATES = ("selecting", "labelling", "verifying")
PUSHED, ADJUDICATING = "pushed", "adjudicating"  # round_pairs.status of pairs in Label Studio


class RoundError(Exception):
    """A round that does not exist, or is not in the state a step needs."""


def get_round(conn: Connection, round_id: int | None = None) -> Round:
    """A round by id; without an id, the newest round."""
    stmt = select(Round).order_by(Round.id.desc()).limit(1) if round_id is None else \
        select(Round).where(Round.id == round_id)
    row = Session(bind=conn).scalars(stmt).first()
    if row is None:
        raise RoundError("no rounds yet: start one with `pairloop round start`" if round_id is None
                         else f"no round {round_id}")
    return row


def unfinished_round(conn: Connection) -> int | None:
    """The newest round whose selection, proposals or push did not finish."""
    return conn.execute(select(Round.id).where(Round.state.in_(("selecting", "labelling")))
                        .order_by(Round.id.desc()).limit(1)).scalar_one_or_none()


def set_state(engine: Engine, round_id: int, state: str, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(Round).where(Round.id == round_id)
                     .values(state=state, updated_at=datetime.now(UTC), **values))


def remember(engine: Engine, round_id: int, **values: Any) -> None:
    """Add to the round's ``params`` (its overlap, its adjudication project)."""
    with engine.begin() as conn:
        params = conn.execute(select(Round.params).where(Round.id == round_id)).scalar_one()
        conn.execute(update(Round).where(Round.id == round_id).values(params={**(params or {}), **values}))


def overlap_of(round_: Round, default: int) -> int:
    """Answers each pair of the round was sent out for (``default`` for a round pushed by hand)."""
    return int((round_.params or {}).get("overlap", default))


def round_pair_ids(conn: Connection, round_id: int, statuses: Sequence[str] | None = None) -> list[int]:
    stmt = select(RoundPair.pair_id).where(RoundPair.round_id == round_id).order_by(RoundPair.rank)
    if statuses is not None:
        stmt = stmt.where(RoundPair.status.in_(list(statuses)))
    return list(conn.execute(stmt).scalars())


# --- the trust gate, calibrated on what humans verified ---------------------------------------

def calibrate_gate(engine: Engine, model: str, prompt_version: str, target: float,
                   rule: MajorityRule, min_agreeing: int) -> TrustGate:
    """Fit the auto-accept threshold on pairs that have both this model's proposal and a
    human-verified label (auto-accepted LLM labels never calibrate the gate)."""
    with engine.connect() as conn:
        pair_ids = conn.execute(select(LlmProposal.pair_id).where(
            LlmProposal.model == model, LlmProposal.prompt_version == prompt_version)).scalars().all()
        proposals = cached(conn, model, prompt_version, pair_ids)
        votes = current_votes(conn, pair_ids) if pair_ids else {}
    judged = []
    for pair_id, pair_votes in votes.items():
        human = [v for v in pair_votes if v.source != LabelSource.LLM.value]
        label = decide(pair_id, human, rule, min_agreeing) if human else None
        if label is not None:
            judged.append((proposals[pair_id], label.relation.value))
    return fit_gate(model, prompt_version, samples_of(judged), target)


# --- proposals ---------------------------------------------------------------------------------

@dataclass
class ProposalReport:
    pairs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    auto_accepted: int = 0
    gate: dict[str, Any] | None = None


def propose(engine: Engine, round_id: int, labeller: Labeller, gate: TrustGate,
            progress: Progress | None = None) -> ProposalReport:
    """Ask the LLM about the round's pairs (cached), and auto-accept what the gate trusts.

    Every readable proposal is appended to the label history as an LLM label; those the gate
    accepts are flagged ``auto_accepted`` and count as verified. Idempotent.
    """
    with engine.connect() as conn:
        pair_ids = round_pair_ids(conn, round_id, ("selected",))
    proposals = propose_cached(engine, labeller, pair_ids, progress)
    accepted = {pid for pid, p in proposals.items() if gate.accepts(p)}
    labels = [{
        "pair_id": pid, "verdict": Verdict.LABEL.value, "relation": p.relation.value,
        "fine_code": p.fine_code, "source": LabelSource.LLM.value, "actor": p.model,
        "prompt_version": p.prompt_version, "confidence": p.confidence, "rationale": p.rationale,
        "auto_accepted": pid in accepted, "round_id": round_id,
        "external_key": f"llm:{round_id}:{pid}:{p.model}:{p.prompt_version}",
    } for pid, p in proposals.items() if p.relation is not None]
    with engine.begin() as conn:
        insert_labels(conn, labels)
        _set_pair_status(conn, round_id, {pid: "auto_accepted" if pid in accepted else "proposed"
                                          for pid in proposals})
    return ProposalReport(
        pairs=len(proposals),
        by_status=dict(Counter(p.status.value for p in proposals.values())),
        auto_accepted=len(accepted),
        gate=gate.as_json(),
    )


def _set_pair_status(conn: Connection, round_id: int, statuses: dict[int, str]) -> None:
    if not statuses:
        return
    table = RoundPair.__table__
    conn.execute(update(table).where(table.c.round_id == round_id, table.c.pair_id == bindparam("p"))
                 .values(status=bindparam("s")), [{"p": p, "s": s} for p, s in statuses.items()])


# --- push to Label Studio ------------------------------------------------------------------------

def push(engine: Engine, round_id: int, studio: LabelStudio, labeller_id: tuple[str, str] | None,
         overlap: int, register_webhook: Callable[[LabelStudio, int], Any],
         progress: Progress | None = None) -> int:
    """Create the round's project once, then push every pair the gate did not accept.

    ``labeller_id`` is (model, prompt version) of the proposals to show as pre-annotations.
    Returns the project id; the round is then ``verifying``.
    """
    with engine.connect() as conn:
        round_ = get_round(conn, round_id)
        pair_ids = round_pair_ids(conn, round_id, ("selected", "proposed", PUSHED))
        shown = stored_proposals(conn, pair_ids, *labeller_id) if labeller_id else {}
    version = model_version(*labeller_id) if labeller_id else "no-llm"
    project_id = round_.ls_project_id
    if project_id is None:
        project_id = studio.create_project(f"pairloop round {round_id}", version, overlap,
                                           description=f"strategy {round_.strategy}, seed {round_.seed}")
        with engine.begin() as conn:
            conn.execute(update(Round).where(Round.id == round_id).values(ls_project_id=project_id))
        remember(engine, round_id, overlap=overlap)
        register_webhook(studio, project_id)
    report = push_round_pairs(engine, studio, round_id, project_id, pair_ids, version, shown,
                              advance=progress or (lambda _n: None))
    with engine.begin() as conn:
        _set_pair_status(conn, round_id, {pid: PUSHED for pid in report.task_ids})
    set_state(engine, round_id, "verifying")
    return project_id


# --- status, sync, close -----------------------------------------------------------------------

def status(engine: Engine, round_id: int | None, rule: MajorityRule, min_agreeing: int,
           overlap: int, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Where a round stands: verified / pending / unsure / disputed / in adjudication /
    adjudicated, annotators (shown by ``names`` where given), agreement.

    ``overlap`` is used for a round that does not record the overlap it was pushed with."""
    with engine.connect() as conn:
        round_ = get_round(conn, round_id)
        pairs = dict(conn.execute(select(RoundPair.pair_id, RoundPair.status)
                                  .where(RoundPair.round_id == round_.id)).tuples().all())
        votes = current_votes(conn, list(pairs)) if pairs else {}
        unsure = _unsure_pairs(conn, list(pairs))
        proposals = _latest_proposals(conn, list(pairs))
        humans = human_agreement(conn, list(pairs), rule, min_agreeing) if pairs else None
        pushed = [p for p, s in pairs.items() if s == PUSHED]
        disputed = set(disputed_pairs(conn, pushed, overlap_of(round_, overlap), rule, min_agreeing))
    verified = {p: decide(p, v, rule, min_agreeing) for p, v in votes.items()}
    verified = {p: v for p, v in verified.items() if v is not None}
    answered = {p for p, v in votes.items() if any(x.source == LabelSource.HUMAN.value for x in v)}
    names = names or {}
    return {
        "round": round_.id,
        "state": round_.state,
        "strategy": round_.strategy,
        "seed": round_.seed,
        "classifier_version": round_.classifier_version,
        "label_studio_project": round_.ls_project_id,
        "adjudication_project": (round_.params or {}).get("adjudication_project"),
        "pairs": len(pairs),
        "verified": len(verified),
        "auto_accepted": sum(1 for s in pairs.values() if s == "auto_accepted"),
        "pending": sum(1 for p in pushed if p not in verified and p not in disputed),
        "unsure": len(unsure - answered),
        "disputed_by_llm": sum(1 for p in pairs if p in proposals and proposals[p][0] == "disputed"),
        "without_majority": len(humans.disagreements) if humans else 0,
        "disputed": len(disputed),
        "in_adjudication": sum(1 for p, s in pairs.items() if s == ADJUDICATING and p not in verified),
        "adjudicated": sum(1 for v in verified.values() if v.basis == "adjudication"),
        "annotators": [{**asdict(a), "name": names.get(a.actor, a.actor)}
                       for a in humans.annotators] if humans else [],
        "inter_annotator_alpha": humans.alpha if humans else None,
        "llm_vs_human": _llm_vs_human(votes, proposals, rule, min_agreeing),
        "metrics": round_.metrics,
    }


def _unsure_pairs(conn: Connection, pair_ids: list[int]) -> set[int]:
    """Pairs where some annotator's latest answer is "unsure"."""
    if not pair_ids:
        return set()
    rows = conn.execute(select(Label.pair_id, Label.actor, Label.verdict)
                        .where(Label.pair_id.in_(pair_ids), Label.source == LabelSource.HUMAN.value)
                        .order_by(Label.id))
    latest = {(pair, actor): verdict for pair, actor, verdict in rows}
    return {pair for (pair, _actor), verdict in latest.items() if verdict == Verdict.UNSURE.value}


def _latest_proposals(conn: Connection, pair_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """Each pair's newest LLM proposal: (status, relation)."""
    if not pair_ids:
        return {}
    rows = conn.execute(select(LlmProposal.pair_id, LlmProposal.status, LlmProposal.relation)
                        .where(LlmProposal.pair_id.in_(pair_ids)).order_by(LlmProposal.id))
    return {pair_id: (status_, relation) for pair_id, status_, relation in rows}


def _llm_vs_human(votes, proposals: dict[int, tuple[str, str | None]], rule: MajorityRule,
                  min_agreeing: int) -> dict[str, Any]:
    """Accuracy and Cohen's kappa of the LLM's proposed relations against the humans' verified
    labels, on pairs that have both (an unreadable proposal counts as no answer)."""
    truth, predicted = [], []
    for pair_id, pair_votes in votes.items():
        human = [v for v in pair_votes if v.source == LabelSource.HUMAN.value]
        label = decide(pair_id, human, rule, min_agreeing) if human else None
        proposed = proposals.get(pair_id, (None, None))[1]
        if proposed is not None and label is not None:
            truth.append(label.relation.value)
            predicted.append(proposed)
    if not truth:
        return {"pairs": 0, "accuracy": None, "kappa": None}
    accuracy, kappa = accuracy_and_kappa(confusion(truth, predicted))
    return {"pairs": len(truth), "accuracy": accuracy, "kappa": kappa}


def in_label_studio(engine: Engine, round_id: int) -> Round:
    """The round, checked to have a Label Studio project."""
    with engine.connect() as conn:
        round_ = get_round(conn, round_id)
    if round_.ls_project_id is None:
        raise RoundError(f"round {round_id} has nothing in Label Studio yet (state {round_.state})")
    return round_


def sync(engine: Engine, round_id: int, connect: Callable[[], LabelStudio], rule: MajorityRule,
         min_agreeing: int, overlap: int, names: Callable[[LabelStudio], Mapping[str, str]] | None = None,
         progress: Progress | None = None,
         register_webhook: Callable[[LabelStudio, int], Any] | None = None) -> dict[str, Any]:
    """Reconcile with Label Studio: annotations changed since the last sync (all the first time);
    then read the adjudicators' rulings and route newly disputed pairs (:func:`adjudicate`).

    ``connect`` gives the Label Studio client; it is called only once the round is known to
    have a project there."""
    round_ = in_label_studio(engine, round_id)
    studio = connect()
    report = reconcile(engine, studio, round_.id, round_.ls_project_id, since=round_.last_synced_at,
                       advance=progress or (lambda _n: None))
    with engine.begin() as conn:
        conn.execute(update(Round).where(Round.id == round_.id).values(last_synced_at=report.synced_at))
    return {**asdict(report),
            "adjudication": adjudicate(engine, round_.id, studio, rule, min_agreeing, overlap, names,
                                       register_webhook)}


def adjudicate(engine: Engine, round_id: int, studio: LabelStudio, rule: MajorityRule, min_agreeing: int,
               overlap: int, names: Callable[[LabelStudio], Mapping[str, str]] | None = None,
               register_webhook: Callable[[LabelStudio, int], Any] | None = None) -> dict[str, Any]:
    """Read the adjudicators' rulings, then send the round's newly disputed pairs to its
    adjudication project (created on first need). Idempotent: a pair is routed once.

    ``names`` gives display names of actors (shown to the adjudicator with each answer); it is
    called only when there is something to route. ``register_webhook(studio, project)`` points
    a new adjudication project's events at the service, so rulings arrive as they are made."""
    round_ = in_label_studio(engine, round_id)
    project_id = (round_.params or {}).get("adjudication_project")
    rulings = read_rulings(engine, studio, round_id, project_id) if project_id is not None else None
    with engine.connect() as conn:
        pushed = round_pair_ids(conn, round_id, (PUSHED,))
        disputed = disputed_pairs(conn, pushed, overlap_of(round_, overlap), rule, min_agreeing)
    routed = None
    if disputed:
        if project_id is None:
            project_id = studio.create_project(
                f"pairloop round {round_id} · adjudication", None, overlap=1,
                description=f"Pairs the annotators of round {round_id} did not agree on: your answer "
                            "decides each pair.", adjudication=True)
            remember(engine, round_id, adjudication_project=project_id)
            if register_webhook is not None:
                register_webhook(studio, project_id)
        routed = route(engine, studio, round_id, project_id, disputed, names(studio) if names else None)
        with engine.begin() as conn:
            _set_pair_status(conn, round_id, dict.fromkeys(disputed, ADJUDICATING))
    return {"adjudication_project": project_id,
            "rulings": asdict(rulings) if rulings else None,
            "routed": len(routed.routed) if routed else 0,
            "already_routed": len(routed.already) if routed else 0}


def close(engine: Engine, round_id: int, retrain: Callable[[], dict[str, Any]],
          rule: MajorityRule, min_agreeing: int, overlap: int,
          names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Derive the round's verified labels (majority, adjudication), retrain the classifier,
    record metrics; close. Rulings are read by ``sync``: run it first.

    ``retrain`` trains on every verified label in the store and returns its metrics
    (version, held-out macro-F1 when a test set is configured).
    """
    summary = status(engine, round_id, rule, min_agreeing, overlap, names)
    if summary["state"] == "closed":
        raise RoundError(f"round {round_id} is already closed")
    if summary["state"] != "verifying":
        raise RoundError(f"round {round_id} is {summary['state']}: finish it with `pairloop round start` first")
    trained = retrain()
    metrics = {
        "pairs": summary["pairs"],
        "verified": summary["verified"],
        "auto_accepted": summary["auto_accepted"],
        "without_majority": summary["without_majority"],
        "disputed": summary["disputed"],
        "in_adjudication": summary["in_adjudication"],
        "adjudicated": summary["adjudicated"],
        "unsure": summary["unsure"],
        "inter_annotator_alpha": summary["inter_annotator_alpha"],
        "llm_vs_human": summary["llm_vs_human"],
        "annotators": summary["annotators"],
        "classifier": trained,
    }
    set_state(engine, round_id, "closed", metrics=metrics, closed_at=datetime.now(UTC))
    return metrics
