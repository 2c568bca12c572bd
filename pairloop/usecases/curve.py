"""The learning curve of the store's rounds, and whether to stop buying labels.

One point per closed round: the labels the rounds acquired so far against the held-out
macro-F1 (and per-class F1) of the classifier that round's closing trained, as the closing
recorded them (``PAIRLOOP_TEST_SET`` must be set for held-out figures).

The stopping hint applies the project's criterion :class:`active_learning.stopping.KappaAverage`
(as the simulator does): the classifiers of the newest closed rounds predict one fixed stopping
set of the store's pairs; once the mean Cohen's kappa between successive rounds' predictions
over the window reaches the threshold, the model has stopped changing.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from active_learning.stopping import STOPPING_KAPPA, STOPPING_SET, STOPPING_WINDOW
from pairloop.usecases.context import Context
from store.models import Pair, Round
from store.states import RoundState


class CurvePoint(BaseModel):
    round: int
    labels: int = Field(description="Labels the closed rounds acquired up to this one (their verified pairs).")
    round_labels: int = Field(description="Pairs this round verified.")
    classifier: str | None = Field(description="The classifier version the round's closing trained.")
    training_labels: int | None = Field(description="Verified labels that classifier was trained on.")
    macro_f1: float | None = Field(description="Held-out macro-F1; null: no test set when it closed.")
    accuracy: float | None
    per_class_f1: dict[str, float] = Field(description="Held-out F1 per relation (from the round's test report).")
    closed_at: str | None


class LearningCurve(BaseModel):
    points: list[CurvePoint] = Field(description="One per closed round, oldest first.")
    classes: list[str] = Field(description="Relations with a per-class F1 in some point.")


def _per_class(report: str | None) -> dict[str, float]:
    """F1 per relation from a closing's held-out report (metrics.json); empty when it is gone."""
    if not report:
        return {}
    try:
        data = json.loads(Path(report).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: float(figures["f1"]) for name, figures in (data.get("per_class") or {}).items()}


def learning_curve(ctx: Context) -> LearningCurve:
    """Labels acquired against held-out macro-F1, one point per closed round, oldest first."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(Round.id, Round.metrics, Round.closed_at)
                            .where(Round.state == RoundState.CLOSED).order_by(Round.id)).all()
    points: list[CurvePoint] = []
    labels = 0
    for round_id, metrics, closed_at in rows:
        metrics = metrics or {}
        classifier: dict[str, Any] = metrics.get("classifier") or {}
        verified = int(metrics.get("verified") or 0)
        labels += verified
        points.append(CurvePoint(
            round=round_id, labels=labels, round_labels=verified, classifier=classifier.get("version"),
            training_labels=classifier.get("n_labels"), macro_f1=classifier.get("test_macro_f1"),
            accuracy=classifier.get("test_accuracy"), per_class_f1=_per_class(classifier.get("test_report")),
            closed_at=closed_at.isoformat() if closed_at else None))
    classes = sorted({name for point in points for name in point.per_class_f1})
    return LearningCurve(points=points, classes=classes)


class RoundKappa(BaseModel):
    round: int = Field(description="The round whose classifier is compared with the previous round's.")
    kappa: float


class StoppingHint(BaseModel):
    """KappaAverage on the newest closed rounds' classifiers."""

    criterion: str = Field(description="The criterion and its parameters, in words.")
    kappa: float = Field(description="The mean kappa that stops.")
    window: int = Field(description="Successive-round kappas averaged.")
    stopping_set: int = Field(description="Store pairs every classifier predicts.")
    kappas: list[RoundKappa]
    mean_kappa: float | None
    stop: bool = Field(description="The criterion is met: more rounds of this kind are unlikely to help.")
    message: str


_hints: dict[tuple, StoppingHint] = {}
_hints_lock = threading.Lock()


def _closed_classifiers(ctx: Context, wanted: int) -> list[tuple[int, str]]:
    """(round, classifier version) of the newest ``wanted`` closed rounds that trained one, oldest first."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(Round.id, Round.metrics).where(Round.state == RoundState.CLOSED)
                            .order_by(Round.id.desc())).all()
    found = [(rid, (m or {}).get("classifier", {}).get("version")) for rid, m in rows]
    return [(rid, version) for rid, version in found if version][:wanted][::-1]


def stopping_hint(ctx: Context, kappa: float = STOPPING_KAPPA, window: int = STOPPING_WINDOW) -> StoppingHint:
    """Whether KappaAverage(``kappa``, ``window``) says stop, on the classifiers of the newest
    ``window`` + 1 closed rounds. Their predictions are computed once per set of versions and
    kept in the process (versions never change)."""
    from active_learning.stopping import KappaAverage
    from classifier.data import store_pairs
    from classifier.registry import load_model, model_info

    criterion = f"KappaAverage: mean Cohen's kappa ≥ {kappa} between successive rounds' predictions " \
                f"over the last {window}"
    closed = _closed_classifiers(ctx, window + 1)
    with ctx.engine.connect() as conn:
        n_pairs, last_pair = conn.execute(select(func.count(), func.max(Pair.id))).one()

    def hint(message: str, **values: Any) -> StoppingHint:
        return StoppingHint(**{"criterion": criterion, "kappa": kappa, "window": window,
                               "stopping_set": min(n_pairs, STOPPING_SET), "kappas": [],
                               "mean_kappa": None, "stop": False, "message": message, **values})

    if len(closed) < window + 1:
        return hint(f"{len(closed)} closed round(s) with a classifier: the criterion needs {window + 1}.")
    key = (ctx.settings.db_url, tuple(closed), n_pairs, last_pair, kappa, window)
    with _hints_lock:
        if key in _hints:
            return _hints[key]
    missing = [v for _, v in closed if not Path(model_info(ctx.engine, v).path).exists()]
    if missing:
        return hint(f"the files of classifier version(s) {', '.join(missing)} are missing: no hint.")
    with ctx.engine.connect() as conn:
        pair_ids = conn.execute(select(Pair.id).order_by(Pair.id)).scalars().all()
    chosen = sorted(np.random.default_rng(0).permutation(pair_ids)[:STOPPING_SET].tolist())
    with ctx.engine.connect() as conn:
        stopping_set = store_pairs(conn, chosen)
    criterion_ = KappaAverage(kappa, window)
    kappas = []
    with ctx.progress.task("stopping hint: predicting the stopping set", len(closed)) as advance:
        for round_id, version in closed:
            model, _info = load_model(ctx.engine, version)
            value = criterion_.update(model.predict(stopping_set))
            if value is not None:
                kappas.append(RoundKappa(round=round_id, kappa=round(value, 4)))
            advance(1)
    mean = float(np.mean([k.kappa for k in kappas]))
    stop = criterion_.stop()
    message = (f"stop: predictions have stabilised (mean kappa {mean:.3f} ≥ {kappa}); more rounds of this "
               "kind are unlikely to help" if stop else
               f"go on: predictions still change (mean kappa {mean:.3f} < {kappa})")
    result = hint(message, kappas=kappas, mean_kappa=round(mean, 4), stop=stop)
    with _hints_lock:
        if len(_hints) >= 32:  # a long-running service: keep the recent ones
            _hints.pop(next(iter(_hints)))
        _hints[key] = result
    return result
