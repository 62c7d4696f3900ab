"""`run_demo`: start the session, print how to join, run the console or the script, stop."""

from __future__ import annotations

import functools
import sys
import time

from bot.dev.demo.console import run_console
from bot.dev.demo.script import ScriptError, run_script
from bot.dev.demo.session import DemoOptions, DemoSession
from bot.dev.demo.state import DemoSetupError
from bot.dev.homeserver import SynapseStartError
from bot.matrix.login import MatrixLoginError

write = functools.partial(print, flush=True)


async def run_demo(options: DemoOptions, *, script: bool, timeout_s: float) -> int:
    """Run the demo; 0 when it ends normally, 1 with a message on stderr when it fails."""
    started = time.monotonic()
    try:
        session = DemoSession(options, write)
    except DemoSetupError as exc:
        return _fail(str(exc))
    try:
        view = await session.start()
        write(session.banner())
        write("-" * 72)
        if script:
            await run_script(view, write, timeout_s, options.base)
            write("-" * 72)
            write(f"Scripted demo finished in {time.monotonic() - started:.0f}s.")
        else:
            await run_console(view, write)
    except (DemoSetupError, SynapseStartError, MatrixLoginError, ScriptError, TimeoutError) as exc:
        return _fail(str(exc) or type(exc).__name__)
    finally:
        write("Stopping the bot and the homeserver …")
        await session.stop()
    return 0


def _fail(message: str) -> int:
    print(f"trainbot demo: {message}", file=sys.stderr, flush=True)
    return 1
