"""LLM label extension for stored pairs: ask (cached), gate, and append the answers as labels.

Shared by rounds (the pairs a strategy selected) and the knowledge graph (entity pairs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from annotator.llm import Labeller, Proposal, propose_cached
from annotator.llm.prompts import TEMPLATES
from annotator.trust_gate import TrustGate
from pairloop.usecases.context import Context
from store.errors import BadInput
from store.repository import insert_labels, label_key
from store.taxonomy import LabelSource, Verdict


class ProposalReport(BaseModel):
    """What the LLM said about a batch of pairs, and what the trust gate let through."""

    pairs: int = Field(0, description="Pairs asked about (cached answers included).")
    by_status: dict[str, int] = Field(default_factory=dict, description="agreed / disputed / unlabelled.")
    auto_accepted: int = Field(0, description="Proposals the trust gate accepted: verified without a human.")
    gate: dict[str, Any] | None = Field(None, description="The trust gate used (threshold null: closed).")


@dataclass(frozen=True)
class Proposed:
    proposals: dict[int, Proposal]
    accepted: set[int]
    report: ProposalReport


def llm_key(scope: str, pair_id: int, model: str, prompt_version: str) -> str:
    """An LLM label's idempotency key, collision-free whatever the model name holds (``qwen2.5:3b``).
    Migration 0005 recomputes it for labels stored under the earlier ``llm:scope:pair:model:prompt``."""
    return label_key("llm", scope, pair_id, model, prompt_version)


def propose_labels(ctx: Context, labeller: Labeller, pair_ids: Sequence[int], gate: TrustGate | None,
                   *, scope: str, round_id: int | None = None) -> Proposed:
    """Ask ``labeller`` about ``pair_ids`` (answers are cached per pair, model and prompt
    version, so a retry pays nothing twice) and append every readable answer to the label
    history as an LLM label; those ``gate`` accepts are flagged ``auto_accepted`` and count as
    verified. ``scope`` (the round id, or ``kg``) keeps each caller's labels apart.
    Idempotent: a second call adds nothing."""
    template = TEMPLATES.get(labeller.prompt_version)  # other labellers (the truth oracle) have their own
    if template is not None and template.shots:
        raise BadInput(f"prompt version {labeller.prompt_version} shows retrieved demonstrations, which only "
                       "`pairloop llm label` and `llm agreement` fetch: set PAIRLOOP_LLM_PROMPT_VERSION to one "
                       "without them (fbl9-v2) and run the command again (the round resumes)")
    with ctx.progress.task(f"LLM proposals ({labeller.model_name})", len(pair_ids)) as advance:
        proposals = propose_cached(ctx.engine, labeller, pair_ids, advance)
    accepted = {pid for pid, p in proposals.items() if gate is not None and gate.accepts(p)}
    labels = [{
        "pair_id": pid, "verdict": Verdict.LABEL.value, "relation": p.relation.value,
        "fine_code": p.fine_code, "source": LabelSource.LLM.value, "actor": p.model,
        "prompt_version": p.prompt_version, "confidence": p.confidence, "rationale": p.rationale,
        "auto_accepted": pid in accepted, "round_id": round_id,
        "external_key": llm_key(scope, pid, p.model, p.prompt_version),
    } for pid, p in proposals.items() if p.relation is not None]
    with ctx.engine.begin() as conn:
        insert_labels(conn, labels)
    report = ProposalReport(pairs=len(proposals),
                            by_status=dict(Counter(p.status.value for p in proposals.values())),
                            auto_accepted=len(accepted), gate=gate.as_json() if gate else None)
    return Proposed(proposals, accepted, report)
