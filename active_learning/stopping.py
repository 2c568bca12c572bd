"""When to stop acquiring labels: a maximum number of rounds, or stabilising predictions.

``KappaAverage`` follows small-text's criterion of that name (Bloodgood & Vijay-Shanker 2009):
predict a fixed stopping set after every round; once the mean Cohen's kappa between successive
rounds' predictions over the last ``window`` rounds reaches ``kappa``, the model has stopped
changing and more labels of this kind are unlikely to help.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# KappaAverage's defaults, and how many pool pairs the simulator and the dashboard predict for it.
STOPPING_KAPPA = 0.99
STOPPING_WINDOW = 3
STOPPING_SET = 1000


class MaxRounds:
    def __init__(self, rounds: int):
        self.rounds = rounds

    def stop(self, completed_rounds: int) -> bool:
        return completed_rounds >= self.rounds


class KappaAverage:
    def __init__(self, kappa: float = STOPPING_KAPPA, window: int = STOPPING_WINDOW):
        self.kappa = kappa
        self.window = window
        self.previous: np.ndarray | None = None
        self.kappas: list[float] = []

    def update(self, predictions: Sequence[str]) -> float | None:
        """Record one round's predictions on the stopping set; the kappa with the previous round."""
        current = np.asarray(predictions)
        kappa = None
        if self.previous is not None:
            if np.array_equal(current, self.previous):
                kappa = 1.0  # cohen_kappa_score is undefined when both are one constant class
            else:
                from sklearn.metrics import cohen_kappa_score

                kappa = float(cohen_kappa_score(self.previous, current))
            self.kappas.append(kappa)
        self.previous = current
        return kappa

    def stop(self) -> bool:
        recent = self.kappas[-self.window :]
        return len(recent) == self.window and float(np.mean(recent)) >= self.kappa
