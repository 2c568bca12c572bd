"""What every use case is given: the settings, the store, the clients, a progress reporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from sqlalchemy import Engine

from pairloop.settings import Settings
from pairloop.store_access import open_store
from pairloop.usecases.progress import SILENT, Progress
from store.errors import BadInput

if TYPE_CHECKING:
    from annotator.label_studio import LabelStudio
    from annotator.llm import Labeller
    from pairloop.cluster import RayCluster


@dataclass
class Context:
    """One use case's world. The engine is opened on first use and disposed by :meth:`close`
    (or the ``with`` block) unless it was handed in, as the service does with its own."""

    settings: Settings
    progress: Progress = SILENT
    engine_given: Engine | None = None
    _engine: Engine | None = field(default=None, init=False, repr=False)
    _cluster: RayCluster | None = field(default=None, init=False, repr=False)

    @property
    def engine(self) -> Engine:
        """The configured store, checked to be reachable and at the newest schema."""
        if self.engine_given is not None:
            return self.engine_given
        if self._engine is None:
            if self.settings.ray_address:  # a SQLite file with a remote cluster: refused before any work
                from pairloop.cluster import check_store

                check_store(self.settings)
            self._engine = open_store(self.settings)
        return self._engine

    def studio(self) -> LabelStudio:
        """A client of the configured Label Studio (an existing server, or the local one)."""
        from pairloop import studio

        return studio.connect(self.settings)

    def labeller(self, backend: str | None = None) -> Labeller:
        """The configured LLM labeller (``PAIRLOOP_LLM_*``), or ``backend`` instead of the
        configured one; GGUF files are dequantised once into DATA_DIR/models, and an adapter version
        names the adapted model saved under DATA_DIR/models/llm-adapters. With a Ray cluster
        (``PAIRLOOP_RAY_ADDRESS``) it is a pool of ``PAIRLOOP_RAY_LLM_ACTORS`` actors, each
        building its own labeller there: nothing is loaded in this process."""
        settings = self.settings
        spec = {
            "backend": backend or settings.llm_backend,
            "model": settings.llm_model,
            "base_url": settings.llm_base_urls or None,
            "api_key": settings.llm_api_key,
            "votes": settings.llm_votes,
            "prompt_version": settings.llm_prompt_version,
            "timeout_s": settings.llm_timeout_s,
            "max_retries": settings.llm_max_retries,
            "backoff_s": settings.llm_backoff_s,
            "concurrency": settings.llm_concurrency,
            "answer_mode": settings.llm_answer_mode,
            "batch_size": settings.llm_batch_size,
            "cache_dir": (settings.llm_model_cache or settings.data_path / "models").expanduser(),
            "data_dir": settings.data_path,  # where an adapted model (`pairloop llm adapt`) is found
        }
        on_ray = self.cluster() is not None
        try:
            if on_ray:
                from annotator.llm.distributed import RayLabeller

                return RayLabeller(spec, actors=settings.ray_llm_actors)
            from annotator.llm.factory import make_labeller

            with self.progress.status("loading the LLM"):
                return make_labeller(**spec)
        except ValueError as exc:  # an unknown prompt version, a backend without its URL
            raise BadInput(f"LLM settings: {exc}") from None

    def cluster(self) -> RayCluster | None:
        """The Ray cluster of ``PAIRLOOP_RAY_ADDRESS``, joined on first use; None when unset
        (then Ray is never imported and the work runs in this process)."""
        if not self.settings.ray_address:
            return None
        if self._cluster is None:
            from pairloop import cluster

            with self.progress.status(f"joining the Ray cluster ({self.settings.ray_address})"):
                self._cluster = cluster.connect(self.settings)
        return self._cluster

    def close(self) -> None:
        if self._cluster is not None:
            if self._cluster.joined_here:  # a Context that found Ray joined leaves it to its owner
                from pairloop import cluster

                cluster.disconnect()
            self._cluster = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
