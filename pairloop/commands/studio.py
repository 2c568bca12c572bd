"""``pairloop studio up|down|status``: the local Label Studio server."""

from __future__ import annotations

from dataclasses import asdict

import typer

from annotator.label_studio import LabelStudio, LabelStudioError, LabelStudioUnavailable, token_kind
from pairloop import studio
from pairloop.console import console, emit_json, err_console
from pairloop.settings import get_settings

app = typer.Typer(help="Run a local Label Studio (installed once into its own venv).", no_args_is_help=True)
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")


def _fail(message: str) -> None:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("up")
def up(as_json: bool = JsonOpt) -> None:
    """Install Label Studio if needed, start it on loopback, wait until it answers; print URL and login."""
    settings = get_settings()
    if settings.label_studio_url:
        _fail(f"PAIRLOOP_LABEL_STUDIO_URL points at {settings.label_studio_url}: "
              "pairloop uses that server, there is nothing to start")
    try:
        with err_console.status("Label Studio: installing (first time) and starting ..."):
            state = studio.up(settings, log=lambda line: err_console.print(line, highlight=False, soft_wrap=True))
    except studio.StudioError as exc:
        _fail(str(exc))
    if as_json:
        emit_json(asdict(state))
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
    settings = get_settings()
    stopped = studio.down(settings, purge=purge)
    if as_json:
        emit_json({"stopped": stopped, "purged": purge})
    else:
        said = "Label Studio stopped" if stopped else "Label Studio was not running"
        console.print(said + ("; its data was deleted" if purge else ""))


@app.command("status")
def status(as_json: bool = JsonOpt) -> None:
    """Whether pairloop's Label Studio (local, or the configured URL) answers, and as whom."""
    settings = get_settings()
    report: dict = {"installed": studio.is_installed(studio.studio_home(settings))}
    try:
        where = studio.connection(settings)
    except studio.StudioError as exc:
        report.update(running=False, problem=str(exc))
    else:
        state = studio.read_state(settings) if where.local else None
        report.update(url=where.url, local=where.local, token_kind=token_kind(where.token),
                      pid=state.pid if state else None)
        try:
            report.update(running=True, user=LabelStudio(where.url, where.token).whoami())
        except (LabelStudioUnavailable, LabelStudioError) as exc:
            report.update(running=False, problem=str(exc))
    if as_json:
        emit_json(report)
    elif report["running"]:
        console.print(f"Label Studio at {report['url']} answers as {report['user']['email']} "
                      f"({report['token_kind']} token)", soft_wrap=True)
    else:
        console.print(f"Label Studio is not available: {report['problem']}", soft_wrap=True)
    if not report["running"]:
        raise typer.Exit(1)
