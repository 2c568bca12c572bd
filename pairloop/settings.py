"""Settings from the environment (``PAIRLOOP_*``) or a ``.env`` file, via pydantic-settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.verified import MajorityRule


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAIRLOOP_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("~/.local/share/pairloop"),
        description="Where the SQLite database, models, snapshots and the local Label Studio live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file DATA_DIR/pairloop.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    majority_rule: MajorityRule = Field(
        default=MajorityRule.COARSE,
        description="How human answers become a verified label: coarse or fine (KARL).",
    )
    min_agreeing: int = Field(
        default=2, ge=1, description="Agreeing human answers a verified label needs (1: one annotator is enough)."
    )
    features: str = Field(
        default="tfidf", description="Item encoder of the relation classifier: tfidf, tfidf-svd or minilm."
    )
    test_set: Path | None = Field(
        default=None, description="Labelled pair file for held-out macro-F1 when a round closes."
    )
    # Label Studio: an existing server (URL + legacy or personal access token), or the local one.
    label_studio_url: str | None = Field(
        default=None, description="An existing Label Studio; default: the local one `pairloop studio up` starts."
    )
    label_studio_token: str | None = Field(
        default=None, description="Its API token: a legacy token or a personal access token (JWT refresh token)."
    )
    label_studio_home: Path | None = Field(
        default=None, description="Where Label Studio is installed (its own venv); default DATA_DIR/label-studio."
    )
    label_studio_port: int = Field(default=8080, ge=1, le=65535, description="Port of the local Label Studio.")
    label_studio_username: str = Field(default="admin@pairloop.local", description="Local Label Studio admin.")
    label_studio_password: str | None = Field(
        default=None, description="Local Label Studio admin password; default: generated on first `studio up`."
    )
    annotators_per_pair: int = Field(default=3, ge=1, description="Overlap: annotators who see each pair.")
    # The service (`pairloop serve`): Label Studio webhooks and the REST API.
    service_host: str = Field(default="127.0.0.1", description="Address `pairloop serve` binds to.")
    service_port: int = Field(default=8000, ge=1, le=65535, description="Port of `pairloop serve`.")
    service_url: str | None = Field(
        default=None, description="How Label Studio reaches the service; default http://HOST:PORT."
    )
    webhook_secret: str | None = Field(
        default=None,
        description="Shared secret Label Studio sends with webhooks; default: generated, kept in DATA_DIR.",
    )
    api_token: str | None = Field(
        default=None, description="Bearer token for the REST API; default: generated, kept in DATA_DIR."
    )
    llm_backend: Literal["local", "openai"] = Field(
        default="local",
        description="LLM labeller: local (transformers, in process) or openai (any OpenAI-compatible endpoint).",
    )
    llm_model: str | None = Field(
        default=None,
        description="local: model folder or GGUF file (default: the embedded SmolLM2-135M-Instruct); "
        "openai: model name.",
    )
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1.")
    llm_api_key: str | None = Field(default=None, description="API key for the OpenAI-compatible endpoint.")
    llm_prompt_version: str | None = Field(default=None, description="Prompt template version (default: the newest).")
    llm_votes: int = Field(default=3, ge=1, description="Self-consistency votes per pair (kept only when all agree).")
    llm_timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one LLM request.")
    llm_max_retries: int = Field(default=3, ge=0, description="Retries of a failed LLM request (backoff doubles).")
    llm_backoff_s: float = Field(default=1.0, ge=0, description="First retry delay of an LLM request.")
    llm_concurrency: int = Field(default=4, ge=1, description="LLM requests in flight at once (openai backend).")
    llm_answer_mode: Literal["auto", "json"] = Field(
        default="auto", description="openai: auto (log-probabilities when offered, else JSON) or json."
    )
    llm_batch_size: int = Field(default=16, ge=1, description="Pairs scored per forward pass (local backend).")
    llm_model_cache: Path | None = Field(
        default=None, description="Where GGUF models are kept dequantised for fast loading; default: DATA_DIR/models."
    )
    llm_target_precision: float = Field(
        default=0.95, gt=0, lt=1,
        description="Trust gate: precision the auto-accept threshold must reach (lower bound).",
    )

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'pairloop.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
