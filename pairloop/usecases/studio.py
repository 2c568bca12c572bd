"""The local Label Studio server: start (installing it once), stop, and whether pairloop's
Label Studio (the local one, or the configured URL) answers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field

from pairloop import studio
from pairloop.usecases.context import Context


class StudioServer(BaseModel):
    """A running local Label Studio and how to log in."""

    url: str
    port: int
    username: str
    password: str
    token: str = Field(description="Its legacy API token.")
    data_dir: str = Field(description="Projects, tasks and annotations.")
    log: str = Field(description="The server's log file.")
    pid: int | None


def start_studio(ctx: Context) -> StudioServer:
    """Install Label Studio if needed (once, into its own venv), start it on loopback (or find it
    running) and wait until it answers. Nothing to start when PAIRLOOP_LABEL_STUDIO_URL is set."""
    settings = ctx.settings
    if settings.label_studio_url:
        raise studio.StudioError(f"PAIRLOOP_LABEL_STUDIO_URL points at {settings.label_studio_url}: "
                                 "pairloop uses that server, there is nothing to start")
    with ctx.progress.status("Label Studio: installing (first time) and starting ...") as say:
        state = studio.up(settings, log=say)
    return StudioServer(**asdict(state))


class StudioStopped(BaseModel):
    stopped: bool = Field(description="A running server was stopped (false: none was running).")
    purged: bool = Field(description="Its data was deleted too.")


def stop_studio(ctx: Context, purge: bool = False) -> StudioStopped:
    """Stop the local Label Studio; its data stays unless ``purge``."""
    return StudioStopped(stopped=studio.down(ctx.settings, purge=purge), purged=purge)


class StudioStatus(BaseModel):
    installed: bool = Field(description="The local Label Studio is installed.")
    running: bool = Field(description="pairloop's Label Studio answers and accepts the token.")
    url: str | None = None
    local: bool | None = Field(None, description="The local server (false: PAIRLOOP_LABEL_STUDIO_URL).")
    token_kind: str | None = Field(None, description="legacy or personal-access-token.")
    pid: int | None = Field(None, description="The local server's process.")
    user: dict[str, Any] | None = Field(None, description="Who the token logs in as (id, email, username).")
    problem: str | None = Field(None, description="Why it is not available.")


def studio_status(ctx: Context) -> StudioStatus:
    """Whether pairloop's Label Studio answers, and as whom; never raises for an unavailable one."""
    from annotator.label_studio import LabelStudio, LabelStudioError, LabelStudioUnavailable, token_kind

    settings = ctx.settings
    installed = studio.is_installed(studio.studio_home(settings))
    try:
        where = studio.connection(settings)
    except studio.StudioError as exc:
        return StudioStatus(installed=installed, running=False, problem=str(exc))
    state = studio.read_state(settings) if where.local else None
    report = StudioStatus(installed=installed, running=False, url=where.url, local=where.local,
                          token_kind=token_kind(where.token), pid=state.pid if state else None)
    try:
        user = LabelStudio(where.url, where.token).whoami()
    except (LabelStudioUnavailable, LabelStudioError) as exc:
        return report.model_copy(update={"problem": str(exc)})
    return report.model_copy(update={"running": True, "user": user})
