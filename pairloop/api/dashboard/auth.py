"""The dashboard's login: the service's API token, once, for a session cookie.

The cookie holds a random session id (never the token), HttpOnly, SameSite=Strict, Path=/;
sessions live in the process (a restart asks to log in again) for ``SESSION_TTL_S``. Each
session has its own CSRF token, which every form carries in a hidden field and every POST
must send back; the login form has its own, a double-submit cookie set with the form.

Without a session a page redirects to the login form; a fragment or chart data answers 401.
Neither reads anything from the store first.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import Depends, HTTPException, Request, Response, status

SESSION_COOKIE = "pairloop_session"
LOGIN_COOKIE = "pairloop_login"
CSRF_FIELD = "csrf_token"
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 1000
LOGIN_PATH = "/dashboard/login"


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    expires: float


class Sessions:
    """Live sessions by id; expired ones are dropped when met, the oldest when there are too many."""

    def __init__(self, ttl_s: float = SESSION_TTL_S):
        self.ttl_s = ttl_s
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), time.time() + self.ttl_s)
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                self._by_id.pop(min(self._by_id.values(), key=lambda s: s.expires).id)
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is not None and session.expires < time.time():
                del self._by_id[session_id]
                return None
        return session

    def end(self, session_id: str | None) -> None:
        with self._lock:
            self._by_id.pop(session_id or "", None)


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class LoginRequired(Exception):
    """A page asked for without a session: answered by a redirect to the login form."""

    def __init__(self, next_path: str):
        self.next_path = next_path


def login_redirect(next_path: str) -> Response:
    return Response(status_code=status.HTTP_303_SEE_OTHER,
                    headers={"Location": f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"})


def safe_next(value: str | None) -> str:
    """Where to go after login: a path of this server only (no //host, no scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _session(request: Request) -> Session | None:
    """The caller's live session (kept on ``request.state`` for the templates' CSRF token)."""
    session = request.app.state.sessions.get(request.cookies.get(SESSION_COOKIE))
    request.state.session = session
    return session


async def page_session(request: Request) -> Session:
    """The session of a page request, or a redirect to the login form."""
    session = _session(request)
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return session


async def data_session(request: Request) -> Session:
    """The session of a fragment or data request, or 401."""
    session = _session(request)
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in to the dashboard first")
    return session


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form's fields (the first value of each); 415 for any other body."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the dashboard's form")
    try:
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True, max_num_fields=32,
                          strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "a form that cannot be read") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


async def action_form(request: Request) -> dict[str, str]:
    """The form of an action: 401 without a session, 403 unless it carries the session's CSRF token."""
    session = await data_session(request)
    form = await read_form(request)
    if not same(form.get(CSRF_FIELD) or request.headers.get("x-csrf-token"), session.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token: reload the page and retry")
    return form


PageSession = Annotated[Session, Depends(page_session)]
DataSession = Annotated[Session, Depends(data_session)]
ActionForm = Annotated[dict[str, str], Depends(action_form)]


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int,
               path: str = "/") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
