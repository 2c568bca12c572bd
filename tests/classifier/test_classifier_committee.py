"""RelationCommittee: scikit-learn's estimator API, KARL's balanced downsampling, stacked scoring."""

from __future__ import annotations

import numpy as np
import pytest
from modAL.uncertainty import margin_sampling
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from classifier.committee import DomainGate, RelationCommittee, _draw


def _blobs(n_per_class=(120, 40, 25), seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0, 0], [3, 0, 1, 0], [0, 3, 0, 1]], dtype=float)
    X = np.vstack([rng.normal(c, 1.0, size=(n, 4)) for c, n in zip(centres, n_per_class, strict=True)])
    y = np.repeat(["unrelated", "complementary", "substitute"], n_per_class)
    return X.astype(np.float32), y


def test_follows_the_estimator_api():
    X, y = _blobs()
    committee = RelationCommittee(n_members=5, C=1.0)
    assert set(committee.get_params()) == {"n_members", "C", "max_iter", "tol", "solver", "random_state"}
    fitted = clone(committee).fit(X, y)
    assert fitted.classes_.tolist() == ["complementary", "substitute", "unrelated"]
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(y), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert fitted.score(X, y) > 0.8
    assert cross_val_score(RelationCommittee(n_members=3), X, y, cv=3, scoring="f1_macro").mean() > 0.7


def test_members_probabilities_are_each_logistic_regressions():
    X, y = _blobs()
    committee = RelationCommittee(n_members=4).fit(X, y)
    members = committee.member_proba(X)
    assert members.shape == (4, len(y), 3)
    for member, estimator in zip(members, committee.estimators_, strict=True):
        np.testing.assert_allclose(member, estimator.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(committee.predict_proba(X), members.mean(axis=0), atol=1e-6)


def test_two_classes_are_scored_like_scikit_learn():
    X, y = _blobs((60, 30, 0))
    committee = RelationCommittee(n_members=3).fit(X, y)
    assert committee.classes_.tolist() == ["complementary", "unrelated"]
    for member, estimator in zip(committee.member_proba(X), committee.estimators_, strict=True):
        np.testing.assert_allclose(member, estimator.predict_proba(X), atol=1e-5)


def test_one_class_is_refused():
    X, _y = _blobs()
    with pytest.raises(ValueError, match="at least two classes"):
        RelationCommittee().fit(X, np.full(len(X), "substitute"))


def test_same_seed_same_committee_other_seed_other_downsample():
    X, y = _blobs()
    first = RelationCommittee(random_state=1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, RelationCommittee(random_state=1).fit(X, y).predict_proba(X))
    assert not np.allclose(first, RelationCommittee(random_state=2).fit(X, y).predict_proba(X))


def test_each_member_draws_a_balanced_sample_that_keeps_the_priority_samples():
    rng = np.random.default_rng(0)
    members = np.arange(100)
    kept = np.zeros(100, dtype=bool)
    kept[[3, 50, 97]] = True
    drawn = _draw(members, kept, 25, rng)
    assert len(drawn) == len(set(drawn)) == 25
    assert {3, 50, 97} <= set(drawn.tolist())
    assert len(_draw(members, np.ones(100, dtype=bool), 25, rng)) == 25


def test_priority_samples_reach_every_member():
    """Ten new 'unrelated' answers where the old labels say 'substitute': downsampled, a member
    sees one of them on average; kept, every member learns from all ten."""
    X, y = _blobs((300, 300, 30))
    new = np.random.default_rng(3).normal([0, 3, 0, 1], 0.3, size=(10, 4)).astype(np.float32)
    X2, y2 = np.vstack([X, new]), np.r_[y, ["unrelated"] * 10]
    priority = np.r_[np.zeros(len(y), bool), np.ones(10, bool)]
    plain = RelationCommittee(n_members=10).fit(X2, y2)
    kept = RelationCommittee(n_members=10).fit(X2, y2, priority=priority)
    index = list(kept.classes_).index("unrelated")
    assert kept.member_proba(new)[:, :, index].mean() > plain.member_proba(new)[:, :, index].mean() + 0.1


def test_modal_strategy_functions_work_on_it():
    X, y = _blobs()
    committee = RelationCommittee(n_members=3).fit(X, y)
    index, margin = margin_sampling(committee, X, n_instances=7)
    assert len(set(index.tolist())) == 7
    assert np.all(margin >= 0)


def _two_domains(n_source=400, n_target_labelled=60, n_target_pool=300, seed=0):
    """Feature 0 says the domain (about 0: source, about 3: target); feature 1 decides the
    label, the other way round in the target: ``f > 0`` is 'substitute' in the source and
    'unrelated' in the target. No single linear boundary on (domain, f) gets both right."""
    rng = np.random.default_rng(seed)

    def rows(n, domain):
        f = rng.choice([-2.0, 2.0], n) + rng.normal(0, 0.5, n)
        X = np.column_stack([rng.normal(3.0 * domain, 0.5, n), f, rng.normal(0, 1, n)]).astype(np.float32)
        positive = (f > 0) != bool(domain)
        return X, np.where(positive, "substitute", "unrelated")

    return rows(n_source, 0), rows(n_target_labelled, 1), rows(n_target_pool, 1)[0], rows


def test_a_domain_gate_learns_target_labels_without_moving_the_source_boundary():
    (Xs, ys), (Xt, yt), X_pool, rows = _two_domains()
    X, y = np.vstack([Xs, Xt]), np.r_[ys, yt]
    priority = np.r_[np.zeros(len(ys), bool), np.ones(len(yt), bool)]
    domain = DomainGate().fit(Xs, np.vstack([Xt, X_pool]))
    gate = np.r_[domain.source_gate_, domain.target_gate_[: len(yt)]]
    gated = RelationCommittee(n_members=4).fit(X, y, priority=priority, domain=domain, gate=gate)
    plain = RelationCommittee(n_members=4).fit(X, y, priority=priority)
    (Xs_new, ys_new), (Xt_new, yt_new) = rows(300, 0), rows(300, 1)
    assert gated.score(Xs_new, ys_new) > 0.95 and gated.score(Xt_new, yt_new) > 0.95
    assert min(plain.score(Xs_new, ys_new), plain.score(Xt_new, yt_new)) < 0.8  # one boundary for both
    # the stacked scoring (W | V | gate weights) is each member on [x, g(x)·x], averaged
    augmented = np.hstack([Xs_new, Xs_new * domain.gate(Xs_new)[:, None]])
    for member, estimator in zip(gated.member_proba(Xs_new), gated.estimators_, strict=True):
        np.testing.assert_allclose(member, estimator.predict_proba(augmented), atol=1e-4)


def test_a_domain_gate_needs_rows_on_both_sides():
    (Xs, _ys), (Xt, _yt), _pool, _rows = _two_domains()
    with pytest.raises(ValueError, match="at least 5 source and target rows"):
        DomainGate().fit(Xs, Xt[:3])
