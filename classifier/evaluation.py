"""Macro-F1, per-class precision / recall / F1 and the confusion matrix, as JSON and PNG."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Macro-F1 over the classes that occur in the truth or the predictions."""
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Macro-F1, and per-class figures and the confusion matrix over ``labels`` (the model's classes)."""
    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "n": len(y_true),
        "macro_f1": round(macro_f1(y_true, y_pred), 4),
        "accuracy": round(float(np.mean(np.asarray(y_true) == np.asarray(y_pred))), 4),
        "per_class": {
            label: {"precision": round(float(p), 4), "recall": round(float(r), 4),
                    "f1": round(float(f), 4), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion": {"labels": labels, "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
    }


def plot_confusion(metrics: dict[str, Any], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = metrics["confusion"]["labels"]
    matrix = np.asarray(metrics["confusion"]["matrix"])
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\nmacro-F1 {metrics['macro_f1']:.3f}", fontsize=10)
    limit = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > limit else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(metrics: dict[str, Any], directory: Path, title: str) -> tuple[Path, Path]:
    """``metrics.json`` and ``confusion.png`` in ``directory``, written whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, png_path = directory / "metrics.json", directory / "confusion.png"
    partial_json, partial_png = json_path.with_suffix(".json.part"), png_path.with_suffix(".part.png")
    partial_json.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    plot_confusion(metrics, partial_png, title)
    partial_json.replace(json_path)
    partial_png.replace(png_path)
    return json_path, png_path
