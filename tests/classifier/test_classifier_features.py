"""Encoders and pair features: symmetric, chunk-independent, exact fast scoring, any language."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from classifier.committee import RelationCommittee
from classifier.data import PairSet
from classifier.encoders import CharNgramTfidf, make_encoder
from classifier.features import PairFeaturiser
from classifier.model import RelationModel, check_vocabulary, make_featuriser
from classifier.scoring import PairScorer
from store.errors import BadInput
from store.formats.records import CatalogueItem

JAPANESE = [
    "池田工業社 けんだま 45670 2個（直送品）", "池田工業社 けん玉 サムライ ブルー 45590（直送品）",
    "油性ボールペン ジェットストリーム単色 0.5mm 黒インク 10本", "ゲルインクボールペン サラサクリップ 0.5mm 黒 10本",
    "リケンラップ 30cm×100m 1本", "ペーパータオル タウパーソフト M 中判 ダブル 1個（200組入）",
]


def _dense(matrix):
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


@pytest.mark.parametrize("features", ["tfidf", "tfidf-svd"])
def test_pair_features_do_not_depend_on_the_order_of_the_two_items(sample_truth, features):
    featuriser = make_featuriser(features).fit(sample_truth.items)
    vectors = featuriser.encode(sample_truth.items)
    forward = featuriser.features(vectors, sample_truth.ia, sample_truth.ib)
    backward = featuriser.features(vectors, sample_truth.ib, sample_truth.ia)
    np.testing.assert_allclose(_dense(forward), _dense(backward), atol=1e-6)


def test_category_columns_say_same_category_same_major_both_known():
    items = [CatalogueItem(1, "a", "Outdoor > Tents"), CatalogueItem(2, "b", "Outdoor > Tents"),
             CatalogueItem(3, "c", "Outdoor > Sleeping Bags"), CatalogueItem(4, "d", None)]
    featuriser = PairFeaturiser(CharNgramTfidf(min_df=1)).fit(items)
    vectors = featuriser.encode(items)
    columns = featuriser.category_columns(vectors, np.array([0, 0, 0]), np.array([1, 2, 3]))
    np.testing.assert_array_equal(columns, [[1, 1, 1], [0, 1, 1], [0, 0, 0]])


@pytest.mark.parametrize(("features", "parts"), [
    ("tfidf", ("diff", "prod")), ("tfidf", ("sum", "diff", "prod")), ("tfidf", ("prod",)),
    ("tfidf-svd", ("diff", "prod")),
])
def test_fast_scoring_equals_the_committee_on_explicit_features(sample_truth, features, parts):
    model = RelationModel.train(sample_truth, make_featuriser(features, parts), RelationCommittee(n_members=3))
    vectors = model.featuriser.encode(sample_truth.items)
    scorer = PairScorer(model.featuriser, model.committee, vectors)
    assert scorer.linear == (features == "tfidf")
    X = model.featuriser.features(vectors, sample_truth.ia, sample_truth.ib)
    np.testing.assert_allclose(scorer.member_proba(sample_truth.ia, sample_truth.ib),
                               model.committee.member_proba(X), atol=1e-5)


def test_chunked_scoring_equals_scoring_at_once(sample_truth):
    model = RelationModel.train(sample_truth, make_featuriser(), RelationCommittee(n_members=3))
    vectors = model.featuriser.encode(sample_truth.items)
    whole = model.committee.member_proba(model.featuriser.features(vectors, sample_truth.ia, sample_truth.ib))
    chunks = [p for _start, p in model.member_proba_chunks(vectors, sample_truth.ia, sample_truth.ib, chunk=97)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, atol=1e-5)


def test_char_ngrams_represent_japanese_titles():
    encoder = CharNgramTfidf(min_df=1).fit(JAPANESE)
    vectors = encoder.transform(JAPANESE)
    similarity = (vectors @ vectors.T).toarray()
    assert similarity[0, 1] > similarity[0, 2]  # two kendama toys are closer than a toy and a pen
    assert similarity[2, 3] > similarity[2, 4]  # two ballpoint pens are closer than a pen and cling film
    assert encoder.coverage(JAPANESE).min() == 1.0
    assert encoder.coverage(["Northpeak dome tent, 2-person"])[0] < 0.5


def test_a_pool_in_another_language_is_refused_with_a_clear_message(sample_truth, tmp_path):
    featuriser = make_featuriser().fit(sample_truth.items)
    items = [CatalogueItem(i, title) for i, title in enumerate(JAPANESE)]
    pool = PairSet(items, np.array([0, 2, 4]), np.array([1, 3, 5]), [1, 2, 3], source=str(tmp_path / "pool.tsv"))
    with pytest.raises(BadInput, match="shares no items with the featuriser's vocabulary") as err:
        check_vocabulary(featuriser, pool, "the pool")
    assert "pool.tsv" in str(err.value)
    assert check_vocabulary(featuriser, sample_truth, "the pool") == 1.0


def test_minilm_embeds_english_offline():
    encoder = make_encoder("minilm")
    vectors = encoder.transform(["dome tent for two", "backpacking tent", "fluoride toothpaste"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert encoder.coverage(["dome tent"])[0] == 1.0


def test_fast_scoring_equals_the_committee_with_a_domain_gate(sample_truth):
    """Round labels and a pool: the committee learns a domain gate; the n-gram scorer still
    matches it exactly (its stacked matrix carries the gated weights and the gate's)."""
    priority = np.zeros(len(sample_truth), dtype=bool)
    priority[::4] = True
    pool = sample_truth.subset(np.arange(1, len(sample_truth), 2))
    model = RelationModel.train(sample_truth, make_featuriser(), RelationCommittee(n_members=3), priority, pool)
    assert model.committee.domain_ is not None
    vectors = model.featuriser.encode(sample_truth.items)
    X = model.featuriser.features(vectors, sample_truth.ia, sample_truth.ib)
    np.testing.assert_allclose(PairScorer(model.featuriser, model.committee, vectors).member_proba(
        sample_truth.ia, sample_truth.ib), model.committee.member_proba(X), atol=1e-5)
    without_round_labels = RelationModel.train(sample_truth, make_featuriser(), RelationCommittee(n_members=3),
                                               None, pool)
    assert without_round_labels.committee.domain_ is None
