"""Stopping criteria: maximum rounds and stabilising predictions (KappaAverage)."""

from __future__ import annotations

from active_learning.stopping import KappaAverage, MaxRounds


def test_max_rounds():
    assert not MaxRounds(3).stop(2)
    assert MaxRounds(3).stop(3)


def test_kappa_average_stops_once_predictions_stop_changing():
    criterion = KappaAverage(kappa=0.99, window=3)
    changing = [["a", "b", "c", "a"], ["a", "a", "c", "b"], ["b", "a", "c", "b"]]
    for predictions in changing:
        criterion.update(predictions)
        assert not criterion.stop()
    stable = ["b", "a", "c", "a"]
    assert criterion.update(stable) < 0.99
    assert not criterion.stop()
    criterion.update(stable)
    criterion.update(stable)
    assert not criterion.stop()  # the window still holds the last change
    assert criterion.update(stable) == 1.0
    assert criterion.stop()


def test_one_constant_class_twice_counts_as_agreement():
    criterion = KappaAverage(window=1)
    criterion.update(["a", "a"])
    assert criterion.update(["a", "a"]) == 1.0 and criterion.stop()
