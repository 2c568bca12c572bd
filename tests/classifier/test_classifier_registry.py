"""Model versions: persisted file + classifier_versions row, loaded back identical (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from classifier.committee import RelationCommittee
from classifier.data import labels_hash
from classifier.model import RelationModel, make_featuriser
from classifier.registry import load_model, model_info, record_metrics, save_model
from store.errors import BadInput
from store.models import ClassifierVersion


def test_versions_are_saved_recorded_and_loaded(engine, tmp_path, sample_seed, sample_truth):
    models = tmp_path / "models"
    model = RelationModel.train(sample_seed, make_featuriser(), RelationCommittee(n_members=3))
    first = save_model(engine, model, models, labels_hash(sample_seed), len(sample_seed), {"note": 1})
    assert first.version.startswith("c0001-") and first.n_labels == 30
    assert first.featuriser["encoder"] == "tfidf" and first.params["n_members"] == 3
    loaded, info = load_model(engine)
    assert info == first
    np.testing.assert_allclose(loaded.predict_proba(sample_truth), model.predict_proba(sample_truth), atol=1e-6)

    second = save_model(engine, model, models, labels_hash(sample_truth), len(sample_truth))
    assert second.version.startswith("c0002-") and second.labels_hash != first.labels_hash
    assert model_info(engine).version == second.version
    assert load_model(engine, first.version)[1].version == first.version
    assert sorted(p.name for p in models.iterdir()) == [first.version, second.version]

    record_metrics(engine, first.version, "test.csv", {"macro_f1": 0.9})
    assert model_info(engine, first.version).metrics == {"note": 1, "test.csv": {"macro_f1": 0.9}}


def test_no_model_or_unknown_version_is_a_clear_error(engine):
    with pytest.raises(BadInput, match="no trained model yet"):
        load_model(engine)
    with pytest.raises(BadInput, match="no classifier version 'c9999'"):
        model_info(engine, "c9999")


def test_a_failed_save_leaves_neither_row_nor_folder(engine, tmp_path, sample_seed):
    models = tmp_path / "models"
    model = RelationModel.train(sample_seed, make_featuriser(), RelationCommittee(n_members=2))
    save_model(engine, model, models, "a" * 64, 30)
    (models / "c0002-bbbbbbbb").write_text("in the way")  # the next version's folder cannot be created
    with pytest.raises(OSError):
        save_model(engine, model, models, "b" * 64, 30)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ClassifierVersion)).scalar_one() == 1
    assert sorted(p.name for p in models.iterdir()) == ["c0001-aaaaaaaa", "c0002-bbbbbbbb"]
