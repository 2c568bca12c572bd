"""Adapting the local model to the humans' verdicts: a probe on its hidden states.

The pair is put to the embedded model exactly as the local labeller asks it (the same prompt
template and first vote plan, the same shared prefix cache), but instead of reading the answer
letters, the hidden states of a few layers are kept: at the prompt's last token (``last``) and
averaged over the pair's own tokens (``mean``). A class-balanced logistic regression on one
layer's state, calibrated by cross-validation (sigmoid), learns the humans' relations; its
probabilities make it a proposer whose model name is the adapted version
(``smollm2-135m+probe-<8 hex>``, the hash of the training set and the recipe).

Hidden states are cached on disk per model, keyed by the hash of the prompt text, so a
measurement never runs a pair through the model twice. The forward pass stops after the
deepest cached layer (a forward hook), so the layers above it cost nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from annotator.llm.base import PairText, Proposal, ProposalStatus
from annotator.llm.loading import DEFAULT_EMBEDDED, EMBEDDED_MODELS, model_label
from annotator.llm.prompts import get_template, vote_plans
from store.errors import BadInput
from store.files import atomic_open, atomic_path
from store.taxonomy import Relation

if TYPE_CHECKING:  # imported when the model loads: naming an adapter costs no torch import
    from annotator.llm.local import LocalLabeller

PROBE_PROMPT = "fbl9-v2"  # the prompt the probe reads the model on (the local labeller's default)
CACHED_LAYERS = (6, 9, 12)  # of 30 (SmolLM2-135M) or 18 (Gemma 3 270M); the pass stops at the last
POOLINGS = ("last", "mean")
DEFAULT_LAYER = 12
DEFAULT_POOLING = "mean"
ADAPTER_FILE, PROBE_FILE = "adapter.json", "probe.joblib"
ADAPTERS_DIR = Path("models", "llm-adapters")  # under DATA_DIR: one folder per adapter version
HIDDEN_DIR = Path("cache", "llm-hidden")  # under DATA_DIR: the hidden-state cache
ADAPTER_VERSION = re.compile(r"^[\w.-]+\+probe-[0-9a-f]{8}$")
Progress = Callable[[int], None]


def model_key(model: str | None) -> str:
    """The base model's short name in adapter versions: the embedded name, else the file's."""
    name = model or DEFAULT_EMBEDDED
    return name if name in EMBEDDED_MODELS else model_label(Path(name))


class _Stop(Exception):
    """Raised by the hook on the deepest wanted layer: nothing above it needs computing."""


class HiddenStates:
    """Hidden states of the probe prompt for pairs, cached in ``cache_dir`` (npz files, one per
    computed batch, keyed by the prompt's hash). Loads the model only when a pair is new."""

    def __init__(self, model: str | None = None, cache_dir: Path | None = None, model_cache: Path | None = None,
                 batch_size: int = 16, layers: Sequence[int] = CACHED_LAYERS):
        self.model, self.model_cache, self.batch_size = model, model_cache, batch_size
        self.layers = tuple(sorted(layers))
        self.key = model_key(model)
        signature = f"{self.key}-{PROBE_PROMPT}-l{'-'.join(map(str, self.layers))}"
        self.folder = cache_dir / signature if cache_dir else None
        self._labeller: LocalLabeller | None = None
        self._known: dict[str, np.ndarray] = self._load()

    def _load(self) -> dict[str, np.ndarray]:
        known: dict[str, np.ndarray] = {}
        if self.folder and self.folder.is_dir():
            for path in sorted(self.folder.glob("*.npz")):
                with np.load(path) as data:
                    known.update(zip(data["keys"].tolist(), data["states"], strict=True))
        return known

    @property
    def labeller(self) -> LocalLabeller:
        if self._labeller is None:
            from annotator.llm.local import LocalLabeller

            self._labeller = LocalLabeller(self.model, votes=1, prompt_version=PROBE_PROMPT,
                                           cache_dir=self.model_cache)
        return self._labeller

    @staticmethod
    def _prompt(pair: PairText) -> tuple[str, str]:
        """The (system, user) text the local labeller's first vote puts the pair in."""
        template = get_template(PROBE_PROMPT)
        plan = vote_plans(template, 1)[0]
        return template.system(plan), template.user(pair, plan)

    @staticmethod
    def prompt_hash(system: str, user: str) -> str:
        return hashlib.sha256(f"{system}\x00{user}".encode()).hexdigest()[:24]

    def states(self, pairs: Sequence[PairText], progress: Progress | None = None,
               max_seconds: float | None = None) -> np.ndarray:
        """(pairs, layers, poolings, hidden) float16 for every pair; raises TimeoutError when
        ``max_seconds`` run out (what was computed so far stays cached)."""
        advance = progress or (lambda _n: None)
        if not pairs:
            return np.zeros((0, len(self.layers), len(POOLINGS), 0), dtype=np.float16)
        started = time.monotonic()
        prompts = [self._prompt(p) for p in pairs]
        hashes = [self.prompt_hash(*prompt) for prompt in prompts]
        missing = _missing(hashes, self._known)
        advance(len(pairs) - len(missing))
        step = self.batch_size * 8
        for start in range(0, len(missing), step):
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                raise TimeoutError(f"hidden states: {max_seconds:.0f} s spent, {len(missing) - start} pairs left")
            chunk = missing[start : start + step]
            computed = self._compute([prompts[i] for i in chunk])
            fresh = {hashes[i]: state for i, state in zip(chunk, computed, strict=True)}
            self._known.update(fresh)
            self._save(fresh)
            advance(len(chunk))
        return np.stack([self._known[h] for h in hashes])

    def _save(self, fresh: dict[str, np.ndarray]) -> None:
        if not self.folder:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("".join(sorted(fresh)).encode()).hexdigest()[:16]
        with atomic_path(self.folder / f"{name}.npz") as staging, staging.open("wb") as stream:
            np.savez(stream, keys=np.array(list(fresh)), states=np.stack(list(fresh.values())))

    def _compute(self, prompts: Sequence[tuple[str, str]]) -> list[np.ndarray]:
        """Per prompt: (layers, poolings, hidden) float16. Prompts share the labeller's system
        message, whose prefix cache is expanded over each right-padded batch."""
        import torch

        scorer = self.labeller.scorer
        system = prompts[0][0]
        users = [scorer.encode_user(system, user) for _, user in prompts]
        blocks = scorer.model.base_model.layers
        out: list[np.ndarray] = [np.empty(0)] * len(users)
        captured: dict[int, Any] = {}

        def hook(index: int):
            def keep(_module, _inputs, output):
                captured[index] = output[0] if isinstance(output, tuple) else output
                if index == self.layers[-1]:
                    raise _Stop

            return keep

        # Layer l's output is hidden state l (hidden state 0 is the embeddings).
        handles = [blocks[layer - 1].register_forward_hook(hook(layer)) for layer in self.layers]
        try:
            with torch.inference_mode():
                for rows, ids, cache in scorer.batches(system, users, self.batch_size):
                    n, width = ids.shape
                    captured.clear()
                    try:
                        scorer.model.base_model(input_ids=ids, cache=cache, use_cache=True)
                    except _Stop:
                        pass
                    lengths = torch.tensor([len(users[i]) for i in rows])
                    mask = (torch.arange(width)[None, :] < lengths[:, None]).unsqueeze(-1).float()
                    pooled = []
                    for layer in self.layers:
                        h = captured[layer].float()
                        last = h[torch.arange(n), lengths - 1]
                        mean = (h * mask).sum(1) / lengths[:, None]
                        pooled.append(torch.stack([last, mean], dim=1))
                    states = torch.stack(pooled, dim=1).to(torch.float16).numpy()
                    for r, i in enumerate(rows):
                        out[i] = states[r]
        finally:
            for handle in handles:
                handle.remove()
        return out


def _missing(hashes: Sequence[str], known: dict[str, np.ndarray]) -> list[int]:
    """Positions of the first occurrence of each hash not yet known."""
    seen: set[str] = set()
    missing = []
    for i, h in enumerate(hashes):
        if h not in known and h not in seen:
            seen.add(h)
            missing.append(i)
    return missing


@dataclass(frozen=True)
class ProbeRecipe:
    """Which hidden state the probe reads and how it is fitted."""

    layer: int = DEFAULT_LAYER
    pooling: str = DEFAULT_POOLING
    c: float = 1.0  # inverse L2 strength of the logistic regression (features are standardised)

    def __post_init__(self) -> None:
        if self.layer not in CACHED_LAYERS:
            raise ValueError(f"layer {self.layer} is not read (choose from {', '.join(map(str, CACHED_LAYERS))})")
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r} (choose from {', '.join(POOLINGS)})")

    def features(self, states: np.ndarray) -> np.ndarray:
        return states[:, CACHED_LAYERS.index(self.layer), POOLINGS.index(self.pooling)].astype(np.float32)


def training_hash(keys: Sequence[Hashable], relations: Sequence[str], recipe: ProbeRecipe, model: str) -> str:
    """The fingerprint an adapter version is named by: which pairs carry which relation, and how
    the probe was made from them."""
    lines = sorted(f"{key!r}\t{relation}" for key, relation in zip(keys, relations, strict=True))
    lines.append(json.dumps({"model": model, "prompt": PROBE_PROMPT, **asdict(recipe)}, sort_keys=True))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass
class Adapter:
    """A fitted probe and what it was trained on (``adapter.json`` beside ``probe.joblib``)."""

    version: str
    base_model: str
    prompt_version: str
    recipe: ProbeRecipe
    trained_on: dict[str, Any]  # count, classes, hash, source, pair keys
    created: str
    estimator: Any = field(repr=False)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.estimator.classes_]

    def proba(self, states: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(self.recipe.features(states))

    def record(self) -> dict[str, Any]:
        return {"version": self.version, "base_model": self.base_model, "prompt_version": self.prompt_version,
                "recipe": asdict(self.recipe), "classes": self.classes, "trained_on": self.trained_on,
                "created": self.created}

    def save(self, root: Path) -> Path:
        """Write the adapter under ``root/<version>/`` (both files or neither); returns the folder."""
        import joblib

        folder = root / self.version
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.is_dir():  # the same training set and recipe: the same probe
            return folder
        with atomic_path(folder) as staging:
            staging.mkdir()
            joblib.dump(self.estimator, staging / PROBE_FILE)
            with atomic_open(staging / ADAPTER_FILE) as stream:
                json.dump(self.record(), stream, indent=2, ensure_ascii=False)
        return folder

    @classmethod
    def load(cls, folder: Path) -> Adapter:
        import joblib

        record = _record(folder)
        return cls(record["version"], record["base_model"], record["prompt_version"], ProbeRecipe(**record["recipe"]),
                   record["trained_on"], record["created"], joblib.load(folder / PROBE_FILE))


def fit_probe(states: np.ndarray, keys: Sequence[Hashable], relations: Sequence[str], model: str | None = None,
              recipe: ProbeRecipe | None = None, source: str = "store", seed: int = 0) -> Adapter:
    """A class-balanced logistic regression on one layer's hidden states, its probabilities
    calibrated by 5-fold cross-validation (sigmoid); named by its training set."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    recipe = recipe or ProbeRecipe()
    y = np.asarray(relations, dtype=str)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("the probe needs labels of at least two relations")
    folds = int(min(5, counts.min()))
    base = make_pipeline(StandardScaler(), LogisticRegression(C=recipe.c, class_weight="balanced", max_iter=2000,
                                                              random_state=seed))
    estimator = (CalibratedClassifierCV(base, method="sigmoid", cv=folds) if folds >= 2 else base)
    estimator.fit(recipe.features(states), y)
    key = model_key(model)
    digest = training_hash(keys, y.tolist(), recipe, key)
    trained_on = {"count": len(y), "classes": dict(zip(classes.tolist(), counts.tolist(), strict=True)),
                  "hash": digest, "source": source, "pairs": [plain_key(k) for k in keys]}
    return Adapter(f"{key}+probe-{digest[:8]}", key, PROBE_PROMPT, recipe, trained_on,
                   datetime.now(UTC).isoformat(timespec="seconds"), estimator)


def plain_key(key: Hashable) -> Any:
    """A pair key as JSON: a store pair id, or a file pair's two (source, id) items."""
    return key if isinstance(key, int | str) else json.loads(json.dumps(key))


class ProbeLabeller:
    """The adapted proposer: the probe's most probable relation, its probability the confidence.

    One reading per pair (no votes), so every answered proposal is ``agreed``; the trust gate
    decides, on human-verified pairs, whether its confidence can be trusted.
    """

    def __init__(self, adapter: Adapter, states: HiddenStates):
        self.adapter, self.states = adapter, states
        self.model_name = adapter.version
        self.prompt_version = adapter.prompt_version

    def propose(self, pairs: Sequence[PairText]) -> list[Proposal]:
        if not pairs:
            return []
        started = time.perf_counter()
        proba = self.adapter.proba(self.states.states(pairs))
        latency = (time.perf_counter() - started) / len(pairs)
        return [self._proposal(p, row, latency) for p, row in zip(pairs, proba, strict=True)]

    def _proposal(self, pair: PairText, proba: np.ndarray, latency: float) -> Proposal:
        best = int(proba.argmax())
        shares = ", ".join(f"{c} {p:.2f}" for c, p in zip(self.adapter.classes, proba, strict=True))
        return Proposal(pair.key, ProposalStatus.AGREED, Relation(self.adapter.classes[best]), None,
                        round(float(proba[best]), 6), f"probe on layer {self.adapter.recipe.layer}: {shares}",
                        self.model_name, self.prompt_version, latency_s=latency)


def is_adapter_version(model: str | None) -> bool:
    """Whether a configured model name names an adapter (``<base model>+probe-<8 hex>``)."""
    return bool(model and ADAPTER_VERSION.match(model))


def _record(folder: Path) -> dict[str, Any]:
    return json.loads((folder / ADAPTER_FILE).read_text(encoding="utf-8"))


def find_adapter(data_dir: Path, version: str) -> tuple[Path, dict[str, Any]]:
    """The folder and record of adapter ``version`` under ``data_dir``; BadInput when there is
    none, or when its base model is not an embedded one (a model file's path is not recorded)."""
    folder = data_dir.expanduser() / ADAPTERS_DIR / version
    if not (folder / ADAPTER_FILE).is_file() or not (folder / PROBE_FILE).is_file():
        raise BadInput(f"no adapted model {version} (PAIRLOOP_LLM_MODEL): `pairloop llm adapt` trains one "
                       "and saves it there", folder)
    record = _record(folder)
    if record["base_model"] not in EMBEDDED_MODELS:
        raise BadInput(f"the adapted model {version} reads {record['base_model']}, which is no embedded model "
                       f"({', '.join(EMBEDDED_MODELS)}): only those can be found again by name", folder)
    return folder, record


def probe_labeller(data_dir: Path, version: str, model_cache: Path | None = None,
                   batch_size: int = 16) -> ProbeLabeller:
    """The adapted proposer ``version`` saved under ``data_dir``, reading its base model through
    the hidden-state cache that `pairloop llm adapt` fills (a pair it trained on costs nothing)."""
    folder, _ = find_adapter(data_dir, version)
    adapter = Adapter.load(folder)
    states = HiddenStates(adapter.base_model, data_dir.expanduser() / HIDDEN_DIR, model_cache, batch_size)
    return ProbeLabeller(adapter, states)
