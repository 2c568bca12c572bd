"""Confident learning over the committee's out-of-fold probabilities: flags on sets whose wrong
labels are known (labels flipped on purpose), and the measurement's own arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifier.data import PairSet, read_pair_file, require_labelled
from classifier.evaluation import macro_f1
from classifier.label_errors import (
    RANKINGS,
    average_precision,
    detection,
    find_suspects,
    inject_noise,
    out_of_fold_proba,
    prior_shifted,
)
from classifier.validation import cross_validate
from pairloop.settings import Settings
from pairloop.usecases.context import Context
from pairloop.usecases.label_errors import noise_experiment
from store.errors import BadInput


def with_labels(pairs: PairSet, labels: np.ndarray) -> PairSet:
    return PairSet(pairs.items, pairs.ia, pairs.ib, pairs.keys, labels, pairs.lines, pairs.source)


@pytest.fixture(scope="module")
def truth_slice(sample_truth) -> PairSet:
    """600 pairs of the sample catalogue's truth (clean labels), drawn at random."""
    return sample_truth.subset(np.sort(np.random.default_rng(0).choice(len(sample_truth), 600, replace=False)))


def test_inject_noise_flips_exactly_the_share_to_other_classes_and_is_seeded():
    labels = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20, dtype=object)
    noisy, flipped = inject_noise(labels, 0.1, seed=3)
    assert len(flipped) == 10 and len(set(flipped.tolist())) == 10
    changed = np.flatnonzero(noisy != labels)
    assert changed.tolist() == flipped.tolist()  # every flipped label changed, nothing else did
    assert set(noisy.tolist()) <= {"a", "b", "c"}
    again, same = inject_noise(labels, 0.1, seed=3)
    assert again.tolist() == noisy.tolist() and same.tolist() == flipped.tolist()
    other, elsewhere = inject_noise(labels, 0.1, seed=4)
    assert elsewhere.tolist() != flipped.tolist()
    assert inject_noise(labels, 0.0, seed=0)[1].size == 0
    with pytest.raises(ValueError):
        inject_noise(labels, 1.5, seed=0)


def test_detection_counts_precision_and_recall_against_the_known_wrong_labels():
    found = detection(flagged=[1, 2, 3, 9], wrong=[2, 3, 5, 7, 8])
    assert (found.wrong, found.flagged, found.found) == (5, 4, 2)
    assert found.precision == pytest.approx(0.5) and found.recall == pytest.approx(0.4)
    assert detection([], [1]).precision == 0.0 and detection([1], []).recall == 0.0
    # A ranking that puts both wrong labels first is perfect; last, it is poor.
    quality = np.array([0.9, 0.1, 0.8, 0.2, 0.7])
    assert average_precision(quality, [1, 3]) == pytest.approx(1.0)
    assert average_precision(1 - quality, [1, 3]) < 0.5


def test_prior_shift_moves_balanced_probabilities_to_the_labelled_shares():
    proba = np.array([[0.5, 0.5], [0.2, 0.8]])
    shifted = prior_shifted(proba, np.array([0, 0, 0, 1]))  # 3:1 in favour of class 0
    assert np.allclose(shifted.sum(axis=1), 1.0)
    assert shifted[0] == pytest.approx([0.75, 0.25])
    assert prior_shifted(proba, np.array([0, 1])) == pytest.approx(proba)  # equal shares: unchanged


def test_out_of_fold_probabilities_are_the_cross_validated_committees(truth_slice):
    """The same folds and recipe as cross_validate: per fold, the argmax of the out-of-fold
    probabilities scores the macro-F1 cross_validate reports."""
    from sklearn.model_selection import StratifiedKFold

    committee = {"n_members": 3}
    proba, classes = out_of_fold_proba(truth_slice, folds=3, seed=1, committee=committee)
    assert proba.shape == (600, 3) and classes == ["complementary", "substitute", "unrelated"]
    assert np.allclose(proba.sum(axis=1), 1.0)
    y = truth_slice.labels.astype(str)
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    folds = StratifiedKFold(3, shuffle=True, random_state=1).split(np.zeros(len(y)), y)
    per_fold = [round(macro_f1(y[test], predicted[test]), 4) for _train, test in folds]
    assert per_fold == cross_validate(truth_slice, 3, seed=1, committee=committee)["per_fold"]


@pytest.mark.parametrize("ranking", RANKINGS)
def test_flags_find_labels_flipped_on_purpose(truth_slice, ranking):
    """10 % of clean labels flipped: the flags find most of them, and most flags are flipped labels."""
    noisy, flipped = inject_noise(truth_slice.labels, 0.1, seed=0)
    noisy_set = with_labels(truth_slice, noisy)
    proba, classes = out_of_fold_proba(noisy_set, folds=5, seed=0)
    suspects = find_suspects(noisy_set, proba, classes, ranking)
    found = detection([s.position for s in suspects], flipped)
    assert found.precision >= 0.8 and found.recall >= 0.8, found
    quality = [s.quality for s in suspects]
    assert quality == sorted(quality)  # most suspect first
    for s in suspects:
        assert s.given == noisy[s.position] and s.key == truth_slice.keys[s.position]
    # Where a flipped label is flagged, the committee mostly suggests the label it had before the flip.
    restored = [s.suggested == truth_slice.labels[s.position] for s in suspects if s.position in set(flipped)]
    assert np.mean(restored) >= 0.8
    # The same set without flips: few flags (the sample's labels are clean).
    clean = find_suspects(truth_slice, *out_of_fold_proba(truth_slice, folds=5, seed=0), ranking)
    assert len(clean) < len(suspects) / 10


@pytest.mark.datasets
def test_noise_experiment_on_a_slice_of_fbl2023(datasets, tmp_path):
    """The measurement end to end on FBL2023's first 900 rows: results.json and the PNG, one run
    per share, seed and ranking, with counts that add up."""
    lines = (datasets / "fbl" / "FBL2023.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    part = tmp_path / "fbl2023-head.tsv"
    part.write_text("".join(lines[:901]), encoding="utf-8")
    labelled = len(require_labelled(read_pair_file(part), "slice"))
    ctx = Context(Settings(data_dir=tmp_path / "data"))
    result = noise_experiment(ctx, part, [0.1], [0], tmp_path / "out", folds=3)
    assert result.labelled == labelled and {r.ranked_by for r in result.runs} == set(RANKINGS)
    written = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert written["runs"] == [r.model_dump() for r in result.runs]
    assert (tmp_path / "out" / "results.png").read_bytes()[:4] == b"\x89PNG"
    for run in result.runs:
        assert run.wrong == round(0.1 * labelled) and 0 < run.found <= min(run.flagged, run.wrong)
        assert run.precision == pytest.approx(run.found / run.flagged, abs=1e-4)
        assert run.recall == pytest.approx(run.found / run.wrong, abs=1e-4)
    with pytest.raises(BadInput, match="--shares"):
        noise_experiment(ctx, part, [1.5], [0], tmp_path / "bad")
