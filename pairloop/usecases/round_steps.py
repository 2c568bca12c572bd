"""The steps of an acquisition round: select → propose → gate → push → verify → close.

Every step records what it did before the next starts, so a round that failed half-way
(Label Studio or the LLM unreachable, the process killed) is resumed by running the same
step again: proposals are cached per (pair, model, prompt version), LLM labels carry an
idempotency key, and pairs that already have a Label Studio task are never pushed twice.

States (:class:`~store.states.RoundState`): ``selecting`` → ``labelling`` (selected; proposals
and push under way) → ``verifying`` (every pair auto-accepted or in Label Studio) → ``closed``.

A pushed pair whose annotators all answered without reaching a verified label is *disputed*;
:func:`adjudicate` sends it to the round's adjudication project (its pair status becomes
``adjudicating``) and reads the adjudicators' rulings back (see :mod:`annotator.adjudication`).
The round's ``params`` record the overlap it was pushed with and its adjudication project.

The use cases over these steps are in :mod:`pairloop.usecases.rounds`; the reports of the
steps are defined here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.orm import Session

from annotator.adjudication import RouteReport, RulingReport, read_rulings, route
from annotator.agreement import accuracy_and_kappa
from annotator.inter_annotator import AnnotatorScore, human_agreement
from annotator.label_studio import LabelStudio
from annotator.llm import Labeller
from annotator.llm import Proposal as LlmAnswer
from annotator.llm.cache import cached
from annotator.push import (
    Measured,
    PreannotationPolicy,
    model_version,
    preannotation_policy,
    push_round_pairs,
    reported_agreement,
    stored_proposals,
)
from annotator.reconcile import SyncReport, reconcile
from annotator.trust_gate import TrustGate, fit_gate, samples_of
from annotator.webhooks import actor_of
from pairloop import service
from pairloop.settings import Settings
from pairloop.usecases.context import Context
from pairloop.usecases.label_errors import LabelFlags
from pairloop.usecases.proposals import ProposalReport, propose_labels
from pairloop.usecases.training import Retrained, load_or_train
from store import repository
from store.errors import BadInput, Conflict, NotFound
from store.models import MAX_ID, Label, LlmProposal, Round, RoundPair
from store.repository import cached_names, remember_names
from store.states import UNFINISHED_ROUND_STATES, RoundPairStatus, RoundState
from store.taxonomy import LabelSource, Verdict
from store.verified import HumanAnswer, VerifiedLabel, Vote, current_votes, decide, disputed_among, human_answers

if TYPE_CHECKING:
    from active_learning.distributed import Shortlister

# --- the round's row ------------------------------------------------------------------------------


def get_round(conn: Connection, round_id: int | None = None) -> Round:
    """A round by id; without an id, the newest round."""
    if round_id is not None and not 1 <= round_id <= MAX_ID:  # beyond the column: no such round either
        raise NotFound(f"no round {round_id}")
    stmt = select(Round).order_by(Round.id.desc()).limit(1) if round_id is None else \
        select(Round).where(Round.id == round_id)
    row = Session(bind=conn).scalars(stmt).first()
    if row is None:
        raise NotFound("no rounds yet: start one with `pairloop round start`" if round_id is None
                       else f"no round {round_id}")
    return row


def unfinished_round(conn: Connection) -> int | None:
    """The newest round whose selection, proposals or push did not finish."""
    return conn.execute(select(Round.id).where(Round.state.in_(UNFINISHED_ROUND_STATES))
                        .order_by(Round.id.desc()).limit(1)).scalar_one_or_none()


def set_state(engine: Engine, round_id: int, state: RoundState, **values: Any) -> None:
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


def round_pair_ids(conn: Connection, round_id: int,
                   statuses: Sequence[RoundPairStatus] | None = None) -> list[int]:
    stmt = select(RoundPair.pair_id).where(RoundPair.round_id == round_id).order_by(RoundPair.rank)
    if statuses is not None:
        stmt = stmt.where(RoundPair.status.in_(statuses))
    return list(conn.execute(stmt).scalars())


def set_pair_status(conn: Connection, round_id: int, statuses: Mapping[int, RoundPairStatus]) -> None:
    if not statuses:
        return
    table = RoundPair.__table__
    conn.execute(update(table).where(table.c.round_id == round_id, table.c.pair_id == bindparam("p"))
                 .values(status=bindparam("s")), [{"p": p, "s": s} for p, s in statuses.items()])


def in_label_studio(conn: Connection, round_id: int | None) -> Round:
    """The round (default: the newest), checked to have a Label Studio project."""
    round_ = get_round(conn, round_id)
    if round_.ls_project_id is None:
        raise Conflict(f"round {round_.id} has nothing in Label Studio yet (state {round_.state})")
    return round_


def annotator_names(engine: Engine, studio: LabelStudio) -> dict[str, str]:
    """Label Studio's users as actor → e-mail, cached in the store (``annotator_names``) so that
    reports show people by e-mail without asking Label Studio; the labels keep the actor ids."""
    names = {actor_of(user_id): email for user_id, email in studio.user_emails().items()}
    with engine.begin() as conn:
        remember_names(conn, names)
    return names


# --- select ---------------------------------------------------------------------------------------


def select_pairs(ctx: Context, strategy: str, size: int, seed: int | None = None) -> int:
    """Pick ``size`` pairs with ``strategy`` (the newest classifier, trained first when there is
    none) and record them as a new round, ``labelling``; its id. The seed defaults to the
    round's number."""
    from active_learning.rounds import select_round
    from active_learning.strategies import get_strategy

    get_strategy(strategy)  # an unknown name is refused before a classifier is trained for it
    if seed is not None and not 0 <= seed <= MAX_ID:
        raise BadInput(f"the seed must be a whole number from 0 to {MAX_ID}, not {seed}")
    shortlister = pool_shortlister(ctx)  # a cluster that is refused or unreachable fails before any work
    model, version = load_or_train(ctx)
    with ctx.engine.connect() as conn:
        last = conn.execute(select(Round.id).order_by(Round.id.desc()).limit(1)).scalar_one_or_none()
    settings = ctx.settings
    with ctx.progress.task("selecting pairs") as advance:
        return select_round(ctx.engine, model, strategy, size, seed if seed is not None else (last or 0) + 1,
                            classifier_version=version, rule=settings.majority_rule,
                            min_agreeing=settings.min_agreeing, progress=advance, shortlister=shortlister)


def pool_shortlister(ctx: Context) -> Shortlister:
    """Where a large pool is scored: on the Ray cluster of ``PAIRLOOP_RAY_ADDRESS`` (joined now),
    else in this process."""
    from active_learning.distributed import Shortlister

    cluster = ctx.cluster()
    if cluster is None:
        return Shortlister()
    return Shortlister(cluster.address, ctx.settings.ray_block_pairs)


# --- propose, with the trust gate calibrated on what humans verified --------------------------------


def trained_pairs(ctx: Context, model: str) -> set[int]:
    """The store pairs an adapted proposer (`pairloop llm adapt`) was trained on; empty for any
    other model. A proposer's own training pairs are no evidence of what it has earned."""
    from annotator.llm.probe import find_adapter, is_adapter_version

    if not is_adapter_version(model):
        return set()
    _folder, record = find_adapter(ctx.settings.data_path, model)
    keys = record["trained_on"]["pairs"]  # store pair ids, or a file's pairs of (source, external id) items
    ids = {key for key in keys if isinstance(key, int)}
    named = [((a[0], a[1]), (b[0], b[1])) for a, b in (key for key in keys if isinstance(key, list) and len(key) == 2)]
    if named:
        with ctx.engine.connect() as conn:
            items: dict[tuple[str, str], int] = {}
            for source in {item[0] for pair in named for item in pair}:
                externals = {item[1] for pair in named for item in pair if item[0] == source}
                items.update(((source, ext), iid) for ext, iid in repository.item_ids(conn, source, externals).items())
            known = [repository.canonical(items[a], items[b])[:2] for a, b in named if a in items and b in items]
            ids |= set(repository.pair_ids(conn, known).values())
    return ids


def human_judged(ctx: Context, model: str, prompt_version: str) -> list[tuple[LlmAnswer, str]]:
    """(this model's proposal, the human-verified relation) for every pair that has both
    (auto-accepted LLM labels are not human evidence; an adapted proposer's training pairs are
    left out)."""
    rule, min_agreeing = ctx.settings.majority_rule, ctx.settings.min_agreeing
    trained = trained_pairs(ctx, model)
    with ctx.engine.connect() as conn:
        pair_ids = [pid for pid in conn.execute(select(LlmProposal.pair_id).where(
            LlmProposal.model == model, LlmProposal.prompt_version == prompt_version)).scalars() if pid not in trained]
        proposals = cached(conn, model, prompt_version, pair_ids)
        votes = current_votes(conn, pair_ids) if pair_ids else {}
    judged = []
    for pair_id, pair_votes in votes.items():
        human = [v for v in pair_votes if v.source != LabelSource.LLM.value]
        label = decide(pair_id, human, rule, min_agreeing) if human else None
        if label is not None:
            judged.append((proposals[pair_id], label.relation.value))
    return judged


def calibrate_gate(ctx: Context, model: str, prompt_version: str) -> TrustGate:
    """Fit the auto-accept threshold (for ``PAIRLOOP_LLM_TARGET_PRECISION``) on pairs that have
    both this model's proposal and a human-verified label."""
    judged = human_judged(ctx, model, prompt_version)
    return fit_gate(model, prompt_version, samples_of(judged), ctx.settings.llm_target_precision)


def preannotation(ctx: Context, model: str | None, prompt_version: str | None) -> PreannotationPolicy:
    """Whether this proposer's answers would be pre-selected now (``PAIRLOOP_LLM_PRESELECT_*``),
    judged on the larger of two measurements: its newest agreement report, and its proposals
    against the store's human-verified labels."""
    settings = ctx.settings
    measured = []
    if model is not None and prompt_version is not None:
        with ctx.engine.connect() as conn:
            report = reported_agreement(conn, model, prompt_version)
        answered = [(p.relation.value, truth) for p, truth in human_judged(ctx, model, prompt_version)
                    if p.relation is not None]
        if answered:
            accuracy, kappa = accuracy_and_kappa([t for _, t in answered], [p for p, _ in answered])
            majority = Counter(t for _, t in answered).most_common(1)[0][1] / len(answered)
            measured.append(Measured("the store's verified labels", len(answered), accuracy, kappa, majority))
        if report is not None:
            measured.append(report)
    return preannotation_policy(model, prompt_version, measured, settings.llm_preselect_min_kappa,
                                settings.llm_preselect_min_pairs)


def propose(ctx: Context, round_id: int, labeller: Labeller) -> ProposalReport:
    """Ask the LLM about the round's pairs not asked yet (cached) and auto-accept what the
    calibrated gate trusts; those pairs become ``auto_accepted``, the others ``proposed``."""
    gate = calibrate_gate(ctx, labeller.model_name, labeller.prompt_version)
    with ctx.engine.connect() as conn:
        pair_ids = round_pair_ids(conn, round_id, (RoundPairStatus.SELECTED,))
    proposed = propose_labels(ctx, labeller, pair_ids, gate, scope=str(round_id), round_id=round_id)
    with ctx.engine.begin() as conn:
        set_pair_status(conn, round_id, {
            pid: RoundPairStatus.AUTO_ACCEPTED if pid in proposed.accepted else RoundPairStatus.PROPOSED
            for pid in proposed.proposals})
    return proposed.report


# --- push to Label Studio ---------------------------------------------------------------------------


def round_preannotation(round_: Round) -> PreannotationPolicy | None:
    """The pre-annotation policy a round was pushed with (null: not pushed yet, or pushed before
    rounds recorded one)."""
    recorded = (round_.params or {}).get("preannotation")
    return PreannotationPolicy(**recorded) if recorded else None


def push(ctx: Context, round_id: int, studio: LabelStudio, labeller_id: tuple[str, str] | None) -> int:
    """Create the round's project once (``PAIRLOOP_ANNOTATORS_PER_PAIR`` answers per task, its
    webhook pointed at the service), then push every pair the gate did not accept.

    ``labeller_id`` is (model, prompt version) of the proposals to show. They are pre-selected
    only when the pre-annotation policy decided for the round (once, before its project is
    created, and recorded in its ``params``) is ``preselect``; otherwise they are shown as text.
    Returns the project id; the round is then ``verifying``.
    """
    engine, overlap = ctx.engine, ctx.settings.annotators_per_pair
    with engine.connect() as conn:
        round_ = get_round(conn, round_id)
        pair_ids = round_pair_ids(conn, round_id, (RoundPairStatus.SELECTED, RoundPairStatus.PROPOSED,
                                                   RoundPairStatus.PUSHED))
        shown = stored_proposals(conn, pair_ids, *labeller_id) if labeller_id else {}
    model, prompt_version = labeller_id or (None, None)
    policy = round_preannotation(round_)
    if policy is None or (policy.model, policy.prompt_version) != (model, prompt_version):
        policy = preannotation(ctx, model, prompt_version)  # decided once: a resumed push keeps it
        remember(engine, round_id, preannotation=asdict(policy))
    version = model_version(*labeller_id) if policy.preselects and labeller_id else None
    project_id = round_.ls_project_id
    if project_id is None:
        project_id = studio.create_project(f"pairloop round {round_id}", version, overlap,
                                           description=f"strategy {round_.strategy}, seed {round_.seed}")
        with engine.begin() as conn:
            conn.execute(update(Round).where(Round.id == round_id).values(ls_project_id=project_id))
        remember(engine, round_id, overlap=overlap)
        service.register_webhook(ctx.settings, studio, project_id)
    annotator_names(engine, studio)
    with ctx.progress.task("pushing to Label Studio", len(pair_ids)) as advance:
        report = push_round_pairs(engine, studio, round_id, project_id, pair_ids, version, shown, advance=advance)
    with engine.begin() as conn:
        set_pair_status(conn, round_id, dict.fromkeys(report.task_ids, RoundPairStatus.PUSHED))
    set_state(engine, round_id, RoundState.VERIFYING)
    return project_id


# --- where a round stands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PairProgress:
    """Where each pair of a round stands: the one definition of the round's counts (its status,
    the API, the dashboard and its close read them from here). Lists are in rank order.

    A pushed pair without a verified label is *pending* while nobody has answered it, *partly
    answered* while some of the answers it was sent out for are in, and *disputed* once all are
    (then an adjudicator decides it: *in adjudication*). Answers are annotators' current
    answers, "unsure" included; late answers (after the round closed) are not answers.
    """

    statuses: dict[int, str]
    votes: dict[int, list[Vote]]
    answers: dict[int, list[HumanAnswer]]
    verified: dict[int, VerifiedLabel]
    pending: list[int]
    partly_answered: list[int]
    disputed: list[int]
    in_adjudication: list[int]
    flagged_in_adjudication: list[int]

    def undecided(self) -> dict[str, list[int]]:
        """The pairs a round may not close with (without ``force``), by reason; only non-empty reasons."""
        return {reason: pairs for reason, count in UNDECIDED.items() if (pairs := getattr(self, count))}


# Why a pair keeps a round from closing → the count (of PairProgress and RoundStatus) that holds it.
UNDECIDED = {"unanswered": "pending", "partly answered": "partly_answered", "disputed": "disputed",
             "in adjudication": "in_adjudication", "flagged, awaiting a ruling": "flagged_in_adjudication"}


def pair_progress(conn: Connection, round_: Round, settings: Settings) -> PairProgress:
    """Where the round's pairs stand (``PAIRLOOP_ANNOTATORS_PER_PAIR`` stands for the overlap of a
    round that does not record the one it was pushed with)."""
    statuses = dict(conn.execute(select(RoundPair.pair_id, RoundPair.status)
                                 .where(RoundPair.round_id == round_.id).order_by(RoundPair.rank)).all())
    ids = list(statuses)
    rule, min_agreeing = settings.majority_rule, settings.min_agreeing
    votes = current_votes(conn, ids) if ids else {}
    answers = human_answers(conn, ids) if ids else {}
    verified = {p: label for p, v in votes.items() if (label := decide(p, v, rule, min_agreeing)) is not None}
    waiting = [p for p, s in statuses.items() if s == RoundPairStatus.PUSHED and p not in verified]
    disputed = set(disputed_among({p: answers.get(p, []) for p in waiting}, votes,
                                  overlap_of(round_, settings.annotators_per_pair), rule, min_agreeing))
    return PairProgress(
        statuses=statuses, votes=votes, answers=answers, verified=verified,
        pending=[p for p in waiting if not answers.get(p)],
        partly_answered=[p for p in waiting if answers.get(p) and p not in disputed],
        disputed=[p for p in waiting if p in disputed],
        in_adjudication=[p for p, s in statuses.items() if s == RoundPairStatus.ADJUDICATING and p not in verified],
        flagged_in_adjudication=awaiting_ruling(conn, round_.id, flagged_of(round_)),
    )


def flagged_of(round_: Round) -> list[int]:
    """Pairs whose verified label was flagged as likely wrong and sent to this round's adjudication."""
    return list((round_.params or {}).get("flagged", []))


def awaiting_ruling(conn: Connection, round_id: int, pair_ids: Sequence[int]) -> list[int]:
    """The pairs without a standing ruling (an adjudicator's label, not withdrawn) in this round."""
    if not pair_ids:
        return []
    rows = conn.execute(select(Label.pair_id, Label.ls_annotation_id, Label.verdict)
                        .where(Label.round_id == round_id, Label.adjudication.is_(True),
                               Label.pair_id.in_(list(pair_ids)), Label.late.is_(False)).order_by(Label.id))
    latest = {annotation: (pair, verdict) for pair, annotation, verdict in rows}  # each ruling's newest state
    ruled = {pair for pair, verdict in latest.values() if verdict == Verdict.LABEL.value}
    return [p for p in pair_ids if p not in ruled]


EXAMPLES = 5  # pair ids named per reason when a close is refused


def undecided_message(round_id: int, undecided: Mapping[str, list[int]]) -> str:
    """Why a round cannot close yet: each reason with its count and first pair ids."""
    parts = [f"{len(pairs)} {reason} (pairs {', '.join(map(str, pairs[:EXAMPLES]))}"
             + (", …)" if len(pairs) > EXAMPLES else ")") for reason, pairs in undecided.items()]
    total = sum(len(pairs) for pairs in undecided.values())
    return (f"round {round_id} has {total} pair{'s' if total > 1 else ''} without a verified label: "
            f"{'; '.join(parts)}. Wait for the "
            "answers (`pairloop round sync` fetches them and routes disputed pairs to adjudication), or close "
            "it anyway with `pairloop round close --force`: its undecided pairs stay unlabelled and answers "
            "given after the close are stored as late, never counted")


class Annotator(AnnotatorScore):
    """An annotator of the round: answers, accuracy, and how it is shown."""

    name: str = Field(description="Its Label Studio e-mail (cached by push, sync, adjudication and close), "
                                  "else its actor id.")


class LlmVsHuman(BaseModel):
    """The LLM's proposed relations against the humans' verified labels, on pairs with both."""

    pairs: int = 0
    accuracy: float | None = None
    kappa: float | None = Field(None, description="Cohen's kappa; null where it is undefined.")


class RoundFigures(BaseModel):
    """What a round's pairs came to: the figures its status shows and its closing records (verified,
    pending, partly answered, disputed and in adjudication are :class:`PairProgress`'s)."""

    pairs: int = Field(description="Pairs the strategy selected.")
    verified: int = Field(description="Pairs with a verified label (majority, adjudication or the trust gate).")
    auto_accepted: int = Field(description="Pairs the trust gate verified without a human.")
    pending: int = Field(description="Pairs in Label Studio nobody has answered yet.")
    partly_answered: int = Field(description="Pairs in Label Studio with some, not all, of the answers they were "
                                             "sent out for, and no verified label yet.")
    without_majority: int = Field(description="Pairs with two or more human label answers and no verified "
                                              "label (pairs in adjudication included).")
    disputed: int = Field(description="Pairs whose answers are all in without a verified label, "
                                      "not sent to adjudication yet.")
    in_adjudication: int = Field(description="Pairs waiting for an adjudicator's ruling.")
    flagged_in_adjudication: int = Field(0, description="Pairs whose verified label was flagged as likely wrong, "
                                                        "sent to this round's adjudication, still without a ruling.")
    adjudicated: int = Field(description="Pairs an adjudicator decided.")
    unsure: int = Field(description="Pairs some annotator answered \"unsure\" and no human labelled yet.")
    inter_annotator_alpha: float | None = Field(description="Krippendorff's alpha of the human answers.")
    llm_vs_human: LlmVsHuman
    annotators: list[Annotator]


class RoundStatus(RoundFigures):
    """Where a round stands."""

    round: int
    state: RoundState
    strategy: str
    seed: int
    classifier_version: str | None = Field(description="The classifier that selected the pairs.")
    closed_classifier_version: str | None = Field(None, description="The classifier its close trained, or kept "
                                                                    "when no label had changed.")
    label_studio_project: int | None
    adjudication_project: int | None
    disputed_by_llm: int = Field(description="Pairs on which the LLM's own votes (PAIRLOOP_LLM_VOTES) split, so "
                                             "its proposal is marked disputed. Not a human dispute: see disputed.")
    late_answers: int = Field(0, description="Answers (and their changes and deletions) that arrived after the "
                                             "round closed: stored, flagged late, never counted.")
    preannotation: PreannotationPolicy | None = Field(
        None, description="How the round showed the LLM's proposals: `preselect` (pre-selected in Label Studio) "
                          "or `suggest` (as text, nothing pre-selected; `none`: no LLM), why, and the measured "
                          "agreement it was decided on. Null: not pushed yet, or pushed before rounds recorded it.")
    flagged_sent: list[int] = Field(default_factory=list, description="Pairs whose verified label was flagged as "
                                                                       "likely wrong and sent to this round's "
                                                                       "adjudication (`labels suspects --send`).")
    label_flags: LabelFlags | None = Field(None, description="Verified labels of the whole store flagged as likely "
                                                             "wrong (confident learning); null unless asked for.")
    metrics: dict[str, Any] | None = Field(description="The round's recorded metrics: the selection's "
                                                       "while it is open, the closing's once closed.")


class RoundMetrics(RoundFigures):
    """What a closed round records (``rounds.metrics``): its figures and the classifier it trained."""

    classifier: Retrained
    forced: bool = Field(False, description="Closed with pairs undecided (`--force`): pending, partly_answered, "
                                            "disputed and in_adjudication say how many.")

    @classmethod
    def of(cls, status: RoundStatus, classifier: Retrained, forced: bool) -> RoundMetrics:
        return cls(**{name: getattr(status, name) for name in RoundFigures.model_fields}, classifier=classifier,
                   forced=forced)


def status(ctx: Context, round_id: int | None = None) -> RoundStatus:
    """Where a round (default: the newest) stands: the counts of :class:`PairProgress`, the
    annotators (by their cached e-mail), agreement, late answers."""
    settings = ctx.settings
    with ctx.engine.connect() as conn:
        round_ = get_round(conn, round_id)
        progress = pair_progress(conn, round_, settings)
        ids, answers, votes = list(progress.statuses), progress.answers, progress.votes
        proposals = _latest_proposals(conn, ids)
        humans = human_agreement(conn, ids, settings.majority_rule, settings.min_agreeing, votes) if ids else None
        names = cached_names(conn, [a.actor for a in humans.annotators]) if humans else {}
        late = conn.execute(select(func.count()).select_from(Label)
                            .where(Label.round_id == round_.id, Label.late.is_(True))).scalar_one()
    labelled = {p for p, v in votes.items() if any(x.source == LabelSource.HUMAN.value for x in v)}
    unsure = {p for p, given in answers.items() if any(a.verdict is Verdict.UNSURE for a in given)}
    verified = progress.verified
    return RoundStatus(
        round=round_.id,
        state=round_.state,
        strategy=round_.strategy,
        seed=round_.seed,
        classifier_version=round_.classifier_version,
        closed_classifier_version=round_.closed_classifier_version,
        label_studio_project=round_.ls_project_id,
        adjudication_project=(round_.params or {}).get("adjudication_project"),
        pairs=len(ids),
        verified=len(verified),
        auto_accepted=sum(1 for s in progress.statuses.values() if s == RoundPairStatus.AUTO_ACCEPTED),
        pending=len(progress.pending),
        partly_answered=len(progress.partly_answered),
        unsure=len(unsure - labelled),
        disputed_by_llm=sum(1 for p in ids if p in proposals and proposals[p][0] == "disputed"),
        without_majority=len(humans.disagreements) if humans else 0,
        disputed=len(progress.disputed),
        in_adjudication=len(progress.in_adjudication),
        flagged_in_adjudication=len(progress.flagged_in_adjudication),
        adjudicated=sum(1 for v in verified.values() if v.basis == "adjudication"),
        annotators=[Annotator(**dict(a), name=names.get(a.actor, a.actor))
                    for a in humans.annotators] if humans else [],
        inter_annotator_alpha=humans.alpha if humans else None,
        llm_vs_human=_llm_vs_human(ctx, votes, proposals),
        late_answers=late,
        preannotation=round_preannotation(round_),
        flagged_sent=flagged_of(round_),
        metrics=round_.metrics,
    )


def _latest_proposals(conn: Connection, pair_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """Each pair's newest LLM proposal: (status, relation)."""
    if not pair_ids:
        return {}
    rows = conn.execute(select(LlmProposal.pair_id, LlmProposal.status, LlmProposal.relation)
                        .where(LlmProposal.pair_id.in_(pair_ids)).order_by(LlmProposal.id))
    return {pair_id: (status_, relation) for pair_id, status_, relation in rows}


def _llm_vs_human(ctx: Context, votes: Mapping[int, list[Vote]],
                  proposals: Mapping[int, tuple[str, str | None]]) -> LlmVsHuman:
    """Accuracy and Cohen's kappa of the LLM's proposed relations against the humans' verified
    labels, on pairs that have both (an unreadable proposal counts as no answer)."""
    truth, predicted = [], []
    for pair_id, pair_votes in votes.items():
        human = [v for v in pair_votes if v.source == LabelSource.HUMAN.value]
        label = decide(pair_id, human, ctx.settings.majority_rule, ctx.settings.min_agreeing) if human else None
        proposed = proposals.get(pair_id, (None, None))[1]
        if proposed is not None and label is not None:
            truth.append(label.relation.value)
            predicted.append(proposed)
    accuracy, kappa = accuracy_and_kappa(truth, predicted)
    return LlmVsHuman(pairs=len(truth), accuracy=accuracy, kappa=kappa)


# --- sync and adjudicate ----------------------------------------------------------------------------


def sync_annotations(ctx: Context, round_: Round, studio: LabelStudio) -> SyncReport:
    """Reconcile with the round's Label Studio project: annotations changed since the last sync
    (all the first time), through the webhook inbox; record the time of this sync."""
    with ctx.progress.task(f"syncing round {round_.id}") as advance:
        report = reconcile(ctx.engine, studio, round_.id, round_.ls_project_id, since=round_.last_synced_at,
                           advance=advance)
    with ctx.engine.begin() as conn:
        conn.execute(update(Round).where(Round.id == round_.id).values(last_synced_at=report.synced_at))
    annotator_names(ctx.engine, studio)
    return report


class AdjudicationReport(BaseModel):
    """Rulings read from the round's adjudication project, and disputed pairs sent there."""

    round: int
    adjudication_project: int | None = Field(description="Created when the first pair is disputed.")
    rulings: RulingReport | None = Field(description="Null while the round has no adjudication project.")
    routed: int = Field(description="Disputed pairs sent to the adjudication project now.")
    already_routed: int = Field(description="Disputed pairs the project held already.")


def adjudicate(ctx: Context, round_: Round, studio: LabelStudio) -> AdjudicationReport:
    """Read the adjudicators' rulings, then send the round's newly disputed pairs to its
    adjudication project (created on first need, its webhook pointed at the service, so
    rulings arrive as they are made; none once the round is closed). Idempotent: a pair is
    routed once. The adjudicator sees each annotator's answer under the annotator's Label
    Studio e-mail."""
    engine, settings = ctx.engine, ctx.settings
    project_id = (round_.params or {}).get("adjudication_project")
    rulings = read_rulings(engine, studio, round_.id, project_id) if project_id is not None else None
    with engine.connect() as conn:  # a closed round's rulings would be late: nothing is routed any more
        disputed = pair_progress(conn, round_, settings).disputed if round_.state != RoundState.CLOSED else []
    routed, already = 0, 0
    if disputed:
        project_id = adjudication_project(ctx, round_, studio)
        report = route(engine, studio, round_.id, project_id, disputed, annotator_names(engine, studio))
        with engine.begin() as conn:
            set_pair_status(conn, round_.id, dict.fromkeys(disputed, RoundPairStatus.ADJUDICATING))
        routed, already = len(report.routed), len(report.already)
    return AdjudicationReport(round=round_.id, adjudication_project=project_id, rulings=rulings,
                              routed=routed, already_routed=already)


def adjudication_project(ctx: Context, round_: Round, studio: LabelStudio) -> int:
    """The round's adjudication project, created on first need (its webhook pointed at the service)."""
    with ctx.engine.connect() as conn:
        project_id = (get_round(conn, round_.id).params or {}).get("adjudication_project")
    if project_id is None:
        project_id = studio.create_project(
            f"pairloop round {round_.id} · adjudication", None, overlap=1,
            description=f"Pairs of round {round_.id} whose annotators did not agree, and verified labels flagged "
                        "as likely wrong: your answer decides each pair.", adjudication=True)
        remember(ctx.engine, round_.id, adjudication_project=project_id)
        service.register_webhook(ctx.settings, studio, project_id)
    return project_id


def send_flagged(ctx: Context, round_: Round, studio: LabelStudio, notes: Mapping[int, str]) -> RouteReport:
    """Send pairs whose verified label was flagged (``notes``: why, shown to the adjudicator) to
    the round's adjudication project, and record them in the round (``params["flagged"]``), so
    that the round waits for their rulings before it closes. Their labels stay as they are: the
    ruling, stored as an adjudication, decides. Idempotent: a pair is routed once."""
    if round_.state != RoundState.VERIFYING:
        raise Conflict(f"round {round_.id} is {round_.state}: flagged pairs go to the adjudication of a round "
                       "that is in Label Studio and open (start the next one with `pairloop round start`)")
    project_id = adjudication_project(ctx, round_, studio)
    with ctx.engine.connect() as conn:  # after the project is recorded: params re-read
        flagged = flagged_of(get_round(conn, round_.id))
    remember(ctx.engine, round_.id, flagged=sorted({*flagged, *notes}))
    return route(ctx.engine, studio, round_.id, project_id, list(notes), annotator_names(ctx.engine, studio), notes)
