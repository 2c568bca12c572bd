"""Real data, KARL's out-of-distribution setting, shortened: the default strategy must beat the
seed-only model and random sampling at equal labels, without collapsing in distribution (README
has the full 10 × 30, 3-seed run)."""

from __future__ import annotations

import pytest

from active_learning.oracle import TruthOracle
from active_learning.simulation import SimulationConfig, SimulationData, Simulator, aggregate
from active_learning.strategies import DEFAULT_STRATEGY
from classifier.data import read_pair_file, require_labelled

pytestmark = [pytest.mark.datasets, pytest.mark.slow]


def test_default_strategy_beats_seed_only_and_random_out_of_distribution(fbl_ood):
    data = SimulationData(
        seed=require_labelled(read_pair_file(fbl_ood["seed"]), "seed"),
        pool=read_pair_file(fbl_ood["pool"]),
        test=require_labelled(read_pair_file(fbl_ood["test"]), "test"),
        id_test=require_labelled(read_pair_file(fbl_ood["id_test"]), "id test"),
    )
    simulator = Simulator(data, SimulationConfig(rounds=5, batch_size=30))
    oracle = TruthOracle(simulator.data.pool)
    default = aggregate([simulator.run(DEFAULT_STRATEGY, seed, oracle) for seed in (0, 1)])
    random = aggregate([simulator.run("random", seed, oracle) for seed in (0, 1)])
    assert default[0]["macro_f1"] == random[0]["macro_f1"] < 0.5  # seed only: FBL2023 does not transfer
    assert default[-1]["labels"] >= 140 and random[-1]["labels"] >= 140
    assert default[-1]["macro_f1"] >= default[0]["macro_f1"] + 0.1
    assert default[-1]["macro_f1"] > random[-1]["macro_f1"]
    # The goal, a drop of at most 0.005, is not met (about 0.012 after 10 rounds: README);
    # this guards against a collapse.
    assert default[-1]["id_macro_f1"] >= default[0]["id_macro_f1"] - 0.03
