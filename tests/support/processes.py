"""``pairloop`` in real processes, for crash and concurrency tests: started together, killed with
SIGKILL at a chosen point of the code or after a delay.

A process runs :data:`RUNNER`: it imports the CLI (seconds), says it is ready by creating a file,
optionally waits for a shared start signal, then runs the command. The kill points are set up
by the runner, never by pairloop: ``PAIRLOOP_TEST_KILL`` names a function (``module:attribute``)
that is wrapped so that the process SIGKILLs itself ``before`` or ``after`` its first call
(``before:knowledge_graph.snapshots:publish``) — the same end as a kill from outside at that
instant, without guessing the timing. The wrap replaces the module's attribute, so it catches
calls that look the function up there at call time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

RUNNER = """
import importlib, os, signal, sys, time
from pathlib import Path

from pairloop.cli import app

kill = os.environ.get("PAIRLOOP_TEST_KILL")
if kill:
    when, module_name, name = kill.split(":")
    module = importlib.import_module(module_name)
    original = getattr(module, name)

    def killing(*args, **kwargs):
        if when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(module, name, killing)
Path(os.environ["PAIRLOOP_TEST_READY"]).touch()
go = os.environ.get("PAIRLOOP_TEST_GO")
while go and not Path(go).exists():
    time.sleep(0.001)
app(sys.argv[1:], prog_name="pairloop")
"""


@dataclass
class Finished:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


class Pairloop:
    """One ``pairloop`` process on a database URL and data folder (not started until :meth:`start`)."""

    def __init__(self, args: Sequence[str], db_url: str, data_dir: Path, *, kill: str | None = None,
                 go: Path | None = None, env: Mapping[str, str] | None = None):
        self.args = [str(a) for a in args]
        self.ready = data_dir.parent / f".ready-{os.getpid()}-{id(self)}"
        self.env = {**os.environ, "PAIRLOOP_DATABASE_URL": db_url, "PAIRLOOP_DATA_DIR": str(data_dir),
                    "PAIRLOOP_TEST_READY": str(self.ready), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                    "PYTHONPATH": str(REPO), **(env or {})}
        self.env.pop("PAIRLOOP_TEST_KILL", None)
        self.env.pop("PAIRLOOP_TEST_GO", None)
        if kill:
            self.env["PAIRLOOP_TEST_KILL"] = kill
        if go:
            self.env["PAIRLOOP_TEST_GO"] = str(go)
        self.process: subprocess.Popen | None = None

    def start(self) -> Pairloop:
        self.ready.unlink(missing_ok=True)
        self.process = subprocess.Popen([sys.executable, "-c", RUNNER, *self.args], cwd=REPO, env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until the CLI is imported (the command starts now, or on the start signal)."""
        deadline = time.monotonic() + timeout_s
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                if self.process.poll() is None:
                    self.kill()
                raise AssertionError(f"pairloop {' '.join(self.args)} did not start: {self.finish(5)}")
            time.sleep(0.01)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    def finish(self, timeout_s: float = 300.0) -> Finished:
        stdout, stderr = self.process.communicate(timeout=timeout_s)
        self.ready.unlink(missing_ok=True)
        return Finished(self.args, self.process.returncode, stdout, stderr)


def run(args: Sequence[str], db_url: str, data_dir: Path, *, kill: str | None = None,
        env: Mapping[str, str] | None = None) -> Finished:
    """Run one command to its end (or to its kill point)."""
    process = Pairloop(args, db_url, data_dir, kill=kill, env=env).start()
    return process.finish()


def kill_after(args: Sequence[str], db_url: str, data_dir: Path, delay_s: float) -> Finished:
    """Start a command and SIGKILL it ``delay_s`` after it began its work (imports not counted)."""
    process = Pairloop(args, db_url, data_dir).start()
    process.wait_ready()
    time.sleep(delay_s)
    process.kill()
    return process.finish()


def run_together(commands: Sequence[Sequence[str]], db_url: str, data_dir: Path) -> list[Finished]:
    """Start the commands, let each import the CLI, then release them all at the same instant."""
    go = data_dir.parent / f".go-{os.getpid()}"
    go.unlink(missing_ok=True)
    processes = [Pairloop(args, db_url, data_dir, go=go).start() for args in commands]
    try:
        for process in processes:
            process.wait_ready()
        go.touch()
        return [process.finish() for process in processes]
    finally:
        go.unlink(missing_ok=True)
        for process in processes:
            if process.process.poll() is None:
                process.kill()
