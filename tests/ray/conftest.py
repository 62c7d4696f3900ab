"""A local single-node Ray cluster for the Ray backend tests, started once per session.

`ray start --head` runs as our own process group on 127.0.0.1 only (with
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray keeps every connection on loopback) and is
stopped by that group's id, never with `ray stop`, which would end every Ray process on
the machine. It starts lazily: the first test sees the cluster down, then starts it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).parent / "ray"
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    # A call while not connected fails instead of starting a private local cluster: an App
    # left polling after its head stopped did that (writing ~/.ray/auth_token, which then
    # broke every later connection) and the next test's jobs ran there.
    "RAY_ENABLE_AUTO_CONNECT": "0",
}
os.environ.update(LOOPBACK_ENV)  # for this process as a Ray driver, too


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RayHead:
    """`ray start --head` on 127.0.0.1 as a process group of its own."""

    def __init__(self) -> None:
        self.port = free_port()
        # Short: Ray's socket paths live under it and Unix socket paths are short.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="trb-ray-", dir="/tmp"))
        self.group: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.group is not None

    def start(self) -> None:
        if self.running:
            return
        self.temp_dir.mkdir(exist_ok=True)  # a restart: `stop` removed it
        env = {**os.environ, **LOOPBACK_ENV, "PYTHONPATH": str(REPO)}
        command = [
            str(RAY),
            "start",
            "--head",
            "--num-cpus=4",
            "--node-ip-address=127.0.0.1",
            f"--port={self.port}",
            f"--dashboard-port={free_port()}",
            "--include-dashboard=false",
            "--object-store-memory=80000000",
            "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ]
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            start_new_session=True,  # its own group: stopped by the group id, nothing else
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.group = process.pid
        output, _ = process.communicate(timeout=120)  # `ray start` returns once it is up
        assert 0 == process.returncode, output.decode()[-3000:]

    def stop(self) -> None:
        if self.group is None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.group, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(self.group):
                time.sleep(0.1)
        self.group = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="session")
def ray_head() -> Iterator[RayHead]:
    head = RayHead()
    yield head
    import ray

    ray.shutdown()  # leave the cluster before it goes, or this process waits for it
    head.stop()


@pytest.fixture
def ray_settings(tmp_path: Path, ray_head: RayHead) -> Callable[..., Settings]:
    def make(**ray: Any) -> Settings:
        return Settings(
            storage={"data_dir": str(tmp_path / "data")},
            http={"enabled": False},
            matrix={"enabled": False},
            trainer={"default_base": "micro", "stop_grace_s": 10},
            ray={
                "address": ray_head.address,
                "storage_path": str(tmp_path / "shared"),
                "namespace": "trainbot-tests",
                "retry_s": 1.0,
                "poll_interval_s": 0.2,
                **ray,
            },
        )

    return make
