"""The Entity-Entity-Item (E-E-I) weight model: how likely an item is taken when shown for (e, e').

Trained on exposures: an item ``c`` shown next to a trigger item ``t`` is a sample for every
pair of their entities ``(e_t, e_c)``, labelled 1 when ``c`` was taken with ``t``. On
BundleRec the exposures are the other items of the trigger's purchase session and
"taken" is "put in the same bundle by the annotator"; items of the complementary route that
were not in the session are added as not taken, so the model also sees what the route
will offer it at recall time. Inputs: the two entity embeddings (from the GNN) and the
candidate item's text embedding; ``context=True`` also gives it the trigger item's text
(its elementwise product with the candidate's, and their cosine), which the paper's model
does not have.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from knowledge_graph.graph import EntityGraph
from store.errors import BadInput


@dataclass(frozen=True, slots=True)
class Exposure:
    trigger: str
    candidate: str
    taken: bool


def session_exposures(sessions: Iterable[Sequence[str]], taken: set[frozenset[str]]) -> list[Exposure]:
    """Every ordered pair of different items in a session; taken when the pair is in ``taken``."""
    exposures = []
    for members in sessions:
        unique = sorted(set(members))
        exposures.extend(Exposure(t, c, frozenset((t, c)) in taken) for t in unique for c in unique if t != c)
    return exposures


def pair_exposures(pairs: Iterable[tuple[str, str]], taken: set[frozenset[str]]) -> list[Exposure]:
    """Both directions of every pair seen together (the store keeps pairs, not sessions), and
    of the taken pairs never seen together."""
    pairs = sorted({tuple(sorted(pair)) for pair in pairs})
    seen = {frozenset(pair) for pair in pairs}
    pairs += sorted(tuple(sorted(pair)) for pair in taken - seen if len(pair) == 2)
    return [Exposure(t, c, frozenset((a, b)) in taken) for a, b in pairs for t, c in ((a, b), (b, a))]


def route_negatives(
    exposures: Sequence[Exposure],
    route_items: Callable[[str], Sequence[str]],
    taken: set[frozenset[str]],
    per_positive: int,
    seed: int = 0,
) -> list[Exposure]:
    """For each taken exposure, ``per_positive`` items of the trigger's route that were not taken.

    They are drawn only among items that appear in some exposure: otherwise "never shown"
    would mark every negative, and the model would learn to rank new items last.
    """
    rng = random.Random(seed)
    shown = {e.trigger for e in exposures} | {e.candidate for e in exposures}
    negatives = []
    cache: dict[str, Sequence[str]] = {}
    for exposure in exposures:
        if not exposure.taken:
            continue
        pool = cache.get(exposure.trigger)
        if pool is None:
            pool = cache[exposure.trigger] = [c for c in route_items(exposure.trigger) if c in shown]
        for candidate in rng.sample(list(pool), min(per_positive, len(pool))):
            if candidate != exposure.trigger and frozenset((exposure.trigger, candidate)) not in taken:
                negatives.append(Exposure(exposure.trigger, candidate, False))
    return negatives


class EeiNet(nn.Module):
    def __init__(self, entity_dim: int, item_dim: int, hidden: int = 128, context: bool = False):
        super().__init__()
        width = 3 * entity_dim + item_dim + (item_dim + 1 if context else 0)
        self.context = context
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 1))

    def forward(self, et: torch.Tensor, ec: torch.Tensor, xc: torch.Tensor,
                xt: torch.Tensor | None = None) -> torch.Tensor:
        parts = [et, ec, et * ec, xc]
        if self.context:
            both = xt * xc
            parts += [both, both.sum(dim=1, keepdim=True)]  # and their cosine: the vectors are unit length
        return self.mlp(torch.cat(parts, dim=1)).squeeze(1)


@dataclass
class EeiModel:
    """A trained E-E-I net with the entity embeddings it was trained on."""

    net: EeiNet
    entities: list[str]
    entity_matrix: np.ndarray
    config: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    item_vectors: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._entity_index = {e: i for i, e in enumerate(self.entities)}
        self._entity_tensor = torch.from_numpy(np.asarray(self.entity_matrix, dtype=np.float32))
        self._item_part: torch.Tensor | None = None  # the first layer's item part, per item (see _score_split)

    def with_items(self, item_vectors: Mapping[str, np.ndarray]) -> EeiModel:
        """The same model scoring a catalogue whose item text embeddings are ``item_vectors``."""
        return EeiModel(self.net, self.entities, self.entity_matrix, self.config, self.history, item_vectors)

    def _tensors(self, rows: Sequence[tuple[str, str, str, str]]):
        et = self._entity_tensor[[self._entity_index[r[0]] for r in rows]]
        ec = self._entity_tensor[[self._entity_index[r[1]] for r in rows]]
        xc = torch.from_numpy(np.stack([self.item_vectors[r[2]] for r in rows]))
        xt = torch.from_numpy(np.stack([self.item_vectors[r[3]] for r in rows])) if self.net.context else None
        return et, ec, xc, xt

    def score(self, query: str, triples: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """P(taken) for (trigger entity, candidate entity, candidate item) shown next to ``query``."""
        self.net.eval()
        if not self.net.context:
            return self._score_split(triples)
        out = []
        with torch.no_grad():
            for start in range(0, len(triples), 8192):
                rows = [(*t, query) for t in triples[start : start + 8192]]
                out.append(torch.sigmoid(self.net(*self._tensors(rows))).numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def _score_split(self, triples: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """:meth:`score` without the trigger's text, with the first layer split by its inputs.

        The first layer is linear in ``[e, e', e*e', item]``, so its item part is computed once
        per item (and kept) and its entity part once per entity pair: a route offers a few
        dozen entity pairs and thousands of items, and each triple then costs only the layers
        after the first. Equal to the whole net up to float rounding.
        """
        if not triples:
            return np.zeros(0, dtype=np.float32)
        first = self.net.mlp[0]
        d = self._entity_tensor.shape[1]
        if self._item_part is None:
            self._item_rows = {key: i for i, key in enumerate(self.item_vectors)}
            with torch.no_grad():
                items = torch.from_numpy(np.stack(list(self.item_vectors.values())).astype(np.float32))
                self._item_part = items @ first.weight[:, 3 * d :].T
        pairs = {pair: i for i, pair in enumerate(dict.fromkeys((t, o) for t, o, _c in triples))}
        with torch.no_grad():
            et = self._entity_tensor[[self._entity_index[t] for t, _o in pairs]]
            ec = self._entity_tensor[[self._entity_index[o] for _t, o in pairs]]
            entity_part = torch.cat([et, ec, et * ec], dim=1) @ first.weight[:, : 3 * d].T + first.bias
            hidden = torch.relu(entity_part[[pairs[t, o] for t, o, _c in triples]]
                                + self._item_part[[self._item_rows[c] for _t, _o, c in triples]])
            return torch.sigmoid(self.net.mlp[3:](hidden).squeeze(1)).numpy()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state": self.net.state_dict(), "entities": self.entities,
                    "entity_matrix": torch.from_numpy(np.asarray(self.entity_matrix, dtype=np.float32)),
                    "config": self.config, "history": self.history}, path)

    @classmethod
    def load(cls, path: Path) -> EeiModel:
        data = torch.load(path, weights_only=True)
        config = dict(data["config"])
        net = EeiNet(config["entity_dim"], config["item_dim"], config["hidden"], config["context"])
        net.load_state_dict(data["state"])
        return cls(net, list(data["entities"]), data["entity_matrix"].numpy(), config, dict(data["history"]))


def _rows(exposures: Sequence[Exposure], graph: EntityGraph, known: set[str]):
    rows, labels, weights = [], [], []
    for exposure in exposures:
        ents_t = [e for e in graph.item_entities.get(exposure.trigger, ()) if e in known]
        ents_c = [e for e in graph.item_entities.get(exposure.candidate, ()) if e in known]
        if not ents_t or not ents_c:
            continue
        share = 1.0 / (len(ents_t) * len(ents_c))
        for et in ents_t:
            for ec in ents_c:
                rows.append((et, ec, exposure.candidate, exposure.trigger))
                labels.append(float(exposure.taken))
                weights.append(share)
    return rows, np.asarray(labels, dtype=np.float32), np.asarray(weights, dtype=np.float32)


def train_eei(
    exposures: Sequence[Exposure],
    graph: EntityGraph,
    entity_vectors: Mapping[str, np.ndarray],
    item_vectors: Mapping[str, np.ndarray],
    *,
    context: bool = False,
    epochs: int = 8,
    hidden: int = 128,
    lr: float = 1e-3,
    batch: int = 1024,
    validation_share: float = 0.1,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> EeiModel:
    """Fit the E-E-I model; triggers are split into training and validation (AUC reported)."""
    torch.manual_seed(seed)
    entities = sorted(entity_vectors)
    matrix = np.stack([entity_vectors[e] for e in entities]).astype(np.float32)
    dim = len(next(iter(item_vectors.values())))
    net = EeiNet(matrix.shape[1], dim, hidden, context)
    model = EeiModel(net, entities, matrix, {"entity_dim": matrix.shape[1], "item_dim": dim,
                                             "hidden": hidden, "context": context, "epochs": epochs,
                                             "lr": lr, "seed": seed}, {}, item_vectors)
    triggers = sorted({e.trigger for e in exposures})
    random.Random(seed).shuffle(triggers)
    held = set(triggers[: int(len(triggers) * validation_share)])
    known = set(entities)
    train_rows, y, w = _rows([e for e in exposures if e.trigger not in held], graph, known)
    val_rows, val_y, _w = _rows([e for e in exposures if e.trigger in held], graph, known)
    if not train_rows:
        raise BadInput("no exposures whose items have entities: nothing to train the E-E-I model on")
    tensors = model._tensors(train_rows)
    y_t, w_t = torch.from_numpy(y), torch.from_numpy(w)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train_rows), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            parts = [t[idx] if t is not None else None for t in tensors]
            loss = (F.binary_cross_entropy_with_logits(net(*parts), y_t[idx], reduction="none") * w_t[idx]).sum()
            optimiser.zero_grad()
            (loss / w_t[idx].sum()).backward()
            optimiser.step()
            total += loss.item()
        losses.append(total / float(w_t.sum()))
        if progress:
            progress(1)
    model.history = {"loss": losses, "train_rows": len(train_rows), "validation_rows": len(val_rows),
                     "positive_share": round(float(y.mean()), 4)}
    if len(val_rows) and 0 < val_y.mean() < 1:
        net.eval()
        with torch.no_grad():
            scores = torch.sigmoid(net(*model._tensors(val_rows))).numpy()
        model.history["validation_auc"] = round(float(roc_auc_score(val_y, scores)), 4)
    return model
