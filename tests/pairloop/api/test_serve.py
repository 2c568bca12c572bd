"""`pairloop serve` as a user runs it: a process, generated secrets kept for the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from support.service import free_port

from annotator.webhooks import SECRET_HEADER


def _start(db_url: str, data_dir: Path) -> tuple[subprocess.Popen, int]:
    """Start ``pairloop serve`` on a free port (another on the machine may take the port first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIRLOOP_")}
    env.update(PAIRLOOP_DATABASE_URL=db_url, PAIRLOOP_DATA_DIR=str(data_dir))
    for _attempt in range(3):
        port = free_port()
        process = subprocess.Popen([str(Path(sys.executable).parent / "pairloop"), "serve"],
                                   env={**env, "PAIRLOOP_SERVICE_PORT": str(port)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                return process, port
            except httpx.HTTPError:
                time.sleep(0.2)
        if process.poll() is None:
            process.kill()
            raise AssertionError("pairloop serve did not answer in 90 s")
        stderr = process.stderr.read()
        if "address already in use" not in stderr:
            raise AssertionError(f"pairloop serve exited {process.returncode}: {stderr}")
    raise AssertionError("no free port for pairloop serve")


def test_serve_generates_its_secrets_once_and_keeps_them(sqlite_url, tmp_path):
    data_dir = tmp_path / "data"
    process, port = _start(sqlite_url, data_dir)
    try:
        secrets = data_dir / "secrets"
        token, secret = (secrets / "api-token").read_text(), (secrets / "webhook-secret").read_text()
        assert len(token) >= 40 and len(secret) >= 40 and token != secret
        assert (secrets / "api-token").stat().st_mode & 0o077 == 0
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/webhooks/label-studio/inbox").status_code == 401
        assert httpx.get(f"{base}/webhooks/label-studio/inbox",
                         headers={"Authorization": f"Bearer {token}"}).json()["stored"] == 0
        hello = {"action": "PROJECT_UPDATED", "project": {"id": 1}}
        assert httpx.post(f"{base}/webhooks/label-studio", json=hello,
                          headers={SECRET_HEADER: secret}).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0 and f"http://127.0.0.1:{port}" in stderr
    process, _ = _start(sqlite_url, data_dir)  # the next start keeps the same secrets
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert (data_dir / "secrets" / "api-token").read_text() == token
