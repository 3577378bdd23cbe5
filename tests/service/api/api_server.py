"""A real ``clearance serve`` process on a loopback port, for the API tests.

Each server is the installed command in a subprocess, configured through the environment as
in production, bound to port 0 (the kernel picks a free one; we read it from the log). Its
JSON log lines are collected so tests can check what it logged.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

KEY = "test-key-6f0d4c2b9a8e7f1d"
SECOND_KEY = "test-key-second-0a1b2c3d4e5f"
AUTH = {"Authorization": f"Bearer {KEY}"}
CLEARANCE = Path(sys.executable).parent / "clearance"
_RUNNING_ON = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


class ServerProcess:
    """``clearance serve`` in a subprocess, with its stderr (JSON logs) collected."""

    def __init__(self, index: Path, env: dict[str, str], *, wait_ready: bool = True):
        self.lines: list[str] = []
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARANCE_")}
        data_dir = os.environ.get("CLEARANCE_DATA_DIR")
        if data_dir:
            full_env["CLEARANCE_DATA_DIR"] = data_dir
        full_env.update(env)
        self.process = subprocess.Popen(
            [str(CLEARANCE), "serve", "--index", str(index), "--port", "0"],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url()
        self.client = httpx.Client(base_url=self.url, timeout=60)
        if wait_ready:
            self.wait_ready()

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def _wait_for_url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = _RUNNING_ON.search(line)
                if found:
                    return found.group(1)
            if self.process.poll() is not None:
                self._reader.join(timeout=5)
                raise RuntimeError("server exited:\n" + "\n".join(self.lines))
            time.sleep(0.05)
        raise RuntimeError("server did not start:\n" + "\n".join(self.lines))

    def wait_ready(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.client.get("/readyz")
            if response.status_code == 200:
                return response.json()
            time.sleep(0.1)
        raise RuntimeError("server not ready:\n" + "\n".join(self.lines))

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in list(self.lines)]

    def wait_for_log(self, predicate: Callable[[dict], bool], timeout: float = 10) -> dict:
        """The first JSON log line matching ``predicate`` (lines arrive a moment after a reply)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.logs():
                if predicate(entry):
                    return entry
            time.sleep(0.05)
        raise AssertionError("no such log line:\n" + "\n".join(self.lines))

    def send_signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def stop(self) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        return self.process.returncode

    def stopped_gracefully(self) -> bool:
        """Exited on SIGTERM after finishing uvicorn's shutdown (which re-raises the signal)."""
        return self.process.returncode in (0, -signal.SIGTERM) and any(
            "Application shutdown complete" in line for line in self.lines
        )


def verbatim_env(**extra: str) -> dict[str, str]:
    """Settings shared by the test servers: keys, verbatim tier (see the README's HTTP API)."""
    env = {"CLEARANCE_API_KEYS": f"{KEY}, {SECOND_KEY}", "CLEARANCE_TIERS": "verbatim"}
    env.update(extra)
    return env


# Limits of the shared server (conftest.api_server): small enough to test cheaply, big
# enough for a batch that keeps the scanner busy for seconds.
MAX_DOCUMENT_BYTES = 100_000
MAX_BATCH_DOCUMENTS = 200
MAX_REQUEST_BYTES = 4_000_000


def plant(page: str, item_text: str) -> str:
    """Hide a reference item in the middle of a real web page."""
    cut = len(page) // 2
    return page[:cut] + "\n" + item_text + "\n" + page[cut:]


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
