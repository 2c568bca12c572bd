"""The local Label Studio server: install once into its own venv, start, stop, report.

Label Studio pins its own numpy, requests and SDK revision, so it never shares pairloop's
virtual environment. The server runs on loopback only, with a data directory pairloop
created (so the legacy API token works) and offline-friendly settings. What a running
server needs to be reached again (pid, URL, credentials) is kept in ``state.json``.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from pairloop.settings import Settings
from store.errors import ServiceUnavailable
from store.files import atomic_path

if TYPE_CHECKING:  # the SDK loads only when a client is made: `pairloop --help` stays fast
    from annotator.label_studio import LabelStudio

LABEL_STUDIO_VERSION = "1.23.2"
HEALTH_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 30.0


# Runs a command with Linux's PR_SET_PDEATHSIG set: it gets SIGTERM when its parent dies.
_DIE_WITH_PARENT = (
    sys.executable, "-c",
    ("import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); "
     "os.execv(sys.argv[1], sys.argv[1:])"),
)


class StudioError(ServiceUnavailable):
    """The local Label Studio could not be installed, started or found."""


@dataclass(frozen=True)
class StudioState:
    """A local Label Studio pairloop started (or last started): how to reach it."""

    url: str
    port: int
    username: str
    password: str
    token: str
    data_dir: str
    log: str
    pid: int | None = None


@dataclass(frozen=True)
class Connection:
    """Where pairloop's Label Studio is and how to authenticate: settings first, else the local one."""

    url: str
    token: str
    local: bool


def studio_home(settings: Settings) -> Path:
    """The folder holding Label Studio's virtual environment (shared by every data dir that points here)."""
    return (settings.label_studio_home or settings.data_path / "label-studio").expanduser()


def run_dir(settings: Settings) -> Path:
    """This data dir's server: its state file, log and Label Studio data directory."""
    return settings.data_path / "studio"


def _venv(home: Path) -> Path:
    return home / "venv"


def _marker(home: Path) -> Path:
    return _venv(home) / f".pairloop-label-studio-{LABEL_STUDIO_VERSION}"


def executable(home: Path) -> Path:
    return _venv(home) / "bin" / "label-studio"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_installed(home: Path) -> bool:
    return _marker(home).exists() and executable(home).exists()


def install(home: Path, log: Callable[[str], None] = lambda _: None) -> bool:
    """Install Label Studio into ``home/venv`` unless it is already there; True when it installed.

    A half-finished install (no marker) is removed and redone. Concurrent callers wait on a lock.
    """
    with _file_lock(home / ".install.lock"):
        if is_installed(home):
            return False
        venv = _venv(home)
        shutil.rmtree(venv, ignore_errors=True)
        log(f"installing label-studio=={LABEL_STUDIO_VERSION} into {venv} (once; about 90 s, ~1 GB)")
        steps = (
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             f"label-studio=={LABEL_STUDIO_VERSION}"],
        )
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
                raise StudioError(f"installing Label Studio failed ({' '.join(step[:3])} ...):\n{tail}")
        _marker(home).touch()
        return True


def _state_path(settings: Settings) -> Path:
    return run_dir(settings) / "state.json"


def read_state(settings: Settings) -> StudioState | None:
    path = _state_path(settings)
    if not path.exists():
        return None
    return StudioState(**json.loads(path.read_text()))


def _write_state(settings: Settings, state: StudioState) -> None:
    with atomic_path(_state_path(settings)) as staging:  # it holds the admin password and token
        staging.touch(0o600)
        staging.write_text(json.dumps(asdict(state), indent=2))


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def server_environment(data_dir: Path) -> dict[str, str]:
    """The environment the server needs on these machines (see ENVIRONMENT.md)."""
    return {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        # Webhooks go to the pairloop service on 127.0.0.1: acceptable for a loopback-only server.
        "SSRF_PROTECTION_ENABLED": "false",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    }


def _new_state(settings: Settings) -> StudioState:
    folder = run_dir(settings)
    port = settings.label_studio_port
    return StudioState(
        url=f"http://127.0.0.1:{port}",
        port=port,
        username=settings.label_studio_username,
        password=settings.label_studio_password or secrets.token_urlsafe(12),
        token=secrets.token_hex(20),
        data_dir=str(folder / "data"),
        log=str(folder / "label-studio.log"),
    )


def up(settings: Settings, log: Callable[[str], None] = lambda _: None,
       timeout_s: float = HEALTH_TIMEOUT_S, die_with_caller: bool = False) -> StudioState:
    """Install if needed, start the server (or find it running), wait for health; return its state.

    The first start creates a fresh data directory with the admin user and a legacy token;
    later starts reuse it (annotations survive a restart) with the same credentials.
    The server outlives the caller (``pairloop studio up`` returns) unless ``die_with_caller``
    (tests, benchmarks: a killed run must not leave a server behind; Linux only).
    """
    home = studio_home(settings)
    install(home, log)
    state = read_state(settings)
    if state and pid_alive(state.pid):  # running, or still starting from an earlier call
        _wait_healthy(state, lambda: pid_alive(state.pid), timeout_s)
        return state
    if state is None or not Path(state.data_dir).exists():
        state = _new_state(settings)
    port = settings.label_studio_port  # the data and credentials stay; the port may change
    state = replace(state, port=port, url=f"http://127.0.0.1:{port}", pid=None)
    if _port_taken(state.port):
        raise StudioError(
            f"port {state.port} is already in use by another program: "
            "set PAIRLOOP_LABEL_STUDIO_PORT to a free port"
        )
    Path(state.data_dir).mkdir(parents=True, exist_ok=True)
    command = [
        *(_DIE_WITH_PARENT if die_with_caller and sys.platform.startswith("linux") else ()),
        str(executable(home)), "start", "--no-browser",
        "--internal-host", "127.0.0.1", "--host", state.url, "--port", str(state.port),
        f"--username={state.username}", f"--password={state.password}", f"--user-token={state.token}",
    ]
    log(f"starting Label Studio on {state.url} (log: {state.log})")
    with open(state.log, "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=server_environment(Path(state.data_dir)), start_new_session=True,
        )
    state = replace(state, pid=process.pid)
    _write_state(settings, state)
    try:
        _wait_healthy(state, lambda: process.poll() is None, timeout_s)
    except StudioError:
        _terminate(process.pid)
        raise
    return state


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _wait_healthy(state: StudioState, running: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not running():
            raise StudioError(f"Label Studio exited while starting; last lines of {state.log}:\n"
                              f"{_log_tail(state.log)}")
        if healthy(state.url):
            return
        time.sleep(1.0)
    raise StudioError(f"Label Studio did not answer on {state.url}/health within {timeout_s:.0f} s; "
                      f"see {state.log}")


def _terminate(pid: int) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after a grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:  # not our child: poll its existence instead
            if not pid_alive(pid):
                return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def down(settings: Settings, purge: bool = False) -> bool:
    """Stop the local server; with ``purge`` also delete its data. True when a server was stopped."""
    state = read_state(settings)
    if state is None:
        return False
    stopped = pid_alive(state.pid)
    if stopped:
        _terminate(state.pid)  # type: ignore[arg-type]
    if purge:
        shutil.rmtree(run_dir(settings), ignore_errors=True)
    else:
        _write_state(settings, replace(state, pid=None))
    return stopped


def connection(settings: Settings) -> Connection:
    """The configured Label Studio (URL + token settings) or else the local one."""
    if settings.label_studio_url:
        if not settings.label_studio_token:
            raise StudioError("PAIRLOOP_LABEL_STUDIO_URL is set but PAIRLOOP_LABEL_STUDIO_TOKEN is not")
        return Connection(settings.label_studio_url.rstrip("/"), settings.label_studio_token, local=False)
    state = read_state(settings)
    if state is None:
        raise StudioError("no Label Studio configured: run `pairloop studio up`, or set "
                          "PAIRLOOP_LABEL_STUDIO_URL and PAIRLOOP_LABEL_STUDIO_TOKEN")
    return Connection(state.url, settings.label_studio_token or state.token, local=True)


def connect(settings: Settings) -> LabelStudio:
    """The adapter on pairloop's Label Studio, checked to answer and to accept the token."""
    from annotator.label_studio import LabelStudio, LabelStudioUnavailable

    where = connection(settings)
    studio = LabelStudio(where.url, where.token)
    try:
        studio.whoami()
    except LabelStudioUnavailable as exc:
        if where.local:
            raise LabelStudioUnavailable(f"{exc} (is it running? `pairloop studio up`)") from None
        raise
    return studio
