"""`!status`'s line for a training cluster, from the overview the backend reads."""

from __future__ import annotations

from typing import Any

from bot.room.commands.jobs import _cluster_line


def cluster(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"reachable": True, "nodes": 2, "cpus": 8.0, "cpus_free": 3.0}
    found.update(gpus=0.0, gpus_free=0.0, jobs=["a" * 12], waiting={}, warm_workers=0)
    return {**found, **changes}


def test_the_line_names_nodes_cpus_gpus_and_jobs() -> None:
    assert "Ray cluster: 2 nodes, 3 of 8 CPUs free, 1 job on it." == _cluster_line("ray", cluster())
    line = _cluster_line("ray", cluster(nodes=1, gpus=2.0, gpus_free=1.0, jobs=[]))
    assert "Ray cluster: 1 node, 3 of 8 CPUs free, 1 of 2 GPUs free, 0 jobs on it." == line


def test_idle_warm_workers_say_why_their_cpus_are_not_free() -> None:
    line = _cluster_line("ray", cluster(warm_workers=1))
    assert "3 of 8 CPUs free, 1 idle warm worker holding CPUs, 1 job on it." in line
    assert "2 idle warm workers holding CPUs" in _cluster_line("ray", cluster(warm_workers=2))


def test_an_unreachable_cluster_says_why_and_who_waits() -> None:
    waiting = {"abcdefgh1234": "waiting for the Ray cluster: no answer"}
    line = _cluster_line("ray", {"reachable": False, "reason": "no answer", "waiting": waiting})
    assert "Ray cluster unreachable: no answer. Job abcdefgh: waiting for the Ray cluster" in line
