"""The simulator's domain gate: learned once (seed: source, pool: target), used once labels are bought."""

from __future__ import annotations

import numpy as np

from active_learning.oracle import TruthOracle
from active_learning.simulation import SimulationConfig, SimulationData, Simulator
from classifier.data import read_pair_file, require_labelled


def _simulator(seed_pairs, sample_split, **config) -> Simulator:
    data = SimulationData(seed_pairs, read_pair_file(sample_split["pool"]),
                          require_labelled(read_pair_file(sample_split["test"]), "test"))
    return Simulator(data, SimulationConfig(rounds=2, batch_size=10, committee={"n_members": 3}, **config))


def test_committees_on_acquired_labels_use_the_gate_learned_from_seed_against_pool(seed_pairs, sample_split):
    simulator = _simulator(seed_pairs, sample_split)
    domain = simulator.domain
    assert domain is not None
    assert len(domain.source_gate_) == len(seed_pairs) and len(domain.target_gate_) == len(simulator.data.pool)
    _X, seed_only = simulator._fit([], [], 0)
    assert seed_only.domain_ is None  # nothing bought yet: nothing to keep apart
    truth = simulator.data.pool.labels
    acquired = [int(i) for i in np.flatnonzero(simulator.data.pool.known())[:12]]
    _X, committee = simulator._fit(acquired, truth[acquired].astype(str).tolist(), 1)
    assert committee.domain_ is domain
    assert committee.coef_stack_.shape[1] == 2 * 3 * len(committee.classes_) + 1
    run = simulator.run("margin", 0, TruthOracle(simulator.data.pool))
    assert [p["round"] for p in run["points"]] == [0, 1, 2]


def test_the_gate_can_be_switched_off(seed_pairs, sample_split):
    simulator = _simulator(seed_pairs, sample_split, domain_gate=False)
    assert simulator.domain is None
    truth = simulator.data.pool.labels
    acquired = [int(i) for i in np.flatnonzero(simulator.data.pool.known())[:12]]
    assert simulator._fit(acquired, truth[acquired].astype(str).tolist(), 1)[1].domain_ is None
