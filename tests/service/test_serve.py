"""`pairloop serve` as a user runs it: a process, generated secrets kept for the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from service.support import free_port

from annotator.webhooks import SECRET_HEADER


def _start(db_url: str, data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIRLOOP_")}
    env.update(PAIRLOOP_DATABASE_URL=db_url, PAIRLOOP_DATA_DIR=str(data_dir), PAIRLOOP_SERVICE_PORT=str(port))
    process = subprocess.Popen([str(Path(sys.executable).parent / "pairloop"), "serve"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return process
        except httpx.HTTPError:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.2)
    process.kill()
    raise AssertionError("pairloop serve did not answer")


def test_serve_generates_its_secrets_once_and_keeps_them(sqlite_url, tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    process = _start(sqlite_url, data_dir, port)
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
    process = _start(sqlite_url, data_dir, free_port())  # the next start keeps the same secrets
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert (data_dir / "secrets" / "api-token").read_text() == token
