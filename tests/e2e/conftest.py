"""Helpers for running the nightly DAG through real Airflow commands in subprocesses.

Each test module gets its own Airflow home and data folder under pytest's tmp dir, so
nothing touches the project's ``data/`` and tests never share an Airflow database.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest

from tests.conftest import REPO

BIN = Path(sys.executable).parent
GENERATE_ARGS = ("--customers", "200", "--products", "60", "--days", "3", "--start", "2026-10-01")
DAYS = ("2026-10-01", "2026-10-02", "2026-10-03")


def airflow_env(data: Path, airflow_home: Path, port: int = 8080, **extra: str) -> dict[str, str]:
    """A clean environment for Tailor and Airflow commands on ``data`` and ``airflow_home``."""
    from tailor.orchestration import airflow_environment
    from tailor.settings import get_settings

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAILOR_", "AIRFLOW__")) and k != "AIRFLOW_HOME"
    }
    env.update(
        {
            "TAILOR_HOME": str(REPO),
            "TAILOR_DATA": str(data),
            "AIRFLOW_HOME": str(airflow_home),
            "TAILOR_DUCKDB_MEMORY": "1GB",
            "TAILOR_DUCKDB_THREADS": "2",
            # One quick retry keeps the retry path under test without waiting minutes.
            "TAILOR_DAG_RETRIES": "1",
            "TAILOR_DAG_RETRY_DELAY_SECONDS": "1",
            "TAILOR_LANDING_POKE_SECONDS": "2",
            "TAILOR_LANDING_TIMEOUT_MINUTES": "15",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            # One privacy key for every warehouse a test builds, so that two builds of the
            # same days (Airflow, `tailor run`) publish the same pseudonyms.
            "TAILOR_PRIVACY_KEY": "tailor-e2e-tests-privacy-key",
        }
    )
    with mock.patch.dict(os.environ, env, clear=True):
        env.update(airflow_environment(get_settings(), port=port))
    env.update(extra)
    return env


def run(
    env: dict[str, str], *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        list(args), env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-8000:]}"
            f"\n--- stderr\n{proc.stderr[-8000:]}"
        )
    return proc


def setup_airflow(env: dict[str, str]) -> None:
    """Database, pool and serialized DAGs, as scripts/airflow.sh does on first use."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    run(env, str(BIN / "python"), "-m", "tailor.orchestration", "setup", timeout=300)


def generate(env: dict[str, str]) -> None:
    run(env, str(BIN / "tailor"), "generate", *GENERATE_ARGS, timeout=300)


def dags_test(env: dict[str, str], day: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(env, str(BIN / "airflow"), "dags", "test", "tailor_nightly", day, check=check)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Webhook:
    """A local HTTP endpoint that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        received: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.close()


class Timer:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
