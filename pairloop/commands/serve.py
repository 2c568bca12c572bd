"""``pairloop serve``: the service (the dashboard at /, Label Studio webhooks, REST API, OpenAPI at /docs)."""

from __future__ import annotations

import typer

from pairloop.console import err_console
from pairloop.settings import get_settings


def serve(
    host: str | None = typer.Option(None, help="Bind address (default: PAIRLOOP_SERVICE_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: PAIRLOOP_SERVICE_PORT)."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
) -> None:
    """Run the pairloop service until interrupted."""
    # The app, its routers and the Label Studio SDK load when the service starts.
    from pairloop import service
    from pairloop.server import serve as run

    settings = get_settings()
    updates = {k: v for k, v in (("service_host", host), ("service_port", port)) if v is not None}
    settings = settings.model_copy(update=updates)
    url = service.service_url(settings)
    err_console.print(
        f"pairloop service on {url}  (dashboard: {url}/, API docs: /docs, webhook: {service.WEBHOOK_PATH})\n"
        f"API token (the dashboard's login too) in {service.secrets_dir(settings) / 'api-token'} "
        "unless PAIRLOOP_API_TOKEN is set",
        highlight=False,
    )
    run(settings, access_log)
