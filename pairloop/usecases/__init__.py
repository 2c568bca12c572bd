"""The use-case layer: every operation pairloop offers, once.

Each use case takes a :class:`~pairloop.usecases.context.Context` (settings, the store, the
clients it needs, a progress reporter) and returns a typed result (a pydantic model). The
CLI (``pairloop/commands``), the REST API (``pairloop/api``) and the demo are thin front ends
over these functions: they parse, call one use case and render its result.
"""
