"""Fixtures for the service: the real app on uvicorn (loopback), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.service import API_TOKEN, WEBHOOK_SECRET, service_settings

from annotator.webhooks import SECRET_HEADER
from pairloop.server import ServiceThread


@pytest.fixture
def service(db_url, tmp_path) -> Iterator[ServiceThread]:
    with ServiceThread(service_settings(db_url, tmp_path / "data")) as running:
        yield running


@pytest.fixture
def client(service) -> Iterator[httpx.Client]:
    """An HTTP client on the running service that sends the right webhook secret."""
    with httpx.Client(base_url=service.url, headers={SECRET_HEADER: WEBHOOK_SECRET}, timeout=10) as http:
        yield http


@pytest.fixture
def api(service) -> Iterator[httpx.Client]:
    """An HTTP client on the running service that sends the API token."""
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30) as http:
        yield http
