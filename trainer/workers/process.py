"""The one way a worker process is started and watched: a forkserver child and one pipe.

Importing torch and transformers costs seconds of CPU (about 6 s on two cores). A
`forkserver` — a fresh, single-threaded interpreter started on first use — imports them
once (`trainer.workers.preload`), and every training, generation and evaluation worker is
then forked from it in milliseconds. The main process itself still never imports torch,
and the server never runs a tensor operation, so forking from it is safe. Where
forkserver is not available, workers are spawned and import everything themselves.

`WorkerProcess` is the parent's handle on one child: the event loop watches the child's
pipe and its process sentinel with `add_reader`, so nothing blocks the loop and a child
that dies without a word (OOM killer, SIGKILL, segfault) is noticed as soon as it is
gone; `exit_reason` turns its exit code into words. The child side (`prepare_child`,
`one_line`) is here too: the same set-up for every kind of worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess

PRELOAD = ["trainer.workers.preload"]
# Where workers write what libraries print (retries, warnings); unset: the service's
# stderr. An environment variable, because workers are forked from the forkserver, which
# inherits the environment when it starts, not from the service as it is later.
OUTPUT_ENV = "TRAINBOT_WORKER_OUTPUT"

WorkerContext = ForkServerContext | SpawnContext
OnMessage = Callable[[object], None]
OnExit = Callable[[int | None], None]


def send_worker_output_to(path: str | os.PathLike[str]) -> None:
    """Have workers started from now on append their stdout and stderr to `path` (the
    demo's log file: its terminal shows the room, not library chatter). Call it before
    the first worker context is made."""
    os.environ[OUTPUT_ENV] = os.fspath(path)


def worker_context() -> WorkerContext:
    """The context every worker process is made with (starts the forkserver)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # read when the server starts (once)
    # Start the server from this thread (normally the main one) and now, so it imports
    # in the background while the service starts. It must not be started from a pool
    # thread: it dies with the thread that started it (`trainer.workers.preload`).
    forkserver.ensure_running()
    return context


def exit_reason(exitcode: int | None) -> str:
    """`signal SIGKILL` or `code 1`: how a worker ended, for an error message."""
    name = signal_name(exitcode)
    return f"signal {name}" if name is not None else f"code {exitcode}"


def signal_name(exitcode: int | None) -> str | None:
    """The signal that ended a worker (a negative exit code, as in multiprocessing)."""
    if exitcode is None or exitcode >= 0:
        return None
    return signal.Signals(-exitcode).name


class WorkerProcess:
    """One worker process and the parent's end of its pipe, watched from the event loop.

    The child gets the other end of the pipe as its first argument. `watch` reports each
    message the child sends and, once, its exit; messages sent just before the exit are
    delivered first.
    """

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self._process = process
        self._conn = conn
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_message: OnMessage = _ignore
        self._on_exit: OnExit = _ignore

    @classmethod
    async def start(
        cls,
        context: WorkerContext,
        target: Callable[..., None],
        args: tuple[object, ...],
        *,
        name: str,
        duplex: bool,
    ) -> WorkerProcess:
        """Fork `target(conn, *args)` from the forkserver without blocking the event loop.

        `duplex=False` gives a pipe the child only writes to.
        """
        parent, child = context.Pipe(duplex=duplex)
        process = context.Process(target=target, args=(child, *args), name=name, daemon=True)
        try:
            # start() waits for the forkserver to answer: the first start waits for its
            # imports, so it runs in a thread.
            await asyncio.to_thread(process.start)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()  # the child has its own copy; EOF then means the child is gone
        return cls(process, parent)

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self._process.pid

    @property
    def exitcode(self) -> int | None:
        """None while running; negative for a signal, as in multiprocessing."""
        return self._process.exitcode

    def is_alive(self) -> bool:
        """Whether the worker is still running."""
        return self._process.is_alive()

    def watch(self, on_message: OnMessage, on_exit: OnExit) -> None:
        """Call `on_message` for each message and `on_exit(exitcode)` once it is gone."""
        self._on_message, self._on_exit = on_message, on_exit
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._conn.fileno(), self._read)
        self._loop.add_reader(self._process.sentinel, self._exited)

    def send(self, message: object) -> None:
        """Send a message to the child; OSError when it is gone."""
        self._conn.send(message)

    def kill(self) -> None:
        """End the worker now (SIGKILL); `on_exit` follows."""
        if self._process.is_alive():
            self._process.kill()

    async def stop(self, grace_s: float) -> None:
        """Ask the child to exit (a None message), kill it after `grace_s`, and close."""
        self._unwatch()
        if self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(None)
            await asyncio.to_thread(self._process.join, grace_s)
        self.close()

    def close(self) -> None:
        """Stop watching, kill the worker if it still runs, and close the pipe."""
        self._unwatch()
        self.kill()
        self._process.join(timeout=5)
        self._conn.close()

    def _read(self) -> None:
        try:
            while self._conn.poll():
                self._on_message(self._conn.recv())
        except (EOFError, OSError):
            self._stop_reading()

    def _exited(self) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self._process.sentinel)
        if not self._conn.closed:
            self._read()  # what was sent just before exiting is still in the pipe
            self._stop_reading()
            self._conn.close()
        self._process.join()
        self._on_exit(self._process.exitcode)

    def _stop_reading(self) -> None:
        if self._loop is not None and not self._conn.closed:
            self._loop.remove_reader(self._conn.fileno())

    def _unwatch(self) -> None:
        if self._loop is None:
            return
        self._stop_reading()
        self._loop.remove_reader(self._process.sentinel)
        self._loop = None


def _ignore(_: object) -> None:
    pass


# ---- child side ---------------------------------------------------------------------


def prepare_child(num_threads: int) -> None:
    """Common set-up of a worker: quiet, single-purpose, immune to the terminal's Ctrl-C."""
    die_with_parent()
    # The parent decides what Ctrl-C means (pause); the terminal sends SIGINT to the
    # whole process group, so the child must not die of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _redirect_output(os.environ.get(OUTPUT_ENV))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers

    if num_threads > 0:
        torch.set_num_threads(num_threads)
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=UserWarning)


def _redirect_output(path: str | None) -> None:
    """Libraries print to stdout, and the parent's stdout may be a JSON event stream: both
    streams go to stderr, or to the file `send_worker_output_to` named."""
    if path:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.dup2(fd, sys.stderr.fileno())
            os.close(fd)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def die_with_parent() -> None:
    """Have Linux SIGKILL this process when the service dies, even by SIGKILL.

    Otherwise an orphaned worker trains on (and writes checkpoints) while the restarted
    service resumes the same job from the same folder.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, prefixed with its type if unclear."""
    from trainer.models import BaseModelError

    text = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, BaseModelError | FileNotFoundError | ValueError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
