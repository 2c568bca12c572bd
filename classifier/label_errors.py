"""Verified labels that are likely wrong: confident learning over the committee's out-of-fold probabilities.

Every verified pair is scored by a committee that never saw it (stratified K folds, the whole
recipe refitted per fold as in :func:`classifier.validation.cross_validate`), its probabilities
moved from the members' balanced classes to the set's class shares (:func:`prior_shifted`).
cleanlab's confident joint then estimates how many labels are wrong, and ``find_label_issues``
flags that many of the lowest-scoring labels. Flagging changes nothing: an adjudicator decides.

The score (``self_confidence``: the probability of the given label; ``normalized_margin``: how
far it falls below the strongest other class) ranks the flags and picks which labels fill the
estimated count; the default was chosen on FBL2023 with labels flipped on purpose (see
docs/results/label-errors/README.md).

:func:`inject_noise` flips a share of the labels on purpose, so that precision and recall of the
flags can be measured where the wrong labels are known.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier.data import PairSet

RANKINGS = ("self_confidence", "normalized_margin")
DEFAULT_RANKING = "self_confidence"


def out_of_fold_proba(labelled: PairSet, folds: int = 5, features: str = "tfidf", seed: int = 0,
                      committee: dict[str, Any] | None = None,
                      on_fold: Callable[[], None] | None = None) -> tuple[np.ndarray, list[str]]:
    """Each pair's class probabilities from the committee trained on the other folds, and the
    classes (the columns, sorted). A class a fold's training part lacks gets probability 0 there."""
    from classifier.validation import fold_models

    y = labelled.labels.astype(str)
    classes = sorted(set(y.tolist()))
    proba = np.zeros((len(y), len(classes)))
    for test, model in fold_models(labelled, folds, features, seed, committee):
        columns = [classes.index(c) for c in model.classes]
        proba[np.ix_(test, columns)] = model.predict_proba(labelled.subset(test))
        if on_fold:
            on_fold()
    return proba, classes


@dataclass(frozen=True)
class Suspect:
    """A pair whose given label is likely wrong."""

    position: int  # in the labelled set
    key: Hashable  # the pair's key (a store pair id, or a file's item keys)
    given: str
    suggested: str  # the committee's most probable class
    quality: float  # the ranking's label-quality score: lower is more suspect


def prior_shifted(proba: np.ndarray, given: np.ndarray) -> np.ndarray:
    """The committee's probabilities moved to the labelled set's class shares (Bayes' rule for a
    prior shift). Each member trains on equal class counts, so its probabilities assume equal
    priors; confident learning's per-class thresholds and noise estimates assume probabilities
    calibrated to the data, and flag far more majority-class labels without the shift."""
    shifted = proba * (np.bincount(given, minlength=proba.shape[1]) / len(given))
    total = shifted.sum(axis=1, keepdims=True)
    return np.divide(shifted, total, out=np.full_like(shifted, 1.0 / proba.shape[1]), where=total > 0)


def label_quality(labelled: PairSet, proba: np.ndarray, classes: Sequence[str],
                  ranked_by: str = DEFAULT_RANKING) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The given labels as column indices, the prior-shifted probabilities, and each label's
    quality score under ``ranked_by`` (lower: more likely wrong)."""
    from cleanlab.rank import get_label_quality_scores

    if ranked_by not in RANKINGS:
        raise ValueError(f"unknown ranking {ranked_by!r}; choose from {', '.join(RANKINGS)}")
    given = np.array([list(classes).index(str(label)) for label in labelled.labels], dtype=np.int64)
    proba = prior_shifted(proba, given)
    return given, proba, get_label_quality_scores(given, proba, method=ranked_by)


def find_suspects(labelled: PairSet, proba: np.ndarray, classes: Sequence[str],
                  ranked_by: str = DEFAULT_RANKING) -> list[Suspect]:
    """The pairs cleanlab flags, most suspect first (``proba``: the committee's out-of-fold
    probabilities, columns ``classes``).

    cleanlab estimates how many labels are wrong from the confident joint, then flags that many
    of the lowest-scoring labels under ``ranked_by`` (``filter_by="low_<ranking>"``).
    """
    from cleanlab.filter import find_label_issues

    given, proba, quality = label_quality(labelled, proba, classes, ranked_by)
    flagged = find_label_issues(given, proba, filter_by=f"low_{ranked_by}", return_indices_ranked_by=ranked_by)
    return [Suspect(int(i), labelled.keys[i], classes[given[i]], classes[int(proba[i].argmax())], float(quality[i]))
            for i in flagged]


def inject_noise(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` with ``round(share · n)`` of them, drawn at random, changed to another class
    (uniformly among the other classes present), and the sorted positions changed."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must lie in [0, 1], got {share}")
    labels = np.asarray(labels, dtype=object)
    classes = sorted(set(labels.tolist()))
    if len(classes) < 2:
        raise ValueError("flipping a label needs at least two classes")
    rng = np.random.default_rng(seed)
    flipped = np.sort(rng.choice(len(labels), int(round(share * len(labels))), replace=False))
    noisy = labels.copy()
    for i in flipped:
        others = [c for c in classes if c != labels[i]]
        noisy[i] = others[rng.integers(len(others))]
    return noisy, flipped


@dataclass(frozen=True)
class Detection:
    """How well a flagged set finds the labels known to be wrong."""

    wrong: int  # labels known to be wrong
    flagged: int
    found: int  # flagged and wrong
    precision: float  # found / flagged (0 when nothing is flagged)
    recall: float  # found / wrong (0 when nothing is wrong)


def detection(flagged: Sequence[int], wrong: Sequence[int]) -> Detection:
    """Precision and recall of ``flagged`` positions against the ``wrong`` ones."""
    flagged_set, wrong_set = set(flagged), set(wrong)
    found = len(flagged_set & wrong_set)
    return Detection(len(wrong_set), len(flagged_set), found,
                     found / len(flagged_set) if flagged_set else 0.0,
                     found / len(wrong_set) if wrong_set else 0.0)


def average_precision(quality: np.ndarray, wrong: Sequence[int]) -> float:
    """Average precision of ranking every pair by ``quality`` (lowest first) at finding the
    ``wrong`` ones: how early a ranking puts them, over the whole set and not just the flagged."""
    from sklearn.metrics import average_precision_score

    truth = np.zeros(len(quality), dtype=bool)
    truth[list(wrong)] = True
    return float(average_precision_score(truth, -np.asarray(quality))) if truth.any() else 0.0


@dataclass(frozen=True)
class NoiseRun:
    """One ranking's flags on a labelled set with a share of its labels flipped on purpose."""

    share: float
    seed: int
    ranked_by: str
    detection: Detection
    average_precision: float  # of the whole ranking (see :func:`average_precision`)


def noise_runs(labelled: PairSet, share: float, seed: int, folds: int = 5, features: str = "tfidf",
               committee: dict[str, Any] | None = None,
               on_fold: Callable[[], None] | None = None) -> list[NoiseRun]:
    """Flip ``share`` of the labels (``seed``: which, and the folds), score the set out of fold
    once, and flag it under each ranking; the flipped labels are the wrong ones counted (a label
    wrong before the flip that gets flagged counts against precision)."""
    noisy, flipped = inject_noise(labelled.labels, share, seed)
    noisy_set = PairSet(labelled.items, labelled.ia, labelled.ib, labelled.keys, noisy, labelled.lines,
                        labelled.source)
    proba, classes = out_of_fold_proba(noisy_set, folds, features, seed, committee, on_fold)
    runs = []
    for ranking in RANKINGS:
        flagged = [s.position for s in find_suspects(noisy_set, proba, classes, ranking)]
        _given, _proba, quality = label_quality(noisy_set, proba, classes, ranking)
        runs.append(NoiseRun(share, seed, ranking, detection(flagged, flipped), average_precision(quality, flipped)))
    return runs


def plot_noise_runs(runs: Sequence[NoiseRun], path: Path, title: str) -> Path:
    """Precision, recall and average precision against the share flipped: one line per ranking
    (mean over seeds), each seed's value as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("precision", lambda r: r.detection.precision), ("recall", lambda r: r.detection.recall),
              ("average precision", lambda r: r.average_precision))
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.8))
    for ax, (name, value) in zip(axes, panels, strict=True):
        for ranking in sorted({r.ranked_by for r in runs}):
            mine = [r for r in runs if r.ranked_by == ranking]
            shares = sorted({r.share for r in mine})
            means = [float(np.mean([value(r) for r in mine if r.share == s])) for s in shares]
            line, = ax.plot(shares, means, marker="o", label=ranking)
            ax.scatter([r.share for r in mine], [value(r) for r in mine], color=line.get_color(), s=10, alpha=0.5)
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlabel("share of labels flipped")
        ax.set_ylabel(name)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
