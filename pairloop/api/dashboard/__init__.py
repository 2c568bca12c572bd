"""The ML engineer's dashboard at ``/``: server-rendered pages over the same use cases as the CLI
and the REST API, behind a login with the service's API token.

Pages: rounds (``/``), learning curve, annotators, LLM agreement and disagreements, queue,
snapshots. Everything it serves (styles, one small script, the SVG charts) comes from this
package: it works without internet.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from pairloop.api.dashboard.auth import LoginRequired, Sessions, login_redirect
from pairloop.api.dashboard.jobs import JobRunner
from pairloop.api.dashboard.render import STATIC, STATIC_PATH, error_page, is_dashboard
from pairloop.api.dashboard.routes import router

__all__ = ["error_page", "install", "is_dashboard", "start", "stop"]


async def _login_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return login_redirect(exc.next_path)


def install(app: FastAPI) -> None:
    """Add the dashboard's routes, its static files and its login to ``app``."""
    app.state.sessions = Sessions()
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="dashboard-static")
    app.add_exception_handler(LoginRequired, _login_required)


def start(app: FastAPI) -> None:
    """Start the worker of long actions (from the service's lifespan)."""
    app.state.jobs = JobRunner()


def stop(app: FastAPI) -> None:
    app.state.jobs.stop()
