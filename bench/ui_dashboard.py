"""The dashboard in headless Chromium: event-to-chart latency, frame times, first-load size.

A real App serves the dashboard and the API (SQLite in a temp dir); a held job (paused,
so no training runs) gets synthetic `progress` events through the real `EventBus`, each
carrying its publish time, while its job page is open in Chromium and follows them over
the fetch-based SSE stream. Per round:

- latency: publish → chart redrawn (wall clock, both on this machine), and inside the
  page from the stream chunk's arrival → redraw; the baseline is the same events read by
  a bare aiohttp SSE client in this process (publish → received), so the ratio says
  what the browser, parsing and drawing add;
- frames: 10,000 points put into the page's loss chart, 50 per animation frame, then
  one per frame for 120 frames at 10,000+: every frame's interval and redraw time;
- first load: bytes transferred (compressed, headers included) for a cold sign-in to
  the jobs page, the dashboard's own files alone and with the API calls it made.

    .venv/bin/python bench/ui_dashboard.py [--rounds 3] [--events 200] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's bot/

from bench._rounds import spread
from bot.app import App
from bot.core.types import JobStatus
from bot.settings import Settings
from storage.jobs import JobRow

TOKEN = "bench-ui-token"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

FRAMES_JS = """async () => {
  const chart = window.trainbot.charts.loss;
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  const intervals = [];
  let last = await frame();
  const tick = async () => { const now = await frame(); intervals.push(now - last); last = now; };
  const start = chart.xs.length ? chart.xs[chart.xs.length - 1] + 1 : 1;
  const firstDraw = chart.draws.length;
  for (let i = 0; i < 10000; i += 50) {
    for (let j = 0; j < 50; j++) chart.put(0, start + i + j, 5 - Math.log1p(i + j) / 3);
    await tick();
  }
  const filling = intervals.length;
  for (let k = 0; k < 120; k++) {
    chart.put(0, start + 10000 + k, 2);
    await tick();
  }
  await frame();
  const work = chart.draws.slice(firstDraw).map((d) => d[1]);
  return { intervals, filling, work, points: chart.data[0].length };
}"""


def settings(data_dir: Path) -> Settings:
    return Settings(
        storage={"data_dir": str(data_dir)},
        http={"enabled": True, "port": 0, "tokens": [TOKEN], "max_streams_per_token": 64},
        matrix={"enabled": False},
        trainer={"default_base": "micro"},
    )


async def held_job(app: App, n: int) -> JobRow:
    now = time.time()
    job = JobRow(
        id=f"benchui{n:04d}",
        name=f"bench{n}",
        status=JobStatus.PAUSED,
        backend="local",
        dataset_id="none",
        base="micro",
        spec={},
        requested_by="api:bench",
        room_id=None,
        result=None,
        error=None,
        model_id=None,
        created_at=now,
        started_at=None,
        finished_at=None,
        updated_at=now,
        remote_id=None,
    )
    await app.services.store.jobs.insert(job)
    return job


async def bare_client(url: str, job_id: str, count: int, got: dict[int, float]) -> None:
    """The baseline: read the same stream with aiohttp, noting when each step arrived."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"}
    path = f"{url}/v1/jobs/{job_id}/events"
    async with aiohttp.ClientSession() as session, session.get(path, headers=headers) as r:
        async for raw in r.content:
            line = raw.decode()
            if line.startswith("data: ") and '"step":' in line:
                step = int(line.split('"step":')[1].split(",")[0])
                got[step] = time.time() * 1000
                if step >= count:
                    return


async def one_round(app: App, browser: Any, n: int, events: int, rate: float) -> dict[str, Any]:
    assert app.http is not None
    job = await held_job(app, n)
    context = await browser.new_context(base_url=app.http.url)
    page = await context.new_page()
    sizes: list[tuple[str, int]] = []

    async def note(response: Any) -> None:
        try:
            timing = await response.request.sizes()
        except Exception:  # the page moved on before its size was asked (a live stream)
            return
        sizes.append((response.url, timing["responseBodySize"] + timing["responseHeadersSize"]))

    page.on("response", lambda r: asyncio.ensure_future(note(r)))
    await page.goto("/ui")
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_label("API token").press("Enter")
    await page.wait_for_selector("#view[data-ready='#/jobs']")
    await asyncio.sleep(0.5)  # the size notes are awaited in the background
    first_load = list(sizes)

    await page.goto(f"/ui#/jobs/{job.id}")
    await page.wait_for_selector(f"#view[data-ready='#/jobs/{job.id}']")
    await page.wait_for_function("() => window.trainbot.charts.loss !== undefined")
    await page.evaluate("() => { window.trainbot.latencies.length = 0; }")
    bare: dict[int, float] = {}
    reader = asyncio.create_task(bare_client(app.http.url, job.id, events, bare))
    await asyncio.sleep(0.5)  # both subscribers attached
    published: dict[int, float] = {}
    for step in range(1, events + 1):
        published[step] = time.time() * 1000
        data = {
            "step": step,
            "total_steps": events,
            "loss": 5 - step / events,
            "learning_rate": 1e-4,
            "tokens_per_s": 1000.0,
            "eta_s": (events - step) / rate,
        }
        await app.services.bus.publish(job.id, "progress", data)
        await asyncio.sleep(1 / rate)
    await asyncio.wait_for(reader, 30)
    await page.wait_for_function(f"() => window.trainbot.charts.loss.xs.length >= {events}")
    draws = await page.evaluate("() => window.trainbot.charts.loss.draws")
    sizes_at = await page.evaluate("() => window.trainbot.charts.loss.sizes")
    in_page = await page.evaluate("() => window.trainbot.latencies.slice()")
    e2e = []
    for step, sent in published.items():
        drawn = next(d[0] for d, size in zip(draws, sizes_at, strict=True) if size >= step)
        e2e.append(drawn - sent)
    frames = await page.evaluate(FRAMES_JS)
    await context.close()
    return {
        "e2e": e2e,
        "in_page": in_page,
        "bare": [bare[s] - published[s] for s in published if s in bare],
        "frames": frames,
        "ui_kb": sum(b for url, b in first_load if "/ui" in url) / 1024,
        "all_kb": sum(b for _, b in first_load) / 1024,
    }


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def figure(name: str, values: list[float], unit: str) -> str:
    return f"{name} ({unit}): median {spread(values, 1)}"


async def main(rounds: int, events: int, rate: float) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp:
        app = App(settings(Path(tmp) / "data"))
        await app.start()
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                results = [await one_round(app, browser, n, events, rate) for n in range(rounds)]
                await browser.close()
        finally:
            await app.stop()
    e2e = [p95(r["e2e"]) for r in results]
    in_page = [p95(r["in_page"]) for r in results]
    bare = [p95(r["bare"]) for r in results]
    ratio = [a / max(b, 0.1) for a, b in zip(e2e, bare, strict=True)]
    max_frame = [max(r["frames"]["intervals"]) for r in results]
    p95_frame = [p95(r["frames"]["intervals"]) for r in results]
    max_work = [max(r["frames"]["work"]) for r in results]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{rounds} rounds, {events} events at {rate:g}/s each; 10,000-point frame test")
    print(
        f"machine: {os.cpu_count()} cores, load average now {load} (other work skews all of this)"
    )
    print(figure("SSE publish -> chart redrawn, p95", e2e, "ms") + "   goal < 100 ms")
    print(figure("  in page: chunk received -> redrawn, p95", in_page, "ms"))
    print(figure("  baseline: bare aiohttp client publish -> received, p95", bare, "ms"))
    print(figure("  ratio browser / bare client (p95)", ratio, "x"))
    print(figure("frame interval with 10,000+ points, max", max_frame, "ms") + "   goal < 50 ms")
    print(figure("  frame interval, p95", p95_frame, "ms"))
    print(figure("  redraw work per frame, max", max_work, "ms"))
    print(f"  points on the chart at the end: {results[-1]['frames']['points']}")
    print(
        figure(
            "first load, dashboard files (compressed, with headers)",
            [r["ui_kb"] for r in results],
            "KiB",
        )
        + "   goal < 300 KB"
    )
    print(figure("first load, everything incl. API calls", [r["all_kb"] for r in results], "KiB"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.events, args.rate))
