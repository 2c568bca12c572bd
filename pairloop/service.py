"""How the pairloop service is reached and authenticated: its URLs, the webhook secret, the API token.

Secrets not given as settings are generated once and kept under ``DATA_DIR/secrets`` (mode
0600), so ``pairloop serve`` and the commands that register webhooks agree on them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from annotator.label_studio import LabelStudio
from annotator.webhooks import SECRET_HEADER
from pairloop.settings import Settings

WEBHOOK_PATH = "/webhooks/label-studio"


def _kept_secret(path: Path) -> str:
    """The secret stored at ``path``, created on first use (safe when two processes race)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def secrets_dir(settings: Settings) -> Path:
    return settings.data_path / "secrets"


def webhook_secret(settings: Settings) -> str:
    return settings.webhook_secret or _kept_secret(secrets_dir(settings) / "webhook-secret")


def api_token(settings: Settings) -> str:
    return settings.api_token or _kept_secret(secrets_dir(settings) / "api-token")


def service_url(settings: Settings) -> str:
    return (settings.service_url or f"http://{settings.service_host}:{settings.service_port}").rstrip("/")


def webhook_url(settings: Settings) -> str:
    return service_url(settings) + WEBHOOK_PATH


def register_webhook(settings: Settings, studio: LabelStudio, project_id: int) -> int:
    """Send the project's annotation events to this service, with the shared secret header."""
    headers = {SECRET_HEADER: webhook_secret(settings)}
    return studio.register_webhook(project_id, webhook_url(settings), headers)
