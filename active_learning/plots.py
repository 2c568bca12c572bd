"""Learning-curve figures: one line per strategy (mean over seeds) with its min–max band."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_curves(curves: dict[str, list[dict[str, Any]]], path: Path, title: str) -> Path:
    """``curves``: strategy → aggregated points (``labels``, ``macro_f1`` and optional spread and
    ``id_macro_f1``). A second panel shows in-distribution macro-F1 when it was measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_id = any("id_macro_f1" in p for points in curves.values() for p in points)
    fig, axes = plt.subplots(1, 2 if with_id else 1, figsize=(11 if with_id else 6.5, 4.4), squeeze=False)
    panels = [("macro_f1", "test macro-F1")] + ([("id_macro_f1", "in-distribution macro-F1")] if with_id else [])
    for ax, (metric, label) in zip(axes[0], panels, strict=True):
        for name, points in curves.items():
            x = [p["labels"] for p in points]
            line, = ax.plot(x, [p[metric] for p in points], marker="o", markersize=3, label=name)
            if f"{metric}_min" in points[0]:
                ax.fill_between(x, [p[f"{metric}_min"] for p in points], [p[f"{metric}_max"] for p in points],
                                color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_xlabel("labels acquired")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
