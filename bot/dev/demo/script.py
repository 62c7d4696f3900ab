"""`trainbot demo --script`: a scripted conversation that shows (and checks) the whole loop."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable

from bot.dev.demo.render import Event
from bot.dev.demo.view import RoomView, Write

# About a minute on two CPU cores with the tiny preset; micro (a toy model, used by the
# test of the script) gets fewer, shorter steps. Evaluating is costly: only twice / once.
TRAIN_OPTIONS = {
    "tiny": "max_steps=60 batch_size=8 block_size=128 eval_every=30 save_every=60",
    "micro": "max_steps=30 batch_size=4 block_size=32 eval_every=30 save_every=30",
}
GENERATE_PROMPT = "Once upon a time"
GENERATE = f"!generate keywords=fox,moon max_tokens=60 seed=1 {GENERATE_PROMPT}"


class ScriptError(RuntimeError):
    """A step of the script timed out or got an unexpected answer."""


def train_command(base: str) -> str:
    """The `!train` line of the script for a base model."""
    return f"!train demo {TRAIN_OPTIONS.get(base, TRAIN_OPTIONS['tiny'])} learning_rate=1e-3"


async def run_script(view: RoomView, write: Write, timeout_s: float, base: str) -> None:
    """!help, !datasets, !train demo (until it finishes), !models, !generate."""
    steps = _Steps(view, write, timeout_s)
    await steps.ask("!help", expect="!train")
    await steps.ask("!datasets", expect="demo@v")
    ack = await steps.ask(train_command(base), expect="Queued job")
    job_id = _job_id(ack)
    final = await steps.wait(_finished(job_id), f"job {job_id} to finish")
    if f"Job {job_id} succeeded" not in _body(final):
        raise ScriptError(f"the training job did not succeed: {_body(final)}")
    # The loss curve follows the final notice; show it, but do not insist on it.
    with contextlib.suppress(ScriptError):
        await steps.wait(_is_image, "loss curve", within_s=min(timeout_s, 15))
    await steps.ask("!models", expect="demo@v")
    await steps.ask(GENERATE, expect=GENERATE_PROMPT)


class _Steps:
    def __init__(self, view: RoomView, write: Write, timeout_s: float) -> None:
        self.view, self.write, self.timeout_s = view, write, timeout_s

    async def ask(self, command: str, expect: str) -> Event:
        """Say `command` as the demo user; the bot's reply must contain `expect`."""
        self.write(f"demo: {command}")
        event_id = await self.view.say(command)
        reply = await self.wait(_replies_to(event_id), f"an answer to {command.split()[0]}")
        if expect not in _body(reply):
            raise ScriptError(f"{command.split()[0]}: expected {expect!r} in the answer")
        return reply

    async def wait(
        self, match: Callable[[Event], bool], what: str, within_s: float | None = None
    ) -> Event:
        within_s = within_s or self.timeout_s
        try:
            return await self.view.wait_for(match, within_s)
        except TimeoutError:
            raise ScriptError(f"timed out after {within_s:g}s waiting for {what}") from None


def _body(event: Event) -> str:
    return str(event.get("content", {}).get("body", ""))


def _replies_to(event_id: str) -> Callable[[Event], bool]:
    return lambda e: (
        e.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
        == event_id
    )


def _is_image(event: Event) -> bool:
    return bool(event.get("content", {}).get("msgtype") == "m.image")


def _finished(job_id: str) -> Callable[[Event], bool]:
    """The final notice of a job (not an edit of its progress message)."""
    pattern = re.compile(rf"Job {re.escape(job_id)} (succeeded|\(.*\) failed|\(.*\) was cancelled)")
    return lambda e: (
        e.get("content", {}).get("msgtype") == "m.notice"
        and "m.new_content" not in e.get("content", {})
        and pattern.search(_body(e)) is not None
    )


def _job_id(ack: Event) -> str:
    found = re.search(r"Queued job (\S+):", _body(ack))
    if found is None:
        raise ScriptError(f"cannot find the job id in {_body(ack)!r}")
    return found.group(1)
