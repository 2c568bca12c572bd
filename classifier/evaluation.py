"""Macro-F1, per-class precision / recall / F1 and the confusion matrix, as JSON and PNG."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from store.files import write_together


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


def plot_confusion(matrix: Sequence[Sequence[int]] | np.ndarray, labels: Sequence[str], title: str, path: Path,
                   *, rows: str = "true", columns: str = "predicted") -> Path:
    """A confusion matrix as a PNG: counts in the cells, ``rows`` down the side, ``columns`` along the bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(labels)
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(columns)
    ax.set_ylabel(rows)
    ax.set_title(title, fontsize=9)
    limit = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center", color="white" if value > limit else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(metrics: dict[str, Any], directory: Path, title: str) -> tuple[Path, Path]:
    """``metrics.json`` and ``confusion.png`` in ``directory``, written whole or not at all."""
    json_path, png_path = directory / "metrics.json", directory / "confusion.png"
    confusion = metrics["confusion"]
    write_together({
        json_path: lambda staging: staging.write_text(json.dumps(metrics, indent=2), encoding="utf-8"),
        png_path: lambda staging: plot_confusion(confusion["matrix"], confusion["labels"],
                                                 f"{title}\nmacro-F1 {metrics['macro_f1']:.3f}", staging),
    })
    return json_path, png_path
