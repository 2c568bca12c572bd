"""Score a pool on a Ray cluster and keep its ``k`` least certain pairs: the same ``k`` as one process.

The trained model, the item vectors and the pool's description go to the object store once; Ray
Data streams block numbers through a pool of scoring actors, one per CPU of the cluster, each
loading the model once and building its own blocks (reading its rows of the Parquet shards,
computing a lazy pool's pairs, slicing arrays already in the object store:
:func:`active_learning.shards.block_source`). Nothing lists files in a task of its own, which
would wait behind actors that hold every CPU. An actor scores a block with the in-process kernel
(:func:`active_learning.scoring.top_by_margin`) and returns only its ``k`` best; the driver
merges them with :func:`active_learning.scoring.merge_top`, whose order (smallest margin, then
smallest pool position) does not depend on how the pool was cut, so the result is exact.

A killed worker costs time, not results: Ray restarts the actor and retries its block.
Ray is imported only when :func:`top_by_margin_on_ray` runs; the caller has joined the cluster
(:func:`pairloop.cluster.connect`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from active_learning.scoring import TopCandidates, merge_top, top_by_margin

if TYPE_CHECKING:
    from active_learning.shards import BlockSource, LazyPool, PoolShards
    from classifier.features import ItemVectors
    from classifier.model import RelationModel

Progress = Callable[[int], None]
IN_PROCESS = "in-process"


class _BlockScorer:
    """A Ray Data actor: the model and item vectors loaded once, a block's top ``k`` per call."""

    def __init__(self, shared: list[Any], k: int, block_pairs: int):
        import numba
        import ray

        model_ref, vectors_ref, blocks_ref = shared  # in a list, so that Ray hands over the refs unresolved
        self.model, self.vectors = ray.get(model_ref), ray.get(vectors_ref)
        self.blocks: BlockSource = ray.get(blocks_ref)
        self.k, self.block_pairs = k, block_pairs
        # The numba kernel would start a thread per core of the node; the actor holds only its CPUs.
        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
        numba.set_num_threads(max(1, min(cpus, numba.config.NUMBA_NUM_THREADS)))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        block = self.blocks.block(int(batch["block"][0]), self.block_pairs)
        local, margin = top_by_margin(self.model, self.vectors, block.a, block.b, self.k,
                                      offset=int(block.position[0]))
        pairs = np.zeros(len(local), dtype=np.int64)  # the block's size, on its first row, for the progress bar
        if len(local):
            pairs[0] = len(block)
        return {"position": local, "margin": margin, "pairs": pairs}


def top_by_margin_on_ray(model: RelationModel, vectors: ItemVectors,
                         source: PoolShards | LazyPool | tuple[np.ndarray, np.ndarray], k: int, block_pairs: int,
                         progress: Progress | None = None) -> TopCandidates:
    """The ``k`` pairs of ``source`` with the smallest committee margin (ties: smaller position),
    scored on the Ray cluster this process has joined; equal to the in-process scan.

    Positions are the pool's: global shard positions, a lazy pool's positions, or indices into
    the ``(ia, ib)`` arrays. A worker holds one block of ``block_pairs`` pairs at a time.
    """
    import ray

    from active_learning.shards import block_source

    blocks = block_source(source)
    n_blocks = blocks.n_blocks(block_pairs)
    if k < 1 or n_blocks == 0:
        return TopCandidates.empty()
    dataset = ray.data.from_items([{"block": i} for i in range(n_blocks)], override_num_blocks=n_blocks)
    # One actor per CPU of the cluster, all of them from the start. Ray Data restarts a killed actor
    # and retries its blocks, as often as it takes (its default for actor pools: max_restarts=-1,
    # max_task_retries=-1).
    actors = max(1, int(ray.cluster_resources().get("CPU", 1)))
    scored = dataset.map_batches(
        _BlockScorer,
        fn_constructor_args=([ray.put(model), ray.put(vectors), ray.put(blocks)], k, block_pairs),
        batch_size=1, batch_format="numpy", num_cpus=1,
        compute=ray.data.ActorPoolStrategy(size=actors),
    )
    best = TopCandidates.empty()
    with warnings.catch_warnings():
        # Ray Data guesses the inputs before reading them and warns that the actors outnumber them.
        warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
        for batch in scored.iter_batches(batch_size=None, batch_format="numpy"):
            best = merge_top([best, TopCandidates(batch["position"], batch["margin"])], k)
            if progress:
                progress(int(batch["pairs"].sum()))
    return best


@dataclass(frozen=True)
class Shortlister:
    """How a large pool's least certain pairs are found before a strategy looks at them: in this
    process, or on the Ray cluster at ``address`` (in blocks of ``block_pairs``); both give the
    same pairs."""

    address: str | None = None
    block_pairs: int = 1_000_000

    @property
    def where(self) -> str:
        """Where the scoring runs, as round metrics record it: ``in-process`` or ``ray:<address>``."""
        return f"ray:{self.address}" if self.address else IN_PROCESS

    def top(self, model: RelationModel, vectors: ItemVectors, ia: np.ndarray, ib: np.ndarray, k: int,
            progress: Progress | None = None) -> np.ndarray:
        """Indices into ``ia``/``ib`` of the ``k`` smallest committee margins, in increasing index order."""
        if self.address:
            best = top_by_margin_on_ray(model, vectors, (ia, ib), k, self.block_pairs, progress).position
        else:
            best, _margin = top_by_margin(model, vectors, ia, ib, k, progress=progress)
        return np.sort(best)
