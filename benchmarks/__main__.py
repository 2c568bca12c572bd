"""Run every benchmark: ``python -m benchmarks`` (or one: ``python -m benchmarks.import_speed``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def main() -> int:
    wanted = set(sys.argv[1:])
    for module in sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)):
        if module.startswith("_") or (wanted and module not in wanted):
            continue  # private helpers are not benchmarks
        print(f"\n=== benchmarks.{module} ===", flush=True)
        importlib.import_module(f"benchmarks.{module}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
