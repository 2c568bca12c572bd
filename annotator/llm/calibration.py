"""Contextual calibration (Zhao et al. 2021, "Calibrate before use").

A small model's answer letters carry a prior of their own: SmolLM2-135M says "A" whatever
the items are. Asking the same question about a content-free pair ("N/A" and "N/A") measures
that prior; dividing it out of every answer's probabilities (and renormalising) leaves what
the items themselves moved.
"""

from __future__ import annotations

from collections.abc import Sequence


def divide_prior(probs: Sequence[float], prior: Sequence[float]) -> list[float]:
    """``probs`` over the answer options with ``prior`` divided out, summing to one again."""
    ratios = [p / max(q, 1e-12) for p, q in zip(probs, prior, strict=True)]
    total = sum(ratios)
    return [r / total for r in ratios]
