"""Settings from the environment (``PAIRLOOP_*``) or a ``.env`` file, via pydantic-settings.

docs/configuration.md is generated from this class (``python -m pairloop.settings_doc``), so a
new setting needs a description, a place in :data:`GROUPS` and, when leaving it unset means
something other than "none" (a derived path, a generated secret), ``json_schema_extra={"unset": ...}``
saying what; tests/pairloop/test_settings_doc.py fails until it has them and the page is regenerated.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.taxonomy import MajorityRule

_SECRET_KEPT = {"unset": "generated, kept in `$DATA_DIR/secrets/`"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAIRLOOP_", env_file=".env", extra="ignore")

    # The store.
    data_dir: Path = Field(
        default=Path("~/.local/share/pairloop"),
        description="Where the SQLite database, models, snapshots, reports and the local Label Studio's data live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store, e.g. `postgresql+psycopg://user@host:5432/db` "
        "(run `pairloop init` once).",
        json_schema_extra={"unset": "`sqlite:///$DATA_DIR/pairloop.db`"},
    )
    # Verified labels and the classifier.
    majority_rule: MajorityRule = Field(
        default=MajorityRule.COARSE,
        description="How human answers become a verified label: `coarse` (majority over relations) or "
        "`fine` (KARL: majority over fine FBL codes, then mapped to relations).",
    )
    min_agreeing: int = Field(
        default=2, ge=1, description="Agreeing human answers a verified label needs; `1` trusts a single annotator."
    )
    features: str = Field(
        default="tfidf", description="Item encoder of the relation classifier: `tfidf`, `tfidf-svd` or `minilm`."
    )
    test_set: Path | None = Field(
        default=None,
        description="Labelled pair file scored (held-out macro-F1 and accuracy) each time a round closes; "
        "a `--test` file given to the close wins over it.",
        json_schema_extra={"unset": "none: rounds report no held-out score"},
    )
    # Label Studio: an existing server (URL + legacy or personal access token), or the local one.
    label_studio_url: str | None = Field(
        default=None,
        description="An existing Label Studio to use instead of the local one (no `pairloop studio up` needed).",
        json_schema_extra={"unset": "the local one `pairloop studio up` starts"},
    )
    label_studio_token: str | None = Field(
        default=None,
        description="API token for that Label Studio: a legacy token or a personal access token "
        "(pairloop tells them apart).",
        json_schema_extra={"unset": "the local one's, kept in `$DATA_DIR/studio/`"},
    )
    label_studio_home: Path | None = Field(
        default=None,
        description="Where the local Label Studio is installed (its own virtual environment, about 1 GB); "
        "several data dirs can share one.",
        json_schema_extra={"unset": "`$DATA_DIR/label-studio`"},
    )
    label_studio_port: int = Field(
        default=8080, ge=1, le=65535, description="Port of the local Label Studio (it listens on loopback only)."
    )
    label_studio_username: str = Field(default="admin@pairloop.local", description="Local Label Studio's admin login.")
    label_studio_password: str | None = Field(
        default=None,
        description="Local Label Studio's admin password.",
        json_schema_extra={"unset": "generated on the first `pairloop studio up`, kept in `$DATA_DIR/studio/`"},
    )
    annotators_per_pair: int = Field(
        default=3, ge=1, description="Annotators who see each pair (the overlap of a round's Label Studio project)."
    )
    # The service (`pairloop serve`): Label Studio webhooks and the REST API.
    service_host: str = Field(default="127.0.0.1", description="Address `pairloop serve` binds to.")
    service_port: int = Field(default=8000, ge=1, le=65535, description="Port `pairloop serve` listens on.")
    service_url: str | None = Field(
        default=None,
        description="Where Label Studio reaches `pairloop serve` for webhooks, when that is not where it binds "
        "(a proxy, another machine).",
        json_schema_extra={"unset": "`http://$SERVICE_HOST:$SERVICE_PORT`"},
    )
    webhook_secret: str | None = Field(
        default=None,
        description="Shared secret Label Studio sends with each webhook.",
        json_schema_extra=_SECRET_KEPT,
    )
    api_token: str | None = Field(
        default=None, description="Bearer token of the REST API.", json_schema_extra=_SECRET_KEPT
    )
    # The LLM labeller.
    llm_backend: Literal["local", "openai"] = Field(
        default="local",
        description="LLM labeller: `local` (transformers, in this process) or `openai` "
        "(any OpenAI-compatible endpoint).",
    )
    llm_model: str | None = Field(
        default=None,
        description="`local`: the name of an embedded model (`smollm2-135m`, `gemma3-270m`), a model folder or a "
        "GGUF file; `openai`: the model name.",
        json_schema_extra={"unset": "`local`: the embedded `smollm2-135m` (SmolLM2-135M-Instruct)"},
    )
    llm_base_url: str | None = Field(
        default=None,
        description="Base URL of the OpenAI-compatible endpoint, e.g. `http://127.0.0.1:8080/v1`; several, "
        "comma-separated, spread the requests over a fleet (in one process: each batch dealt round-robin over "
        "them, every endpoint with `llm_concurrency` in flight; on Ray: actor i of k talks to endpoint i mod n, "
        "or to every k-th one from the i-th when the endpoints outnumber the actors).",
    )
    llm_api_key: str | None = Field(default=None, description="API key of the OpenAI-compatible endpoint.")
    llm_prompt_version: str | None = Field(
        default=None,
        description="Prompt template version (docs/llm-labelling.md); `fbl9-v3-k4` / `fbl9-v3-k8` show the 4 / 8 "
        "most similar human-verified pairs first (`pairloop llm label|agreement` only).",
        json_schema_extra={"unset": "the newest, `fbl9-v2`"},
    )
    llm_votes: int = Field(
        default=3, ge=1, description="Self-consistency votes per pair; a proposal is kept only when all agree."
    )
    llm_timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one LLM request, in seconds.")
    llm_max_retries: int = Field(default=3, ge=0, description="Retries of a failed LLM request.")
    llm_backoff_s: float = Field(
        default=1.0, ge=0, description="Delay before the first retry of an LLM request, in seconds; it doubles."
    )
    llm_concurrency: int = Field(default=4, ge=1, description="LLM requests in flight at once (`openai`).")
    llm_answer_mode: Literal["auto", "json"] = Field(
        default="auto",
        description="`openai`: `auto` reads log-probabilities when the endpoint offers them, else JSON; "
        "`json` always asks for JSON.",
    )
    llm_batch_size: int = Field(default=16, ge=1, description="Pairs scored per forward pass (`local`).")
    llm_model_cache: Path | None = Field(
        default=None,
        description="Where GGUF models are kept dequantised, so that later loads are fast.",
        json_schema_extra={"unset": "`$DATA_DIR/models`"},
    )
    llm_target_precision: float = Field(
        default=0.95, gt=0, lt=1,
        description="Trust gate: LLM proposals are auto-accepted only where the lower bound of their "
        "precision reaches this.",
    )
    llm_preselect_min_kappa: float = Field(
        default=0.6, ge=0, le=1,
        description="Pre-annotation: a round pre-selects the LLM's answers in Label Studio only when the model + "
        "prompt version reached this Cohen's kappa against human labels (and beat the majority relation); "
        "otherwise they are shown as suggestions, nothing pre-selected (docs/llm-labelling.md).",
    )
    llm_preselect_min_pairs: int = Field(
        default=100, ge=1,
        description="Pre-annotation: human-labelled pairs that kappa must be measured on before it counts.",
    )

    # Scale-out on Ray (optional: `pip install 'pairloop[ray]'`).
    ray_address: str | None = Field(
        default=None,
        description="Run pool scoring and LLM labelling on Ray: `local` (a Ray instance started for one "
        "command), `auto` (the cluster this machine belongs to), `host:6379` or `ray://host:10001`.",
        json_schema_extra={"unset": "no Ray: every command runs in this process"},
    )
    ray_connect_timeout_s: float = Field(
        default=20.0, gt=0, description="How long to wait for the Ray cluster before giving up with one error line."
    )
    ray_block_pairs: int = Field(
        default=1_000_000, ge=1_000,
        description="Pairs per block when scoring a pool (a Ray block, or a block read in this process): "
        "memory is set by this, not by the pool size.",
    )
    ray_llm_actors: int = Field(
        default=2, ge=1,
        description="LLM actors on Ray: each loads the local model once, or talks to one of the endpoints "
        "(shared out round-robin) with `llm_concurrency` requests in flight.",
    )

    @property
    def llm_base_urls(self) -> list[str]:
        """The endpoints of ``llm_base_url`` (comma-separated), in order."""
        return [url.strip() for url in (self.llm_base_url or "").split(",") if url.strip()]

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'pairloop.db'}"


# The sections of docs/configuration.md, in order; every setting is in exactly one.
GROUPS: dict[str, tuple[str, ...]] = {
    "Store": ("data_dir", "database_url"),
    "Verified labels and the classifier": ("majority_rule", "min_agreeing", "features", "test_set"),
    "Label Studio": ("label_studio_url", "label_studio_token", "label_studio_home", "label_studio_port",
                     "label_studio_username", "label_studio_password", "annotators_per_pair"),
    "The service (`pairloop serve`)": ("service_host", "service_port", "service_url", "webhook_secret", "api_token"),
    "The LLM labeller": ("llm_backend", "llm_model", "llm_base_url", "llm_api_key", "llm_prompt_version",
                         "llm_votes", "llm_timeout_s", "llm_max_retries", "llm_backoff_s", "llm_concurrency",
                         "llm_answer_mode", "llm_batch_size", "llm_model_cache", "llm_target_precision",
                         "llm_preselect_min_kappa", "llm_preselect_min_pairs"),
    "Ray cluster (optional)": ("ray_address", "ray_connect_timeout_s", "ray_block_pairs", "ray_llm_actors"),
}


# PAIRLOOP_* variables read outside Settings (by the tests and the benchmarks): not settings of
# pairloop itself. Variable → (default, meaning).
OTHER_VARIABLES: dict[str, tuple[str, str]] = {
    "PAIRLOOP_DATASETS": (
        "`../shared/datasets` (beside the repository)",
        "Where the research datasets are (docs/datasets.md), for the tests marked `datasets` and the "
        "benchmarks; those tests skip when the folder is absent.",
    ),
    "PAIRLOOP_TEST_PG": (
        "`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`",
        "A PostgreSQL server on which the tests and benchmarks may create and drop databases.",
    ),
    "PAIRLOOP_TEST_MODEL_CACHE": (
        "`.pairloop/test-models`",
        "Where the LLM tests keep the dequantised embedded model between runs.",
    ),
    "PAIRLOOP_CHROMIUM": (
        "`/usr/bin/chromium`",
        "The Chromium the browser tests drive (Playwright downloads no browser); they skip without one.",
    ),
    "PAIRLOOP_SCREENSHOTS": ("a temporary folder", "Where the dashboard's browser tests save their screenshots."),
    "PAIRLOOP_TEST_KILL": ("–", "Test-only: set by the crash tests for the process they kill; never set it."),
    "PAIRLOOP_TEST_READY": ("–", "Test-only: set by the crash tests (the child's ready file); never set it."),
    "PAIRLOOP_TEST_GO": ("–", "Test-only: set by the crash tests (the child's start signal); never set it."),
}


def env_name(field: str) -> str:
    return f"{Settings.model_config['env_prefix']}{field.upper()}"


def setting_names() -> set[str]:
    """The environment names of every setting."""
    return {env_name(field) for field in Settings.model_fields}


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each ``PAIRLOOP_*`` variable that is neither a setting nor one of
    :data:`OTHER_VARIABLES`: a misspelled setting is otherwise ignored without a word."""
    known = setting_names() | set(OTHER_VARIABLES)
    unknown = sorted(name for name in environ if name.upper().startswith("PAIRLOOP_") and name.upper() not in known)
    return [f"{name} is not a pairloop setting and is ignored"
            + (f" (did you mean {close[0]}?)" if (close := difflib.get_close_matches(name.upper(), known, n=1)) else "")
            + "; every setting: docs/configuration.md" for name in unknown]


@lru_cache
def get_settings() -> Settings:
    return Settings()
