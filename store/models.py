"""SQLAlchemy 2 models: the label store.

Labels are an append-only history. What a pair *is* (its verified label) is derived
from that history by :mod:`store.verified`, never written over it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from store.states import RoundPairStatus, RoundState, check_values

MAX_ID = 2**31 - 1  # ids and seeds are kept in Integer columns: 32 bits on PostgreSQL
ENTITY_SOURCE = "kg-entity"  # the item source of knowledge-graph entities (see ItemEntity)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """A time with its zone. SQLite keeps no zone and reads a stored UTC time back naive;
    PostgreSQL never does: both answer the same aware UTC time."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, datetime: UtcDateTime()}


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_items_source_external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(512))
    title: Mapped[str] = mapped_column(Text)
    category_path: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Pair(Base):
    """One row per unordered pair, stored with ``item_a_id < item_b_id``."""

    __tablename__ = "pairs"
    __table_args__ = (
        UniqueConstraint("item_a_id", "item_b_id", name="uq_pairs_items"),
        CheckConstraint("item_a_id < item_b_id", name="ck_pairs_canonical_order"),
        Index("ix_pairs_item_b", "item_b_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_a_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    item_b_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    item_a: Mapped[Item] = relationship(foreign_keys=[item_a_id])
    item_b: Mapped[Item] = relationship(foreign_keys=[item_b_id])


class Label(Base):
    """One label event. Never updated: a changed or deleted answer is a new row.

    ``fine_code`` is stored in the pair's canonical order (item a → item b);
    ``presented_reversed`` records that the labeller saw the items the other way round.
    ``late`` marks an answer (or its change or deletion) that reached the store after its round
    closed: kept in the history, never a vote (:mod:`store.verified`).
    """

    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint(
            "(verdict = 'label') = (relation IS NOT NULL)", name="ck_labels_relation_iff_label"
        ),
        CheckConstraint("fine_code IS NULL OR (fine_code BETWEEN 1 AND 9)", name="ck_labels_fine"),
        Index("ix_labels_pair_actor", "pair_id", "actor"),
        Index("ix_labels_round", "round_id"),
        Index("ix_labels_ls_annotation", "ls_annotation_id"),  # webhook processing looks labels up by it
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    verdict: Mapped[str] = mapped_column(String(16), default="label")
    relation: Mapped[str | None] = mapped_column(String(16))
    fine_code: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(255))
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    rationale: Mapped[str | None] = mapped_column(Text)
    auto_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    adjudication: Mapped[bool] = mapped_column(Boolean, default=False)
    presented_reversed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Server default only: inserts that do not set it leave the column out (older schemas lack it).
    late: Mapped[bool] = mapped_column(Boolean, server_default=false())
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"))
    ls_task_id: Mapped[int | None] = mapped_column(Integer)
    ls_annotation_id: Mapped[int | None] = mapped_column(Integer)
    # Makes imports and webhook deliveries idempotent: the same event twice is one row.
    external_key: Mapped[str | None] = mapped_column(String(512), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Behaviour(Base):
    """Behaviour evidence for a pair (co-session, co-basket): cheap, noisy, never a label."""

    __tablename__ = "behaviour"
    __table_args__ = (UniqueConstraint("pair_id", "kind", "dataset", name="uq_behaviour"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    dataset: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer)


class ClassifierVersion(Base):
    __tablename__ = "classifier_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    path: Mapped[str] = mapped_column(Text)
    featuriser: Mapped[dict[str, Any]]
    params: Mapped[dict[str, Any]]
    labels_hash: Mapped[str] = mapped_column(String(64))
    n_labels: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any] | None]


class Round(Base):
    __tablename__ = "rounds"
    __table_args__ = (CheckConstraint(check_values("state", RoundState), name="ck_rounds_state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default=RoundState.SELECTING.value)
    strategy: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    seed: Mapped[int] = mapped_column(Integer)
    classifier_version: Mapped[str | None] = mapped_column(String(64))  # the one that selected the pairs
    closed_classifier_version: Mapped[str | None] = mapped_column(String(64))  # the one its close trained or kept
    ls_project_id: Mapped[int | None] = mapped_column(Integer)
    last_synced_at: Mapped[datetime | None]
    metrics: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None]


class RoundPair(Base):
    """A pair the strategy selected in a round, with its score and where it stands."""

    __tablename__ = "round_pairs"
    __table_args__ = (CheckConstraint(check_values("status", RoundPairStatus), name="ck_round_pairs_status"),)

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=RoundPairStatus.SELECTED.value)
    ls_task_id: Mapped[int | None] = mapped_column(Integer, index=True)


class AnnotatorName(Base):
    """How Label Studio names an actor (its user's e-mail), cached so that reports show people
    by e-mail without asking Label Studio each time; labels keep the stable actor id."""

    __tablename__ = "annotator_names"

    actor: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LlmProposal(Base):
    """An LLM's answer for a pair: the cache key is (pair, model, prompt version)."""

    __tablename__ = "llm_proposals"
    __table_args__ = (UniqueConstraint("pair_id", "model", "prompt_version", name="uq_llm_proposal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(255))
    prompt_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # agreed | disputed | unlabelled
    relation: Mapped[str | None] = mapped_column(String(16))
    fine_code: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float | None] = mapped_column(Float)
    rationale: Mapped[str | None] = mapped_column(Text)
    votes: Mapped[dict[str, Any] | None]
    latency_s: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgreementReport(Base):
    """LLM-vs-human agreement for one model + prompt version, kept to compare versions."""

    __tablename__ = "agreement_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(255))
    prompt_version: Mapped[str] = mapped_column(String(64))
    n_pairs: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """A Label Studio webhook delivery, stored before it is processed."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    action: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Snapshot(Base):
    __tablename__ = "snapshots"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    counts: Mapped[dict[str, Any]]
    checksum: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    label_set_hash: Mapped[str] = mapped_column(String(64))


class ItemEntity(Base):
    """An item's entity (a concept term of the knowledge graph), found by one extraction method.

    Entities are items themselves, of source :data:`ENTITY_SOURCE`, so that entity pairs go through
    the same pairs, LLM proposals, Label Studio verification and verified labels as item pairs.
    """

    __tablename__ = "item_entities"
    __table_args__ = (Index("ix_item_entities_entity", "entity_id"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    method: Mapped[str] = mapped_column(String(16))  # category | title | tagger
    rank: Mapped[int] = mapped_column(Integer)  # 0: the item's first (most specific) entity
