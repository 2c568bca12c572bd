"""Run the benchmarks: ``python -m benchmarks`` runs every one; ``python -m benchmarks NAME
[OPTIONS]`` runs one with its options (``python -m benchmarks NAME --help`` lists them)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def benchmark_names() -> list[str]:
    """Every module in ``benchmarks/`` but the private helpers (``_postgres``)."""
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))


def run(name: str, options: list[str]) -> None:
    print(f"\n=== benchmarks.{name} ===", flush=True)
    importlib.import_module(f"benchmarks.{name}").main(options)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = benchmark_names()
    if not argv:
        for name in names:
            run(name, [])
        return 0
    name, options = argv[0], argv[1:]
    if name not in names:
        print(f"unknown benchmark {name!r} (known: {', '.join(names)})", file=sys.stderr)
        return 2
    run(name, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
