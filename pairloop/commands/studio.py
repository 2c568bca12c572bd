"""``pairloop studio up|down|status``: the local Label Studio server."""

from __future__ import annotations

import typer

from pairloop.commands.options import JsonOpt
from pairloop.console import RICH_PROGRESS, console, emit_json
from pairloop.settings import get_settings
from pairloop.usecases.context import Context
from pairloop.usecases.studio import start_studio, stop_studio, studio_status

app = typer.Typer(help="Run a local Label Studio (installed once into its own venv).", no_args_is_help=True)


@app.command("up")
def up(as_json: bool = JsonOpt) -> None:
    """Install Label Studio if needed, start it on loopback, wait until it answers; print URL and login."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        state = start_studio(ctx)
    if as_json:
        emit_json(state)
        return
    console.print(f"Label Studio is running at [bold]{state.url}[/bold] (pid {state.pid})")
    console.print(f"  login     {state.username} / {state.password}")
    console.print(f"  API token {state.token}")
    console.print(f"  data      {state.data_dir}")
    console.print(f"  log       {state.log}")


@app.command("down")
def down(
    purge: bool = typer.Option(False, "--purge", help="Also delete its data (projects, tasks, annotations)."),
    as_json: bool = JsonOpt,
) -> None:
    """Stop the local Label Studio (its data stays unless --purge)."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        result = stop_studio(ctx, purge)
    if as_json:
        emit_json(result)
    else:
        said = "Label Studio stopped" if result.stopped else "Label Studio was not running"
        console.print(said + ("; its data was deleted" if result.purged else ""))


@app.command("status")
def status(as_json: bool = JsonOpt) -> None:
    """Whether pairloop's Label Studio (local, or the configured URL) answers, and as whom (exit 1: it does not)."""
    with Context(get_settings(), RICH_PROGRESS) as ctx:
        report = studio_status(ctx)
    if as_json:
        emit_json(report)
    elif report.running:
        console.print(f"Label Studio at {report.url} answers as {report.user['email']} "
                      f"({report.token_kind} token)", soft_wrap=True)
    else:
        console.print(f"Label Studio is not available: {report.problem}", soft_wrap=True)
    if not report.running:
        raise typer.Exit(1)
