"""Settings from the environment (``PAIRLOOP_*``) or a ``.env`` file, via pydantic-settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'pairloop.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
