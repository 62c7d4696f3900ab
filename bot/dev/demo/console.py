"""The interactive demo: lines typed in the terminal are said in the room as the demo user."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading

from bot.dev.demo.view import RoomView, Write

QUIT = ("/quit", "/exit")


async def run_console(view: RoomView, write: Write, stdin_fd: int | None = None) -> None:
    """Send each typed line; return on `/quit` or end of input (Ctrl-D)."""
    lines = _read_lines(sys.stdin.fileno() if stdin_fd is None else stdin_fd)
    write("Type a message for the room (try !help), /quit or Ctrl-D to stop.")
    while (line := await lines.get()) is not None:
        text = line.strip()
        if text in QUIT:
            return
        if text:
            try:
                await view.say(text)
            except RuntimeError as exc:
                write(f"(not sent: {exc})")


def _read_lines(fd: int) -> asyncio.Queue[str | None]:
    """A queue of typed lines, None at end of input.

    A daemon thread does the blocking reads: that works for a terminal, a pipe and a file
    alike. It reads the raw descriptor, not `sys.stdin`, whose buffer lock a daemon thread
    must not hold while the interpreter shuts down (that aborts the process).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        pending = b""
        while chunk := os.read(fd, 4096):
            *complete, pending = (pending + chunk).split(b"\n")
            for raw in complete:
                if not _hand_over(loop, queue, raw.decode("utf-8", "replace")):
                    return
        if pending:
            _hand_over(loop, queue, pending.decode("utf-8", "replace"))
        _hand_over(loop, queue, None)

    threading.Thread(target=pump, name="demo-stdin", daemon=True).start()
    return queue


def _hand_over(
    loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None], line: str | None
) -> bool:
    with contextlib.suppress(RuntimeError):  # the loop closed: the demo is over
        loop.call_soon_threadsafe(queue.put_nowait, line)
        return True
    return False
