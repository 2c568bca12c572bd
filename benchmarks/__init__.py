"""Benchmarks: each module has a ``main()`` that prints its figures next to a baseline from the same run."""
