"""Labels of the sample catalogue's truth with a known share flipped: where the wrong labels are known."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from classifier.label_errors import inject_noise


def truth_rows(truth: Path, pairs: int) -> list[dict[str, str]]:
    """``pairs`` rows of a truth file, drawn at random (seed 0), in file order."""
    with truth.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    return [rows[i] for i in np.sort(np.random.default_rng(0).choice(len(rows), pairs, replace=False))]


def write_noisy_labels(truth: Path, path: Path, pairs: int = 300, share: float = 0.1
                       ) -> dict[frozenset, tuple[str, str]]:
    """``pairs`` of the truth as the labels of two agreeing annotators, ``share`` of them flipped
    (both answers), written to ``path``: each pair's (given, true) relation by its item ids."""
    rows = truth_rows(truth, pairs)
    noisy, _flipped = inject_noise(np.array([r["relation"] for r in rows], dtype=object), share, seed=0)
    labels = {}
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        for row, given in zip(rows, noisy, strict=True):
            labels[frozenset((row["item_a"], row["item_b"]))] = (given, row["relation"])
            fine = row["fine_code"] if given == row["relation"] else ""
            for actor in ("annotator-1", "annotator-2"):
                writer.writerow({**row, "relation": given, "fine_code": fine, "actor": actor})
    return labels
