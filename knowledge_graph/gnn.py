"""The dual-view entity encoder (LLM-KERec's GNN), in PyG, trained by InfoNCE between views.

* **substitutable view, first order** — entities joined by substitute edges, and entities
  that describe the same items (an item's title term and its category name the same kind
  of thing);
* **complementary view, second order** — ``A_c²``: entities that complement the same
  entities ("memory card" and "camera bag" both go with "camera"), walked through each
  entity's 64 strongest complementary neighbours and kept to the top 32 per entity.

Each view has its own two-layer GCN over the same input features (the MiniLM embedding of
the entity name). InfoNCE pulls an entity's two views together and pushes other entities
apart; the embedding used downstream is the two views side by side.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse
from torch import nn
from torch_geometric.nn import GCNConv

from knowledge_graph.graph import COMPLEMENTARY, SUBSTITUTE, EntityGraph

FIRST_ORDER_TOP_K = 64  # strongest complementary neighbours an entity walks through
SECOND_ORDER_TOP_K = 32


@dataclass
class Views:
    entities: list[str]
    substitutable: tuple[torch.Tensor, torch.Tensor]  # edge_index, edge_weight
    complementary: tuple[torch.Tensor, torch.Tensor]


def _symmetric(rows: list[int], cols: list[int], weights: list[float], n: int) -> sparse.csr_matrix:
    matrix = sparse.coo_matrix((weights, (rows, cols)), shape=(n, n)).tocsr()
    return (matrix + matrix.T).tocsr()


def _to_edges(matrix: sparse.spmatrix) -> tuple[torch.Tensor, torch.Tensor]:
    coo = matrix.tocoo()
    keep = coo.row != coo.col  # GCNConv adds its own self-loops
    index = torch.from_numpy(np.vstack([coo.row[keep], coo.col[keep]]).astype(np.int64))
    return index, torch.from_numpy(coo.data[keep].astype(np.float32))


def _top_k_rows(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for r in range(matrix.shape[0]):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        if end == start:
            continue
        data, index = matrix.data[start:end], matrix.indices[start:end]
        top = np.argsort(-data, kind="stable")[:k]
        rows.extend([r] * len(top))
        cols.extend(index[top].tolist())
        vals.extend(data[top].tolist())
    return sparse.csr_matrix((vals, (rows, cols)), shape=matrix.shape)


def build_views(graph: EntityGraph, top_k: int = SECOND_ORDER_TOP_K) -> Views:
    entities = [node.entity for node in graph.nodes]
    index = {entity: i for i, entity in enumerate(entities)}
    n = len(entities)
    shared: Counter[tuple[int, int]] = Counter()
    for found in graph.item_entities.values():
        for a, b in combinations(sorted({index[e] for e in found if e in index}), 2):
            shared[a, b] += 1
    sub = [(index[e.a], index[e.b], e.weight) for e in graph.edges if e.relation == SUBSTITUTE]
    sub += [(a, b, float(count)) for (a, b), count in sorted(shared.items())]
    substitutable = _symmetric([a for a, _b, _w in sub], [b for _a, b, _w in sub], [w for *_ab, w in sub], n)
    comp = [(index[e.a], index[e.b], e.weight) for e in graph.edges if e.relation == COMPLEMENTARY]
    first = _symmetric([a for a, _b, _w in comp], [b for _a, b, _w in comp], [w for *_ab, w in comp], n)
    first = _top_k_rows(first, FIRST_ORDER_TOP_K)  # keeps A_c² sparse on dense graphs
    degree = np.asarray(first.sum(axis=1)).ravel()
    degree[degree == 0] = 1.0
    walk = sparse.diags(1.0 / degree) @ first  # row-stochastic: one complementary step
    second = _top_k_rows((walk @ walk).tocsr(), top_k)
    second = (second + second.T) / 2
    return Views(entities, _to_edges(substitutable), _to_edges(second))


class ViewEncoder(nn.Module):
    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.conv1 = GCNConv(in_dim, hidden, cached=True)
        self.conv2 = GCNConv(hidden, out_dim, cached=True)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(x, edge_index, edge_weight))
        return self.conv2(F.dropout(h, p=0.2, training=self.training), edge_index, edge_weight)


class DualViewEncoder(nn.Module):
    def __init__(self, in_dim: int, hidden: int = 128, out_dim: int = 64, proj_dim: int = 64):
        super().__init__()
        self.substitutable = ViewEncoder(in_dim, hidden, out_dim)
        self.complementary = ViewEncoder(in_dim, hidden, out_dim)
        self.project = nn.Sequential(nn.Linear(out_dim, proj_dim), nn.ELU(), nn.Linear(proj_dim, proj_dim))

    def forward(self, x: torch.Tensor, views: Views) -> tuple[torch.Tensor, torch.Tensor]:
        return self.substitutable(x, *views.substitutable), self.complementary(x, *views.complementary)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``z1`` should pick row i of ``z2`` among all rows."""
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    logits = z1 @ z2.T / temperature
    target = torch.arange(len(z1))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


@dataclass
class GnnResult:
    entities: list[str]
    embeddings: np.ndarray  # [entities, 2 * out_dim]
    losses: list[float]
    epoch_seconds: list[float]
    config: dict = field(default_factory=dict)

    def table(self) -> dict[str, np.ndarray]:
        return {entity: self.embeddings[i] for i, entity in enumerate(self.entities)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"entities": self.entities, "embeddings": torch.from_numpy(self.embeddings),
                    "losses": self.losses, "epoch_seconds": self.epoch_seconds, "config": self.config},
                   path)

    @classmethod
    def load(cls, path: Path) -> GnnResult:
        data = torch.load(path, weights_only=True)
        return cls(list(data["entities"]), data["embeddings"].numpy(), list(data["losses"]),
                   list(data["epoch_seconds"]), dict(data["config"]))


def train_gnn(
    graph: EntityGraph,
    features: np.ndarray,
    *,
    epochs: int = 50,
    hidden: int = 128,
    out_dim: int = 64,
    temperature: float = 0.5,
    lr: float = 0.005,
    batch: int = 2048,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> GnnResult:
    """Train the dual-view encoder; ``features`` are the entity-name embeddings in node order.

    Each epoch is one full-graph forward pass; InfoNCE is taken over random blocks of
    ``batch`` entities (in-block negatives), so memory stays linear in the graph size.
    """
    torch.manual_seed(seed)
    views = build_views(graph)
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    model = DualViewEncoder(x.shape[1], hidden, out_dim)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    generator = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    losses, seconds = [], []
    for _epoch in range(epochs):
        started = time.perf_counter()
        model.train()
        optimiser.zero_grad()
        h1, h2 = model(x, views)
        z1, z2 = model.project(h1), model.project(h2)
        order = torch.randperm(n, generator=generator)
        blocks = [order[i : i + batch] for i in range(0, n, batch)]
        loss = sum(info_nce(z1[b], z2[b], temperature) * len(b) for b in blocks) / n
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        seconds.append(time.perf_counter() - started)
        if progress:
            progress(1)
    model.eval()
    with torch.no_grad():
        h1, h2 = model(x, views)
        embeddings = torch.cat([F.normalize(h1, dim=1), F.normalize(h2, dim=1)], dim=1).numpy()
    config = {"epochs": epochs, "hidden": hidden, "out_dim": out_dim, "temperature": temperature,
              "lr": lr, "seed": seed, "chance_loss": math.log(min(n, batch))}
    return GnnResult(views.entities, embeddings, losses, seconds, config)
