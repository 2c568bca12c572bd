"""Logging in to the dashboard over HTTP, as its login form does."""

from __future__ import annotations

import re

import httpx
from starlette.testclient import TestClient
from support.service import API_TOKEN

from pairloop.api.dashboard.auth import CSRF_FIELD

Client = httpx.Client | TestClient


def csrf_token(page: str) -> str:
    """The CSRF token a page's forms carry."""
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client: Client, token: str = API_TOKEN, next_path: str = "/") -> httpx.Response:
    """Post the login form (with its own CSRF token) as a browser would; the response."""
    form = client.get("/dashboard/login")
    return client.post("/dashboard/login", data={CSRF_FIELD: csrf_token(form.text), "token": token,
                                                 "next": next_path})
