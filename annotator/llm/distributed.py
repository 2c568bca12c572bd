"""LLM labelling on a Ray cluster: Ray Data ``map_batches`` over a pool of labeller actors.

The driver keeps the proposal cache (:func:`annotator.llm.cache.propose_cached` hands over only
the pairs without a stored proposal). Their texts go into the object store as Arrow blocks,
one block per batch; each actor builds its labeller once from a picklable spec (the keyword
arguments of :func:`make_labeller`): the local model loads once per actor and runs one torch
thread per CPU the actor holds, and with several endpoints actor i talks to endpoint i mod n
(or, when the endpoints outnumber the actors, to every actors-th one: :func:`actor_endpoints`)
with ``concurrency`` requests in flight. A block's proposals come back as rows (the
``llm_proposals`` row as JSON) and the driver stores each block as it arrives.

Faults: Ray Data's actor pool restarts a killed actor and retries its block, so a SIGKILL costs
time, not results; a killed driver takes its actors with it, and the blocks already stored are
cached, so a rerun asks only for the rest. A pairloop error in an actor (an endpoint down, a
model missing) comes back with its block and is raised by the driver as the same error.

Ray and pyarrow are imported inside the functions: importing this module loads neither.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from annotator.llm.base import Labeller, PairText, Proposal
from annotator.llm.cache import proposal_row, row_proposal
from annotator.llm.errors import LlmUnavailable
from annotator.llm.factory import endpoints, labeller_identity, make_labeller
from store.errors import PairloopError, first_line

if TYPE_CHECKING:
    import pyarrow as pa

TEXT_FIELDS = tuple(f.name for f in fields(PairText))


def answer_schema() -> pa.Schema:
    """What an actor sends back per pair: the proposal's ``llm_proposals`` row as JSON, or, in a
    block's only row, the pickled pairloop error that stopped it."""
    import pyarrow as pa

    return pa.schema([("row", pa.string()), ("failure", pa.binary())])


class RayLabeller:
    """The actor pool as one labeller (a :class:`~annotator.llm.cache.BatchLabeller`).

    ``spec``: :func:`make_labeller`'s keyword arguments; ``actors``: how many actors label at
    once. Building it loads no model and sends nothing: the name that keys the cache comes from
    the spec. Ray must already be initialised (``Context.cluster()`` does it).
    """

    def __init__(self, spec: Mapping[str, Any], actors: int):
        self.spec = dict(spec)
        self.actors = max(1, actors)
        self.model_name, self.prompt_version = labeller_identity(
            self.spec.get("backend", "local"), model=self.spec.get("model"), base_url=self.spec.get("base_url"),
            prompt_version=self.spec.get("prompt_version"), answer_mode=self.spec.get("answer_mode", "auto"),
            data_dir=self.spec.get("data_dir"),
        )

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        answered = {p.key: p for batch in self.propose_batches([pairs]) for p in batch}
        return [answered[p.key] for p in pairs]

    def propose_batches(self, batches: Iterable[Sequence[PairText]]) -> Iterator[list[Proposal]]:
        """Every batch through the actor pool; each batch's proposals as soon as they are back."""
        import pyarrow as pa
        import ray

        schema = pa.schema([(name, pa.string()) for name in TEXT_FIELDS])
        refs = [ray.put(pa.Table.from_pylist([asdict(p) for p in batch], schema=schema)) for batch in batches if batch]
        if not refs:
            return
        local = self.spec.get("backend", "local") == "local"
        urls = endpoints(self.spec.get("base_url"))
        dealer = ray.remote(num_cpus=0)(EndpointDealer).remote() if len(urls) > 1 else None
        answered = ray.data.from_arrow_refs(refs).map_batches(
            LabelActor, batch_size=None, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=_actor_cpus(self.actors) if local else 1,
            fn_constructor_kwargs={"spec": self.spec, "dealer": dealer, "actors": self.actors},
        )
        try:
            for block in answered.iter_batches(batch_size=None, batch_format="pyarrow"):
                failure = next((f for f in block.column("failure").to_pylist() if f is not None), None)
                if failure is not None:
                    raise pickle.loads(failure)
                yield [row_proposal(json.loads(text)) for text in block.column("row").to_pylist()]
        except ray.exceptions.RayError as exc:
            raise LlmUnavailable(f"the LLM job on Ray failed: {first_line(exc)}") from None


class EndpointDealer:
    """Hands each actor starting (or restarting) the next endpoint, round-robin."""

    def __init__(self) -> None:
        self.dealt = 0

    def deal(self) -> int:
        self.dealt += 1
        return self.dealt - 1


class LabelActor:
    """One actor of the pool: its labeller is built once and labels block after block."""

    def __init__(self, spec: Mapping[str, Any], dealer: Any | None, actors: int):
        import ray

        spec = dict(spec)
        if dealer is not None:
            spec["base_url"] = actor_endpoints(endpoints(spec["base_url"]), ray.get(dealer.deal.remote()), actors)
        if spec.get("backend", "local") == "local":
            import torch

            torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
        try:
            self.labeller: Labeller | PairloopError = make_labeller(**spec)
        except PairloopError as exc:  # an actor dying in its constructor loses the reason: tell it with a block
            self.labeller = exc

    def __call__(self, block: pa.Table) -> pa.Table:
        import pyarrow as pa

        try:
            if isinstance(self.labeller, PairloopError):
                raise self.labeller
            proposals = self.labeller.propose([PairText(**row) for row in block.to_pylist()])
        except PairloopError as exc:  # sent whole: Ray would pass on only the text of a raised error
            return pa.table({"row": [None], "failure": [pickle.dumps(exc)]}, schema=answer_schema())
        rows = [json.dumps(proposal_row(p)) for p in proposals]
        return pa.table({"row": rows, "failure": [None] * len(rows)}, schema=answer_schema())


def actor_endpoints(urls: Sequence[str], index: int, actors: int) -> list[str]:
    """The endpoints actor ``index`` of ``actors`` talks to: one, round-robin, when the actors
    outnumber the endpoints; else every ``actors``-th, so that no endpoint is left idle."""
    if actors >= len(urls):
        return [urls[index % len(urls)]]
    return list(urls[index % actors :: actors])


def _actor_cpus(actors: int) -> int:
    """CPUs per local-model actor: the cluster's share per actor, at most what the smallest node has."""
    import ray

    cpus = [node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node.get("Alive")]
    smallest = min((c for c in cpus if c >= 1), default=1.0)
    return max(1, int(min(sum(cpus) // actors, smallest)))
