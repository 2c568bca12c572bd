"""Rendering the dashboard's pages: templates, the headers every answer carries, the error page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pairloop.api.dashboard import charts
from pairloop.api.dashboard.auth import CSRF_FIELD, SESSION_COOKIE
from store.errors import PairloopError

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_PATH = "/dashboard/static"
# Only this server's own files: no inline script or style, no other origin, not framed.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NAV = (("rounds", "/", "Rounds"), ("curve", "/dashboard/curve", "Learning curve"),
       ("annotators", "/dashboard/annotators", "Annotators"), ("llm", "/dashboard/llm", "LLM"),
       ("queue", "/dashboard/queue", "Queue"), ("snapshots", "/dashboard/snapshots", "Snapshots"))


def _figure(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _when(value: datetime | float | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = datetime.fromtimestamp(value).astimezone()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(figure=_figure, percent=_percent, when=_when)
templates.env.globals.update(nav=NAV, static=STATIC_PATH, csrf_field=CSRF_FIELD, charts=charts)


def secured(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A page or fragment with the session's CSRF token at hand (``csrf``) and the dashboard's headers."""
    session = getattr(request.state, "session", None)
    return secured(templates.TemplateResponse(request, template, {"csrf": session.csrf if session else "", **context},
                                              status_code=status_code))


def is_dashboard(request: Request) -> bool:
    path = request.url.path
    return path == "/" or path.startswith("/dashboard/")


def error_page(request: Request, exc: PairloopError) -> Response:
    """A use case's error on a dashboard page: its message, with the status the API would answer.
    Only a logged-in caller sees the message (an error page is no way around the login)."""
    logged_in = request.app.state.sessions.get(request.cookies.get(SESSION_COOKIE)) is not None
    message = str(exc) if logged_in else "log in to the dashboard first"
    return render(request, "error.html", exc.http_status if logged_in else 401, message=message,
                  kind=type(exc).__name__)
