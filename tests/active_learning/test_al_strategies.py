"""Query strategies: rankings, modAL equivalence, determinism, the dynamic strategy's shift."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pytest
from modAL.batch import ranked_batch as modal_ranked_batch
from modAL.disagreement import KL_max_disagreement
from modAL.uncertainty import classifier_entropy, classifier_margin, classifier_uncertainty

from active_learning.shift import diversity_space, domain_shift
from active_learning.strategies import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    QueryContext,
    _ModalCommittee,
    get_strategy,
    ranked_batch,
)
from pairloop.commands import simulate
from store.errors import BadInput


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _context(sample_model, pool_context, seed=0) -> QueryContext:
    _pool, X_pool, X_labelled = pool_context
    return QueryContext(sample_model.committee, X_pool, X_labelled, rng(seed), notes={})


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_ranks_distinct_pool_pairs_reproducibly(name, sample_model, pool_context):
    first = get_strategy(name).query(_context(sample_model, pool_context), 25)
    again = get_strategy(name).query(_context(sample_model, pool_context), 25)
    size = pool_context[1].shape[0]
    assert len(first.index) == len(set(first.index.tolist())) == 25
    assert first.index.min() >= 0 and first.index.max() < size
    np.testing.assert_array_equal(first.index, again.index)
    np.testing.assert_allclose(first.score, again.score)


@pytest.mark.parametrize(("name", "measure", "sign"), [
    ("least_confidence", classifier_uncertainty, 1), ("entropy", classifier_entropy, 1),
    ("margin", classifier_margin, -1),
])
def test_uncertainty_strategies_take_the_most_uncertain_first(name, measure, sign, sample_model, pool_context):
    context = _context(sample_model, pool_context)
    ranking = get_strategy(name).query(context, 40)
    utility = sign * measure(sample_model.committee, context.X_pool)
    assert np.all(np.diff(ranking.score) <= 1e-12)  # best first
    np.testing.assert_allclose(utility[ranking.index], np.sort(utility)[::-1][:40], atol=1e-6)


def test_query_by_committee_is_modals_max_disagreement(sample_model, pool_context):
    context = _context(sample_model, pool_context)
    ranking = get_strategy("qbc").query(context, 30)
    disagreement = KL_max_disagreement(_ModalCommittee(sample_model.committee), context.X_pool)
    np.testing.assert_allclose(ranking.score, np.sort(disagreement)[::-1][:30], rtol=1e-5)


@dataclass
class _Learner:
    X_training: np.ndarray
    on_transformed: bool = False


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranked_batch_picks_what_modal_ranked_batch_picks(seed):
    generator = rng(seed)
    pool, labelled, uncertainty = generator.normal(size=(400, 6)), generator.normal(size=(60, 6)), generator.random(400)
    ours = ranked_batch(uncertainty, pool, labelled, 30)
    theirs, _ = modal_ranked_batch(_Learner(labelled), pool, uncertainty, n_instances=30, metric="euclidean",
                                   n_jobs=None)
    np.testing.assert_array_equal(ours.index, theirs)


def test_domain_shift_tells_a_new_distribution_from_the_same_one():
    generator = rng(4)
    labelled = generator.normal(size=(600, 16))
    same = generator.normal(size=(600, 16))
    moved = generator.normal(size=(600, 16)) + np.r_[1.5, np.zeros(15)]
    assert domain_shift(labelled, same, rng(0)) < 0.15
    assert domain_shift(labelled, moved, rng(0)) > 0.6


def test_dynamic_records_the_shift_and_spreads_its_batch(sample_model, pool_context):
    context = _context(sample_model, pool_context)
    ranking = get_strategy("dynamic").query(context, 20)
    assert 0.0 <= context.notes["shift"] <= 1.0
    pool, _ = diversity_space(context.X_pool, context.X_labelled)
    chosen = pool[ranking.index]
    distances = np.linalg.norm(chosen[:, None] - chosen[None], axis=2)[np.triu_indices(20, 1)]
    assert distances.min() > 0  # no pair picked twice, no exact duplicates in one batch


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(BadInput, match="unknown strategy 'best'; choose from random, least_confidence"):
        get_strategy("best")


def test_the_simulate_command_lists_the_registered_strategies_and_defaults_to_the_default():
    assert simulate.STRATEGY_NAMES.split(", ") == list(STRATEGIES)
    defaults = {p.name: p.default for p in inspect.signature(simulate.simulate).parameters.values()}
    assert defaults["strategy"].default == DEFAULT_STRATEGY
