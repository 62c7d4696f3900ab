"""A local single-node Ray cluster for the Ray backend tests, started once per session.

`ray start --head` runs in a session of its own on 127.0.0.1 only (with
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray keeps every connection on loopback) and is
stopped by signalling that session's processes by id, never with `ray stop`, which would
end every Ray process on the machine. It starts lazily: the first test sees the cluster
down, then starts it.
"""

from __future__ import annotations

import contextlib
import json
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
# The head's GCS declares a silent node dead after 5 missed checks of 1 s each (default:
# 5 of 3 s after a 5 s delay), so a lost node's training restarts within seconds.
HEALTH_ENV = {"RAY_health_check_period_ms": "1000", "RAY_health_check_initial_delay_ms": "1000"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RayHead:
    """`ray start --head` on 127.0.0.1 in a session of its own."""

    def __init__(self) -> None:
        self.port = free_port()
        # Short: Ray's socket paths live under it and Unix socket paths are short.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="trb-ray-", dir="/tmp"))
        self.group: int | None = None
        self.env: dict[str, str] = {}  # what this node's processes get besides LOOPBACK_ENV
        # False: a process group of its own in the caller's session, where the kernel's
        # autogroup scheduler shares the CPU with the caller's own processes alike (the
        # throughput bench's like with like); it is then stopped by its group's process tree.
        self.own_session = True

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
        env = {**os.environ, **LOOPBACK_ENV, **HEALTH_ENV, **self.env, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(
            self.command(),
            cwd=REPO,
            env=env,
            start_new_session=self.own_session,  # stopped by its members, nothing else
            process_group=None if self.own_session else 0,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.group = process.pid
        output, _ = process.communicate(timeout=120)  # `ray start` returns once it is up
        assert 0 == process.returncode, output.decode()[-3000:]

    def command(self) -> list[str]:
        return [
            str(RAY),
            "start",
            "--head",
            "--num-cpus=4",
            "--node-ip-address=127.0.0.1",
            f"--port={self.port}",
            f"--dashboard-port={free_port()}",
            # Worker ports the OS picks, not Ray's fixed range counted up from 10002:
            # tests/ray and the e2e Ray test run heads at the same time.
            "--min-worker-port=0",
            "--max-worker-port=0",
            "--include-dashboard=false",
            "--object-store-memory=80000000",
            "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ]

    def members(self) -> list[int]:
        """Its processes now (its workers among them)."""
        if self.group is None:
            return []
        return session_members(self.group) if self.own_session else group_tree(self.group)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, to every process of the session `ray start` began.

        Not only its process group: Ray starts each worker in a process group of its own
        (the workers stay in the session), and a worker left behind went on training and
        answering calls for seconds after its head was gone.
        """
        if self.group is None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            members = self.members()
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while members and time.monotonic() < deadline:
                time.sleep(0.1)
                members = self.members()
        self.group = None
        shutil.rmtree(self.temp_dir, ignore_errors=True)


class RayNode(RayHead):
    """A second node of the head's cluster on this machine, one CPU and a custom resource
    (`resource`), so a job asking for that resource trains on it and nowhere else.

    Not `ray start --address`: with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (loopback only) it
    refuses to add a node, and with 1 it rewrites 127.0.0.1 to the machine's interface
    address. The node is started the way `ray start` and Ray's own test cluster
    (`ray.cluster_utils.Cluster.add_node`) start one, by `ray._private.node.Node`, in a
    process of a session of its own that returns once the node is up.
    """

    def __init__(self, head: RayHead, resource: str) -> None:
        super().__init__()
        self.head = head
        self.resource = resource

    def command(self) -> list[str]:
        params = {
            "gcs_address": self.head.address,
            "node_ip_address": "127.0.0.1",
            "num_cpus": 1,
            "resources": {self.resource: 1},
            "object_store_memory": 80_000_000,
            "node_manager_port": 0,  # as Cluster.add_node: ports the OS picks
            "min_worker_port": 0,
            "max_worker_port": 0,
            "include_log_monitor": False,
        }
        script = (
            "import json, sys\n"
            "from ray._private.node import Node\n"
            "from ray._private.parameter import RayParams\n"
            "Node(RayParams(**json.loads(sys.argv[1])), head=False, shutdown_at_exit=False, "
            "spawn_reaper=False)\n"
        )
        return [sys.executable, "-c", script, json.dumps(params)]


def group_tree(group: int) -> list[int]:
    """The live processes of this process group and all their descendants (a Ray worker
    is in a group of its own, a child of its raylet)."""
    table = _processes()
    found = {pid for pid, (_ppid, pgid, _sid) in table.items() if pgid == group}
    grew = True
    while grew:
        children = {pid for pid, (ppid, _g, _s) in table.items() if ppid in found} - found
        found |= children
        grew = bool(children)
    return sorted(found)


def _processes() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent, process group, session) of every live process (zombies aside)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # After the command name (which may hold spaces): state, ppid, pgrp, session.
        state, ppid, pgid, sid = stat[stat.rindex(")") + 2 :].split()[:4]
        if state != "Z":
            table[int(entry.name)] = (int(ppid), int(pgid), int(sid))
    return table


def session_members(session: int) -> list[int]:
    """The live processes of the session with this id."""
    return sorted(pid for pid, (_ppid, _group, sid) in _processes().items() if sid == session)


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
