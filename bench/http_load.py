"""HTTP load: /v1/status through the whole app against a bare aiohttp handler, and SSE fan-out.

The servers run in a child process (the real App over a fresh SQLite data dir, plus a
bare aiohttp app on another port, one event loop); this process is the client, on
127.0.0.1 only, with bounded concurrency and a bounded number of requests.

SSE fan-out uses synthetic events: the child holds a real job row (paused, so no
training runs) and publishes `progress` events through `EventBus.publish` carrying
their publish time; the lag is receive time minus publish time, per subscriber.

    .venv/bin/python bench/http_load.py [--requests 4000] [--subscribers 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from bot.core.services import Services

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's bot/

from bench._rounds import interleaved_async, ratios, spread

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


# ---- server side (child process) -------------------------------------------------------


def serve(conn: Connection, data_dir: str, subscribers: int) -> None:
    """Child: run the App and a bare app; publish events when told; stop when told."""
    asyncio.run(_serve(conn, Path(data_dir), subscribers))


async def _serve(conn: Connection, data_dir: Path, subscribers: int) -> None:
    from bot.app import App
    from bot.core.jobs.request import JobRequest
    from bot.logs import configure_logging
    from bot.settings import Settings

    configure_logging("WARNING")
    settings = Settings(
        storage={"data_dir": str(data_dir)},
        matrix={"enabled": False},
        # The fan-out measures delivery, not the stream caps: one token holds every stream.
        http={
            "enabled": True,
            "port": 0,
            "tokens": [TOKEN],
            "max_streams": max(subscribers, 256),
            "max_streams_per_token": max(subscribers, 16),
        },
        trainer={"default_base": "micro"},
    )
    app = App(settings)
    await app.start()
    assert app.http is not None
    bare = web.Application()
    bare.router.add_get("/v1/status", _bare_status)
    runner = web.AppRunner(bare, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    services = app.services
    rows = [{"text": f"the cat sat on mat number {i}"} for i in range(20)]
    await services.datasets.upload_records("bench", rows)
    job = await services.jobs.submit(JobRequest(dataset="bench"), requested_by="bench")
    job = await services.jobs.pause(job.id)  # a real job row that stays open and idle
    bare_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    conn.send({"full": app.http.url, "bare": bare_url, "job": job.id})
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command["do"] == "publish":
            await _publish(services, job.id, command["events"], command["rate"])
            conn.send({"subscribers_seen": command.get("seen")})
        elif command["do"] == "subscribers":
            conn.send(services.bus.subscriber_count)
        else:
            break
    await runner.cleanup()
    await app.stop()


async def _bare_status(request: web.Request) -> web.Response:
    return web.json_response({"jobs": {}, "queue_length": 0, "running": []})


async def _publish(services: Services, job_id: str, events: int, rate: float) -> None:
    for step in range(1, events + 1):
        await services.bus.publish(job_id, "progress", {"step": step, "sent_at": time.time()})
        await asyncio.sleep(1 / rate)
    await services.jobs.cancel(job_id)  # the final state event ends every stream


# ---- client side -----------------------------------------------------------------------


async def requests_per_s(url: str, total: int, concurrency: int) -> float:
    """Requests per second for `total` GETs with at most `concurrency` in flight."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=AUTH) as session:
        remaining = total

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.get(url) as response:
                    assert 200 == response.status, await response.text()
                    await response.read()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - began)


async def subscriber(session: aiohttp.ClientSession, url: str, lags: list[float]) -> int:
    """Read one SSE stream to its end; record each progress event's delivery lag."""
    received = 0
    headers = {**AUTH, "Accept": "text/event-stream"}
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as r:
        r.raise_for_status()  # a refused stream must end the run, not wait for events forever
        event = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "progress":
                lags.append(time.time() - json.loads(line[6:])["sent_at"])
                received += 1
    return received


async def fan_out(conn: Connection, urls: dict[str, str], args: argparse.Namespace) -> None:
    url = f"{urls['full']}/v1/jobs/{urls['job']}/events"
    lags: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        streams = [
            asyncio.create_task(subscriber(session, url, lags)) for _ in range(args.subscribers)
        ]
        while True:  # every stream must be subscribed before the first event
            conn.send({"do": "subscribers"})
            if conn.recv() >= args.subscribers:
                break
            await asyncio.sleep(0.05)
        conn.send({"do": "publish", "events": args.events, "rate": args.rate})
        counts = await asyncio.gather(*streams)
        conn.recv()
    expected = args.events * args.subscribers
    q = statistics.quantiles(lags, n=100)
    print(
        f"SSE fan-out: {args.subscribers} subscribers x {args.events} synthetic progress "
        f"events at {args.rate:g}/s (EventBus.publish on a real, paused job row)"
    )
    print(
        f"  delivered {sum(counts)}/{expected}; lag p50 {q[49] * 1000:.1f} ms, "
        f"p95 {q[94] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms "
        f"(goal p95 < 100 ms)"
    )


async def client(conn: Connection, urls: dict[str, str], args: argparse.Namespace) -> None:
    full, bare = f"{urls['full']}/v1/status", f"{urls['bare']}/v1/status"
    await requests_per_s(full, 200, args.concurrency)  # warm-up: connections, caches
    await requests_per_s(bare, 200, args.concurrency)
    # Interleaved rounds, so drift hits both alike; the headline is the per-round ratio.
    rates = await interleaved_async(
        args.rounds,
        {
            "bare": lambda _: requests_per_s(bare, args.requests, args.concurrency),
            "full": lambda _: requests_per_s(full, args.requests, args.concurrency),
        },
        " req/s",
    )
    print(
        f"GET /v1/status: {args.rounds} rounds x {args.requests} requests, "
        f"{args.concurrency} in flight (medians)"
    )
    print(f"  full app (auth, middlewares, SQLite): {statistics.median(rates['full']):.0f} req/s")
    print(f"  bare aiohttp handler:                 {statistics.median(rates['bare']):.0f} req/s")
    print(f"  ratio full/bare: {spread(ratios(rates['full'], rates['bare']), 2)}   (goal >= 0.5)")
    await fan_out(conn, urls, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="GETs per round and target")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    with tempfile.TemporaryDirectory() as data_dir:
        server = context.Process(target=serve, args=(child, data_dir, args.subscribers))
        server.start()
        try:
            urls = parent.recv()
            asyncio.run(client(parent, urls, args))
        finally:
            parent.send({"do": "stop"})
            server.join(60)
            if server.is_alive():
                server.kill()


if __name__ == "__main__":
    main()
