"""`Heartbeat`: one thread per child that says it is alive while the loop cannot.

Taking a request may load a model, and its prefill may be long: single calls the
serving loop cannot interrupt to say it is alive, and without a word the parent would
kill the child mid-load (and the next child, loading the same model, too). The loop
marks such a stretch with `covering()`; meanwhile the thread sends `(0, "alive", None)`
every `alive_s`, counted from the stretch's start. A load or prefill that hangs is then
not timed out; a decoding step that hangs is.

The thread sends only inside a stretch, under the lock that `covering()` takes to end
it, so when the block is over no beat is being sent and none follows: the pipe still
has one writer at a time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from types import TracebackType

ALIVE = [(0, "alive", None)]


class Heartbeat:
    """The child's one heartbeat thread: started on `with`, stopped (and joined) after it."""

    def __init__(self, conn: Connection, alive_s: float) -> None:
        self.conn = conn
        self.alive_s = alive_s
        self._changed = threading.Condition()
        self._stretches = 0  # how many `covering()` blocks have begun
        self._covering = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="trainbot-alive", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        self._thread.join()

    @contextlib.contextmanager
    def covering(self) -> Iterator[None]:
        """Beat every `alive_s` while the block runs (the block sends nothing itself)."""
        with self._changed:
            self._stretches += 1
            self._covering = True
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self._covering = False
                self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while not self._stopped:
                if not self._covering:
                    self._changed.wait()
                elif not self._beat(self._stretches):
                    return

    def _beat(self, stretch: int) -> bool:
        """Send a beat every `alive_s` until the stretch ends; False if the parent is gone."""
        while not self._changed.wait_for(lambda: self._over(stretch), self.alive_s):
            try:
                self.conn.send(ALIVE)
            except OSError:  # the loop finds out at its next recv
                return False
        return True

    def _over(self, stretch: int) -> bool:
        """Whether the stretch the thread beats for has ended (or the heartbeat stopped)."""
        return self._stopped or not self._covering or self._stretches != stretch
