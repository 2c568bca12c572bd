"""Trained models as numbered versions: a file under ``<models dir>/<version>/`` plus a
``classifier_versions`` row (featuriser settings, committee parameters, training-label hash).

A version is written whole or not at all: the file goes to a temporary folder that is
renamed into place only once the database row is committed.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
from sqlalchemy import Engine, func, select, update

from classifier.model import RelationModel
from store.errors import BadInput
from store.models import ClassifierVersion

FILE = "model.joblib"


@dataclass(frozen=True)
class ModelInfo:
    version: str
    path: str
    featuriser: dict[str, Any]
    params: dict[str, Any]
    labels_hash: str
    n_labels: int
    metrics: dict[str, Any] | None


def _info(row: ClassifierVersion) -> ModelInfo:
    return ModelInfo(row.version, row.path, row.featuriser, row.params, row.labels_hash, row.n_labels, row.metrics)


def save_model(engine: Engine, model: RelationModel, models_dir: Path, labels_hash: str, n_labels: int,
               metrics: dict[str, Any] | None = None) -> ModelInfo:
    """Persist ``model`` as the next version and record it; returns what was recorded."""
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=models_dir))
    target: Path | None = None
    try:
        joblib.dump(model, staging / FILE)
        with engine.begin() as conn:
            count = conn.execute(select(func.count()).select_from(ClassifierVersion)).scalar_one()
            version = f"c{count + 1:04d}-{labels_hash[:8]}"
            row = {
                "version": version,
                "path": str(models_dir / version / FILE),
                "featuriser": model.settings(),
                "params": dict(model.committee.get_params()),
                "labels_hash": labels_hash,
                "n_labels": n_labels,
                "metrics": metrics,
            }
            conn.execute(ClassifierVersion.__table__.insert().values(**row))
            staging.rename(models_dir / version)  # before commit: a failed rename rolls the row back
            target = models_dir / version
    except BaseException:
        if target is not None:  # the commit itself failed after the rename
            shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ModelInfo(**row)


def latest_version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        stmt = select(ClassifierVersion.version).order_by(ClassifierVersion.created_at.desc(),
                                                          ClassifierVersion.version.desc()).limit(1)
        return conn.execute(stmt).scalar_one_or_none()


def model_info(engine: Engine, version: str | None = None) -> ModelInfo:
    """The named version, or the newest; a clear error when there is none."""
    version = version or latest_version(engine)
    if version is None:
        raise BadInput("no trained model yet: run `pairloop train` first")
    with engine.connect() as conn:
        row = conn.execute(select(ClassifierVersion.__table__)
                           .where(ClassifierVersion.version == version)).first()
    if row is None:
        raise BadInput(f"no classifier version {version!r}")
    return _info(row)


def load_model(engine: Engine, version: str | None = None) -> tuple[RelationModel, ModelInfo]:
    info = model_info(engine, version)
    path = Path(info.path)
    if not path.exists():
        raise BadInput(f"the file of classifier version {info.version} is missing", path)
    return joblib.load(path), info


def record_metrics(engine: Engine, version: str, name: str, metrics: dict[str, Any]) -> None:
    """Add (or replace) one named evaluation in the version's metrics."""
    with engine.begin() as conn:
        current = conn.execute(
            select(ClassifierVersion.metrics).where(ClassifierVersion.version == version)
        ).scalar_one()
        merged = {**(current or {}), name: metrics}
        conn.execute(update(ClassifierVersion).where(ClassifierVersion.version == version).values(metrics=merged))
