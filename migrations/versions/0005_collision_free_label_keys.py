"""labels.external_key: collision-free keys for imported and LLM labels

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:00:00

Imported labels were keyed ``{format}:{a}|{b}:{actor}:{relation}:{fine}`` (ids and actor joined
with ``|`` and ``:``), so the rows (``a|b``, ``c``) and (``a``, ``b|c``) shared one key and the
second label was silently dropped; LLM labels were keyed ``llm:{scope}:{pair}:{model}:{prompt}``.
The code now keys them ``import:`` / ``llm:`` and a SHA-256 of the parts as a JSON array
(``store.repository.label_key``). This revision rewrites the keys of labels stored under the
old forms, recomputing the parts from the stored columns, so that re-importing a file imported
before it adds nothing (and adds the labels the old keys lost):

- imported labels (keys starting ``pairs:``, ``fbl2023:``, ``fbl2024:``, ``bundlerec-``): the
  format from that prefix; the items' source and external ids from the pair, in the file's
  order (``presented_reversed``); the actor and relation; the fine code in the file's order.
- LLM labels (``llm:{scope}:{pair}:…``): the scope from the key (a round id or ``kg``; neither
  holds a colon), the pair, model (``actor``) and prompt version from the columns.

The parts and the hash are written out here rather than imported: a revision keeps the keys it
introduced even if the code's keys change later (such a change gets a revision of its own).
Downgrading leaves the new keys in place: a hash cannot be turned back into the old text, and
the old text is what collided.
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

IMPORT_PREFIXES = {"pairs:": "pairs", "fbl2023:": "fbl2023", "fbl2024:": "fbl2024", "bundlerec-": "bundlerec"}
MIRRORED_FINE = {2: 3, 3: 2, 5: 6, 6: 5}  # a directional fine code read with the items swapped
BATCH = 5000


def label_key(namespace: str, *parts: str | int | None) -> str:
    encoded = json.dumps(parts, separators=(",", ":"))
    return f"{namespace}:{hashlib.sha256(encoded.encode('ascii')).hexdigest()}"


def _new_key(key: str, pair_id: int, source_a: str, id_a: str, source_b: str, id_b: str, actor: str,
             relation: str | None, fine: int | None, reversed_: bool, prompt_version: str | None) -> str | None:
    if key.startswith("llm:"):
        scope = key.split(":", 2)[1]
        return label_key("llm", scope, pair_id, actor, prompt_version)
    kind = next((kind for prefix, kind in IMPORT_PREFIXES.items() if key.startswith(prefix)), None)
    if kind is None or relation is None:
        return None
    if reversed_:
        (source_a, id_a), (source_b, id_b) = (source_b, id_b), (source_a, id_a)
        fine = MIRRORED_FINE.get(fine, fine) if fine else fine
    return label_key("import", kind, source_a, id_a, id_b, actor, relation, fine)


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


def upgrade() -> None:
    bind = op.get_bind()
    labels = _table("labels", "id", "pair_id", "external_key", "actor", "relation", "fine_code",
                    "presented_reversed", "prompt_version")
    pairs = _table("pairs", "id", "item_a_id", "item_b_id")
    items_a = _table("items", "id", "source", "external_id").alias("a")
    items_b = _table("items", "id", "source", "external_id").alias("b")
    old = sa.or_(*(labels.c.external_key.startswith(prefix) for prefix in (*IMPORT_PREFIXES, "llm:")))
    stmt = (sa.select(labels.c.id, labels.c.external_key, labels.c.pair_id, items_a.c.source, items_a.c.external_id,
                      items_b.c.source, items_b.c.external_id, labels.c.actor, labels.c.relation,
                      labels.c.fine_code, labels.c.presented_reversed, labels.c.prompt_version)
            .join(pairs, pairs.c.id == labels.c.pair_id)
            .join(items_a, items_a.c.id == pairs.c.item_a_id)
            .join(items_b, items_b.c.id == pairs.c.item_b_id)
            .where(old))
    updates = []
    for label_id, key, *columns in bind.execute(stmt).all():
        new = _new_key(key, *columns[:8], bool(columns[8]), columns[9])
        if new is not None:
            updates.append({"label_id": label_id, "new_key": new})
    rewrite = (labels.update().where(labels.c.id == sa.bindparam("label_id"))
               .values(external_key=sa.bindparam("new_key")))
    for start in range(0, len(updates), BATCH):
        bind.execute(rewrite, updates[start : start + BATCH])


def downgrade() -> None:
    """The new keys stay (see the module's docstring)."""
