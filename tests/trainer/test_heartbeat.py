"""The generation child's heartbeat: one thread, beating only while a stretch is covered."""

from __future__ import annotations

import threading
import time
from multiprocessing import Pipe

from trainer.workers.heartbeat import Heartbeat

ALIVE_S = 0.05


def beat_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "trainbot-alive"]


def test_it_beats_during_a_stretch_and_never_outside_one() -> None:
    parent, child = Pipe()
    with Heartbeat(child, ALIVE_S) as heartbeat:
        with heartbeat.covering():
            time.sleep(6 * ALIVE_S)
        beats = []
        while parent.poll(0):
            beats.append(parent.recv())
        assert not parent.poll(4 * ALIVE_S), "a beat after the stretch ended"
    assert 2 <= len(beats) <= 6
    assert [[(0, "alive", None)]] == beats[:1]


def test_one_thread_serves_every_stretch_and_ends_with_the_heartbeat() -> None:
    parent, child = Pipe()
    with Heartbeat(child, 4 * ALIVE_S) as heartbeat:
        threads = beat_threads()
        for _ in range(20):  # each shorter than the interval: the count starts again
            with heartbeat.covering():
                assert threads == beat_threads()
    assert (1, False, []) == (len(threads), threads[0].is_alive(), beat_threads())
    assert not parent.poll(0)
