"""Room latency: the `!status` round trip through a real homeserver, idle and while training.

A throwaway Synapse runs on 127.0.0.1. The bot (the real App with the Matrix face, over
a fresh data dir) runs in a child process; this process is the person: it sends
`!status`, and a dedicated listener (a long-poll sync loop that starts again the moment
one returns) notes when the bot's reply arrives, so the person's own polling adds
almost nothing. Each round measures `--trips` round trips idle and as many while a
training job (micro preset, long enough to outlast the measurement) runs in a worker
process, the order rotating (`bench/_rounds.py`): a busy phase starts the job if none
runs, an idle phase cancels it and waits until it has ended. The child also samples its
event loop's lag (how late a 20 ms sleep wakes up) in both phases: training must never
block the loop.

    .venv/bin/python bench/room_latency.py [--rounds 5] [--trips 20] [--progress-interval 10]

Goal: the median over rounds of each round's p95 busy / p95 idle <= 1.5 (the p95s
over all rounds, pooled, are printed too).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from nio import AsyncClient, LoginResponse, RoomCreateResponse, RoomSendResponse, SyncResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's bot/

from bench._rounds import interleaved_async, ratios, spread  # after the path above
from bot.core.types import FINAL
from bot.dev.homeserver import SynapseServer, default_synapse_python
from storage.jobs import EventRow

PASSWORD = "bench password, not a secret"
GOAL = 1.5
WORDS = ("the", "cat", "sat", "on", "a", "mat", "while", "dog", "ran", "to", "park", "boat")
# Training that outlasts any measurement here; cancelled at the end.
LONG_JOB = {
    "max_steps": 1_000_000,
    "batch_size": 4,
    "block_size": 32,
    "eval_every": 100_000,
    "save_every": 100_000,
}
SYNC_FILTER = {
    "room": {"timeline": {"limit": 50}, "state": {"lazy_load_members": True}},
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
}


# ---- the bot (child process) -----------------------------------------------------------


def serve_bot(conn: Connection, settings: dict[str, Any]) -> None:
    """Child: run the App; start or end a job, report loop lag and stop when told."""
    asyncio.run(_serve_bot(conn, settings))


async def _serve_bot(conn: Connection, raw: dict[str, Any]) -> None:
    from bot.app import App
    from bot.core.jobs.request import JobRequest
    from bot.logs import configure_logging
    from bot.settings import Settings

    configure_logging("WARNING")
    app = App(Settings.model_validate(raw))
    await app.start()
    services = app.services
    rng = random.Random(0)
    texts = [{"text": " ".join(rng.choice(WORDS) for _ in range(10))} for _ in range(200)]
    await services.datasets.upload_records("bench", texts)
    lags: list[float] = []
    monitor = asyncio.create_task(_sample_lag(lags))
    conn.send(("ready",))
    job_id = None
    while True:
        message = await asyncio.to_thread(conn.recv)
        if message[0] == "train":  # answered once a job trains (at once if one does)
            if job_id is None:
                request = JobRequest("bench", hyperparameters=dict(LONG_JOB))
                job = await services.jobs.submit(request, requested_by="bench", room_id=message[1])
                job_id = job.id
                async for _row in services.bus.follow(job.id, 0, lambda r: r.event == "progress"):
                    pass
            conn.send(("running", job_id))
        elif message[0] == "idle":  # answered once no job trains
            if job_id is not None:
                await services.jobs.cancel(job_id)
                async for _row in services.bus.follow(job_id, 0, _ended):
                    pass
                # Cancelled at the worker's last event; its folder goes once it has exited.
                folder = services.store.artifacts.job_dir(job_id)
                while folder.exists():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                job_id = None
            conn.send(("idle",))
        elif message[0] == "lag":  # the lags since the last ask
            conn.send(("lag", list(lags)))
            lags.clear()
        elif message[0] == "stop":
            if job_id is not None:
                await services.jobs.cancel(job_id)
            monitor.cancel()
            await app.stop()
            conn.send(("stopped",))
            return


def _ended(row: EventRow) -> bool:
    return row.event == "state" and row.data["status"] in FINAL


async def _sample_lag(lags: list[float], period: float = 0.02) -> None:
    while True:
        began = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(time.perf_counter() - began - period)


# ---- the person (this process) ---------------------------------------------------------


class Listener:
    """The person's client syncing without pause; the time each reply arrived."""

    def __init__(self, client: AsyncClient, room_id: str) -> None:
        self.client = client
        self.room_id = room_id
        self.arrived: dict[str, float] = {}  # replied-to event id -> perf_counter()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.sync(timeout=0, sync_filter=SYNC_FILTER)  # from now on
        self._task = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def reply_to(self, event_id: str, within_s: float = 30.0) -> float:
        """When the reply to `event_id` arrived (perf_counter)."""
        async with asyncio.timeout(within_s), self._changed:
            await self._changed.wait_for(lambda: event_id in self.arrived)
        return self.arrived[event_id]

    async def _listen(self) -> None:
        while True:
            response = await self.client.sync(timeout=30_000, sync_filter=SYNC_FILTER)
            now = time.perf_counter()
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(0.1)
                continue
            room = response.rooms.join.get(self.room_id)
            for event in room.timeline.events if room else []:
                relates = event.source.get("content", {}).get("m.relates_to", {})
                replied = relates.get("m.in_reply_to", {}).get("event_id")
                if replied:
                    self.arrived[replied] = now
            async with self._changed:
                self._changed.notify_all()


async def round_trips(client: AsyncClient, listener: Listener, count: int) -> list[float]:
    """`count` sequential `!status` round trips, in seconds."""
    times = []
    for _ in range(count):
        began = time.perf_counter()
        sent = await client.room_send(
            listener.room_id, "m.room.message", {"msgtype": "m.text", "body": "!status"}
        )
        assert isinstance(sent, RoomSendResponse), sent
        times.append(await listener.reply_to(sent.event_id) - began)
        await asyncio.sleep(0.05)
    return times


class Phases:
    """A round's two measures: round trips with the bot idle, and while it trains.

    Each returns its p95 in ms (the round's figure) and keeps every round trip and loop
    lag of its phase for the pooled summary.
    """

    def __init__(self, client: AsyncClient, listener: Listener, bot: Connection, trips: int):
        self.client = client
        self.listener = listener
        self.bot = bot
        self.trips = trips
        self.times: dict[str, list[float]] = {"idle": [], "busy": []}
        self.lags: dict[str, list[float]] = {"idle": [], "busy": []}

    async def idle(self, _round: int) -> float:
        await ask(self.bot, ("idle",), 120)  # a job still training is cancelled first
        return await self._measure("idle")

    async def busy(self, _round: int) -> float:
        await ask(self.bot, ("train", self.listener.room_id), 180)  # at the first step
        return await self._measure("busy")

    async def _measure(self, phase: str) -> float:
        await ask(self.bot, ("lag",))  # from now on
        times = await round_trips(self.client, self.listener, self.trips)
        self.lags[phase] += (await ask(self.bot, ("lag",)))[1]
        self.times[phase] += times
        return percentile(times, 95) * 1000


async def person(server: SynapseServer, user_id: str) -> AsyncClient:
    client = AsyncClient(server.base_url, user_id)
    response = await client.login(PASSWORD, device_name="bench")
    assert isinstance(response, LoginResponse), response
    return client


async def ask(conn: Connection, message: tuple[Any, ...], within_s: float = 60.0) -> Any:
    """Tell the bot process something and wait (bounded) for its answer."""
    conn.send(message)
    if not await asyncio.to_thread(conn.poll, within_s):
        raise TimeoutError(f"the bot process did not answer {message[0]!r} in {within_s}s")
    return conn.recv()


async def bot_joined(client: AsyncClient, room_id: str, bot_id: str) -> None:
    while True:
        members = await client.joined_members(room_id)
        if bot_id in [m.user_id for m in getattr(members, "members", [])]:
            return
        await asyncio.sleep(0.2)


async def run(
    rounds: int, trips: int, progress_interval_s: float
) -> tuple[Phases, dict[str, list[float]]]:
    """The rounds' p95s by phase (ms), and every round trip and lag (`Phases`)."""
    async with SynapseServer() as server:
        bot_id, _ = await server.register_user("trainbot", PASSWORD)
        ann_id, _ = await server.register_user("ann", PASSWORD)
        data_dir = Path(tempfile.mkdtemp(prefix="room-latency-"))
        settings = {
            "matrix": {
                "homeserver": server.base_url,
                "user_id": bot_id,
                "password": PASSWORD,
                "store_dir": str(data_dir / "matrix"),
                "allowed_users": [ann_id],
                "progress_interval_s": progress_interval_s,
            },
            "http": {"enabled": False},
            "storage": {"data_dir": str(data_dir)},
            "trainer": {"default_base": "micro"},
        }
        parent, child = multiprocessing.get_context("spawn").Pipe()
        # Not a daemon: the bot starts worker processes of its own.
        bot = multiprocessing.get_context("spawn").Process(target=serve_bot, args=(child, settings))
        bot.start()
        ann = await person(server, ann_id)
        listener: Listener | None = None
        try:
            if not await asyncio.to_thread(parent.poll, 120):
                raise TimeoutError("the bot process did not start")
            assert ("ready",) == parent.recv()
            created = await ann.room_create(invite=[bot_id])
            assert isinstance(created, RoomCreateResponse), created
            async with asyncio.timeout(30):
                await bot_joined(ann, created.room_id, bot_id)
            listener = Listener(ann, created.room_id)
            await listener.start()

            await round_trips(ann, listener, 3)  # warm-up: first replies pay for imports
            phases = Phases(ann, listener, parent, trips)
            measures = {"idle": phases.idle, "busy": phases.busy}
            p95s = await interleaved_async(rounds, measures, " ms p95")
        finally:
            if listener is not None:
                await listener.stop()
            await ann.close()
            if bot.is_alive():
                await ask(parent, ("stop",), 60)
            bot.join(10)
            if bot.is_alive():
                bot.kill()
        return phases, p95s


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(phases: Phases, p95s: dict[str, list[float]]) -> bool:
    ms = 1000
    rounds = len(p95s["idle"])
    print(f"!status round trip, {rounds} rounds x {phases.trips} each, pooled (ms):")
    for phase in ("idle", "busy"):
        values = phases.times[phase]
        print(
            f"  {phase:5}  p50 {percentile(values, 50) * ms:7.1f}  "
            f"p95 {percentile(values, 95) * ms:7.1f}  max {max(values) * ms:7.1f}  "
            f"mean {statistics.fmean(values) * ms:7.1f}"
        )
    print("bot event-loop lag (how late a 20 ms sleep wakes, ms):")
    for phase in ("idle", "busy"):
        values = phases.lags[phase]
        print(
            f"  {phase:5}  p50 {percentile(values, 50) * ms:7.2f}  "
            f"p99 {percentile(values, 99) * ms:7.2f}  max {max(values) * ms:7.2f}  "
            f"({len(values)} samples)"
        )
    per_round = ratios(p95s["busy"], p95s["idle"])
    ok = statistics.median(per_round) <= GOAL
    verdict = "ok" if ok else "ABOVE GOAL"
    print(f"p95 busy / idle per round: {spread(per_round, 2)} (goal <= {GOAL}): {verdict}")
    pooled = percentile(phases.times["busy"], 95) / percentile(phases.times["idle"], 95)
    print(f"  pooled over the rounds: {pooled:.2f}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (<= 50)")
    parser.add_argument(
        "--trips", type=int, default=20, help="round trips per phase and round (<= 500)"
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        help="matrix.progress_interval_s of the bot (seconds)",
    )
    args = parser.parse_args()
    if not default_synapse_python().exists():
        print("Synapse is not installed (run scripts/install-synapse.sh)", file=sys.stderr)
        return 2
    rounds, trips = max(1, min(args.rounds, 50)), max(5, min(args.trips, 500))
    ran = asyncio.run(asyncio.wait_for(run(rounds, trips, args.progress_interval), 900))
    return 0 if report(*ran) else 1


if __name__ == "__main__":
    sys.exit(main())
