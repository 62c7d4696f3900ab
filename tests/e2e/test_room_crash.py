"""Transcript: the bot process is killed mid-training; after a restart the job finishes.

This runs `trainbot run` as a real process, because only a real SIGKILL shows what a
crash leaves behind: no graceful pause, a worker process whose parent is gone, and a
progress message that the next process has to find again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from bot.dev.homeserver import SynapseServer
from tests.support.services import records

from .conftest import E2E, MakePerson, unique
from .helpers import is_membership, make_room
from .trainbot import (
    PASSWORD,
    Room,
    edit_of,
    hyper,
    new_body,
    notice_containing,
    reply_with,
    step,
    upload,
)

pytestmark = [
    *E2E,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]
REPO = Path(__file__).resolve().parents[2]
MAX_STEPS = 60


class BotProcess:
    """`trainbot run --config …` as a child process, in its own process group."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(self.config),
                cwd=REPO,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    async def kill(self) -> None:
        """SIGKILL the bot process alone, as the OOM killer would."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM (a graceful stop), then make sure nothing of the group is left."""
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 40)
            except TimeoutError:
                self.process.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


@pytest_asyncio.fixture(loop_scope="session")
async def processes() -> AsyncIterator[list[BotProcess]]:
    """Bot processes of this test; each is stopped afterwards."""
    started: list[BotProcess] = []
    yield started
    for bot in started:
        await bot.stop()


def write_config(path: Path, synapse: SynapseServer, bot_id: str, allowed: str) -> None:
    """A TOML config: Matrix on, HTTP off, everything in the test's folder."""
    lines = [
        "[matrix]",
        f"homeserver = {json.dumps(synapse.base_url)}",
        f"user_id = {json.dumps(bot_id)}",
        f"password = {json.dumps(PASSWORD)}",
        f"store_dir = {json.dumps(str(path / 'matrix'))}",
        f"allowed_users = [{json.dumps(allowed)}]",
        "progress_interval_s = 0.2",  # micro is fast: see a step soon after it happens
        "[http]",
        "enabled = false",
        "[storage]",
        f"data_dir = {json.dumps(str(path))}",
        "[trainer]",
        'default_base = "micro"',
        "stop_grace_s = 10",
    ]
    (path / "trainbot.toml").write_text("\n".join(lines) + "\n")


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(entry.name)[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        below = frontier.pop()
        children = {child for child, parent in parents.items() if parent == below}
        found |= children
        frontier.extend(children)
    return found


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        return _stat(str(pid))[0] not in ("Z", "X")
    except OSError:
        return False


def _stat(pid: str) -> list[str]:
    # The command name may contain spaces; the fields after it do not.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


async def until(check: Callable[[], bool], within_s: float) -> bool:
    """Poll `check()` until it is true or time runs out."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_killed_bot_resumes_the_job_and_keeps_editing_its_message(
    synapse: SynapseServer,
    make_person: MakePerson,
    processes: list[BotProcess],
    tmp_path: Path,
) -> None:
    ann = await make_person("ann")
    bot_id, _ = await synapse.register_user(unique("trainbot"), PASSWORD)
    write_config(tmp_path, synapse, bot_id, ann.user_id)
    bot = BotProcess(tmp_path / "trainbot.toml", tmp_path / "trainbot.log")
    processes.append(bot)
    await bot.start()

    room_id = await make_room(ann)
    await ann.client.room_invite(room_id, bot_id)
    await ann.wait_for(room_id, is_membership(bot_id, "join"), within_s=90)
    room = Room(None, ann, room_id, bot_id)  # the App runs in the bot process
    data = "".join(json.dumps(r) + "\n" for r in records()).encode()
    stored = await reply_with(room, await upload(room, "poems.jsonl", data), "!dataset add poems")
    assert stored["body"].startswith("Stored poems@v1"), stored["body"]

    # FAST saves a checkpoint every 10 steps; step 11 comes after the first one. The kill
    # follows that edit within a sync (up to 12 steps were seen), leaving ~45 to resume.
    train = await room.ask(f"!train poems {hyper(max_steps=MAX_STEPS)}")
    job_id = (await room.reply_to(train, 60))["content"]["body"].split()[2].rstrip(":")
    message = str(
        (await room.wait(notice_containing(f"Training poems (job {job_id})"), 120))["event_id"]
    )
    await room.wait(edit_of(message, lambda body: (step(body) or 0) > 10), 120)
    checkpoints = tmp_path / "jobs" / job_id / "checkpoints"
    assert any(p.name.startswith("checkpoint-") for p in checkpoints.iterdir())
    workers = descendants(bot.pid)
    assert workers  # the training and generation workers

    await bot.kill()
    # Orphaned, a worker would write checkpoints beside the one the next process starts.
    assert await until(lambda: not any(map(alive, workers)), 10), (
        f"orphaned workers still running: {sorted(p for p in workers if alive(p))}"
    )
    await room.sync(timeout_ms=0)  # everything the killed process got out
    seen_before_restart = len(room.timeline)

    again = BotProcess(bot.config, bot.log)
    processes.append(again)
    await again.start()
    final = await room.wait(notice_containing(f"✅ Job {job_id} succeeded"), 240)
    assert "poems@v1 is ready" in final["content"]["body"]

    after = room.timeline[seen_before_restart:]
    steps = [step(new_body(e)) for e in after if edit_of(message)(e)]
    assert steps and steps[-1] == MAX_STEPS, steps  # the restarted bot edits the same message
    assert all(s is not None and s >= 10 for s in steps), steps  # from a checkpoint
    sent = await room.bot_messages()
    assert 1 == sum(e["content"].get("body", "").startswith("Training poems") for e in sent)
    answers = [e["content"]["body"] for e in await room.replies(train)]
    # the old command was not run again (the final notice replies to it too)
    assert 1 == sum(body.startswith("Queued job ") for body in answers), answers
