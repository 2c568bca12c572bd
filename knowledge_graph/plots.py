"""The recall evaluation's figure: recall@k of every method on every slice, one row per source."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_recall(result: dict[str, Any], path: Path) -> Path:
    """``result``: :func:`knowledge_graph.evaluation.evaluate_sources`'s dictionary. Bars are
    recall@k for each k (lighter for the larger k); a slice's query count is in its title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    sources = result["sources"]
    ks = result["config"]["ks"]
    slices = list(sources[0]["slices"])
    methods = list(sources[0]["slices"][slices[0]]["methods"])
    fig, axes = plt.subplots(len(sources), len(slices), figsize=(3.4 * len(slices), 2.9 * len(sources)),
                             squeeze=False, sharey="row")
    x = np.arange(len(methods))
    width = 0.8 / len(ks)
    for row, source in zip(axes, sources, strict=True):
        for ax, name in zip(row, slices, strict=True):
            figures = source["slices"][name]
            for i, k in enumerate(ks):
                ax.bar(x + (i - (len(ks) - 1) / 2) * width,
                       [figures["methods"][m][f"recall@{k}"] for m in methods], width,
                       label=f"recall@{k}", color="C0", alpha=1.0 - 0.45 * i)
            ax.set_title(f"{source['source']} · {name} ({figures['queries']} queries)", fontsize=8)
            ax.set_xticks(x, methods, rotation=45, ha="right", fontsize=7)
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"held-out partners, evaluated on {sources[0]['evaluated_on']} "
                 f"(seed {result['config']['seed']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
