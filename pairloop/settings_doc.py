"""docs/configuration.md, generated from :class:`pairloop.settings.Settings` so that it cannot drift.

``python -m pairloop.settings_doc`` rewrites the page; ``--check`` only says whether it is current
(exit 1 when not). tests/pairloop/test_settings_doc.py runs the same comparison.
"""

from __future__ import annotations

import argparse
import enum
import sys
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
from pydantic.fields import FieldInfo

from pairloop.settings import GROUPS, OTHER_VARIABLES, Settings, env_name

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
REGENERATE = "python -m pairloop.settings_doc"


_BASE_TYPES = {str: "text", int: "integer", float: "number", Path: "path"}
_BOUNDS = {annotated_types.Ge: "≥", annotated_types.Gt: ">", annotated_types.Le: "≤", annotated_types.Lt: "<"}


def _code(value: Any) -> str:
    return f"`{value}`"


def type_text(name: str, info: FieldInfo) -> str:
    """The field's type as a reader needs it: the values it takes and its bounds."""
    annotation = info.annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (annotation,) = (arg for arg in typing.get_args(annotation) if arg is not type(None))
    if typing.get_origin(annotation) is typing.Literal:
        return " or ".join(_code(v) for v in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " or ".join(_code(member.value) for member in annotation)
    if annotation not in _BASE_TYPES:
        raise TypeError(f"settings_doc cannot describe the type of {name}: {annotation!r}")
    bounds = [f"{symbol} {getattr(m, type(m).__name__.lower()):g}"
              for m in info.metadata if (symbol := _BOUNDS.get(type(m)))]
    return " ".join([_BASE_TYPES[annotation], ", ".join(bounds)]).strip()


def default_text(name: str, info: FieldInfo) -> str:
    """The default as written in the page; for ``None``, what leaving the setting unset means."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    unset = extra.get("unset")
    default = info.default
    if default is None:
        return str(unset) if unset else "–"
    if unset:
        raise ValueError(f"{name} has a default ({default!r}); its 'unset' text would never apply")
    if isinstance(default, enum.Enum):
        return _code(default.value)
    if isinstance(default, float):
        return _code(f"{default:g}")
    return _code(default)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The whole page, from the class's fields (never from this process's environment)."""
    fields = Settings.model_fields
    grouped = [name for names in GROUPS.values() for name in names]
    ungrouped = [name for name in fields if name not in grouped]
    unknown = [name for name in grouped if name not in fields]
    twice = sorted({name for name in grouped if grouped.count(name) > 1})
    if ungrouped or unknown or twice:
        raise ValueError(f"pairloop.settings.GROUPS must hold every setting once: not in a group {ungrouped}, "
                         f"not a setting {unknown}, in several groups {twice}")
    lines = [
        "# Configuration",
        "",
        f"<!-- Generated from pairloop/settings.py by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "Every setting is an environment variable `PAIRLOOP_<NAME>`, or a line `PAIRLOOP_<NAME>=value`",
        "in a `.env` file in the working directory; the environment wins over `.env`. A `PAIRLOOP_*`",
        "environment variable that is not a setting is ignored, and every `pairloop` command says so",
        "on stderr with the setting it resembles (names in `.env` are not checked).",
        "A setting unset is its default; where the default is derived, it says how",
        "(`$DATA_DIR` is `PAIRLOOP_DATA_DIR`).",
        "",
    ]
    for title, names in GROUPS.items():
        lines += [f"## {title}", "", "| variable | type | default | meaning |", "|---|---|---|---|"]
        for name in names:
            info = fields[name]
            if not info.description:
                raise ValueError(f"setting {name} has no description")
            lines.append(f"| `{env_name(name)}` | {_cell(type_text(name, info))} | "
                         f"{_cell(default_text(name, info))} | {_cell(info.description)} |")
        lines.append("")
    lines += [
        "## Variables that are not settings",
        "",
        "The tests and the benchmarks read these (`make` sets `PAIRLOOP_DATASETS`); pairloop itself does not.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {_cell(default)} | {_cell(meaning)} |"
              for name, (default, meaning) in OTHER_VARIABLES.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale; write nothing")
    args = parser.parse_args(argv)
    page = render()
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else None
    if args.check:
        if current != page:
            print(f"{PAGE.relative_to(PAGE.parents[1])} is stale: run `{REGENERATE}` to regenerate it",
                  file=sys.stderr)
            return 1
        return 0
    if current != page:
        PAGE.write_text(page, encoding="utf-8")
    print(f"{PAGE.relative_to(PAGE.parents[1])}: {'unchanged' if current == page else 'written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
