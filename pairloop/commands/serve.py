"""``pairloop serve``: the service (Label Studio webhooks, REST API, OpenAPI at /docs)."""

from __future__ import annotations

import typer
import uvicorn

from pairloop import service
from pairloop.api.main import create_app
from pairloop.console import err_console
from pairloop.settings import get_settings


def serve(
    host: str | None = typer.Option(None, help="Bind address (default: PAIRLOOP_SERVICE_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: PAIRLOOP_SERVICE_PORT)."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
) -> None:
    """Run the pairloop service until interrupted."""
    settings = get_settings()
    updates = {k: v for k, v in (("service_host", host), ("service_port", port)) if v is not None}
    settings = settings.model_copy(update=updates)
    app = create_app(settings)
    err_console.print(
        f"pairloop service on {service.service_url(settings)}"
        f"  (docs: /docs, webhook: {service.WEBHOOK_PATH})\n"
        f"API token in {service.secrets_dir(settings) / 'api-token'} unless PAIRLOOP_API_TOKEN is set",
        highlight=False,
    )
    uvicorn.run(app, host=settings.service_host, port=settings.service_port,
                access_log=access_log, log_level="warning")
