"""The dashboard in a real headless Chromium against a real App: read like a session at the desk.

A person signs in, uploads data with a bad row, starts a job and watches its loss chart
grow, pauses and resumes it, sees the model appear and tries it in the playground; a
read-only token is offered nothing that changes anything; a wrong token gets nowhere.
The tests run in file order and share the App, as one visit would.
"""

import json
import tarfile

import pytest

from bot.app import App
from tests.http.support import records
from tests.ui.support import ADMIN, READER, TRAINER, shot, sign_in, visit

pytest.importorskip("playwright.async_api")
from playwright.async_api import Page, expect

pytestmark = pytest.mark.asyncio(loop_scope="session")
PAGES = ("#/jobs", "#/models", "#/datasets", "#/playground", "#/schedules")
# Every control on the page with no name a screen reader could say.
UNLABELLED = """() => [...document.querySelectorAll('main :is(input, select, textarea, button)')]
    .filter(e => !e.labels?.length && !e.getAttribute('aria-label') && !e.textContent.trim())
    .map(e => e.outerHTML)"""
READING = ("Overlay selected runs", "Download ")  # buttons that only read
LONG_MS = 180_000  # a job on 2 busy cores: generous, and only reached when something is wrong


async def test_a_wrong_token_is_refused_and_nothing_is_shown(page: Page) -> None:
    await page.goto("/")
    await page.get_by_label("API token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "That token was refused: check it and try again."
    )
    assert await page.locator("#nav").is_hidden()
    assert None is await page.evaluate("() => sessionStorage.getItem('trainbot.token')")
    await shot(page, "signin-refused")


async def test_a_bad_row_is_shown_next_to_its_line_and_nothing_is_stored(
    page: Page, ui_app: App
) -> None:
    await sign_in(page, TRAINER)
    await visit(page, "#/datasets")
    good = [json.dumps(r) for r in records(40)]
    body = "\n".join([*good[:20], '{"text": broken', *good[20:]]) + "\n"
    await page.get_by_label("Name", exact=True).fill("ui-data")
    await page.get_by_label("File (JSONL, CSV or text)").set_input_files(
        {"name": "ui-data.jsonl", "mimeType": "application/json", "buffer": body.encode()}
    )
    await page.get_by_role("button", name="Upload").click()
    row = page.locator("#upload-result tr[data-line='21']")
    await expect(row).to_contain_text('{"text": broken')
    await expect(row).to_contain_text("not valid JSON")
    await expect(page.locator("#upload-result [role=alert]")).to_contain_text("1 invalid row.")
    await shot(page, "datasets-row-error")
    assert [] == await ui_app.services.datasets.versions()  # refused: nothing stored

    await page.get_by_label("Skip invalid rows").check()
    await page.get_by_role("button", name="Upload").click()
    await expect(page.locator("#upload-result [role=status]")).to_have_text("Stored ui-data@v1.")
    await expect(page.get_by_role("link", name="ui-data@v1")).to_be_visible()
    await page.get_by_role("link", name="ui-data@v1").click()
    await expect(page.locator("pre")).to_contain_text("examples            40")
    # The token-length histogram: one bar per stored bin, each saying its range and count.
    bars = page.locator(".histogram li.bar")
    drawn = await bars.evaluate_all(
        "bs => bs.map(b => [+b.dataset.lo, +b.dataset.hi, +b.dataset.count, b.title])"
    )
    [stored] = await ui_app.services.datasets.versions("ui-data")
    histogram = stored.stats["length_histogram"]
    edges, counts = histogram["edges"], histogram["counts"]
    ranges = [[lo + 1, hi, n] for lo, hi, n in zip(edges, edges[1:], counts, strict=False)]
    assert ranges == [bar[:3] for bar in drawn]
    assert (40, True) == (sum(counts), 1 < len(counts) <= 20)
    lo, hi, n, title = drawn[-1]  # the last bin holds the longest example
    span = f"{hi}" if lo == hi else f"{lo}–{hi}"
    assert f"{span} tokens: {n} example{'' if n == 1 else 's'}" == title
    await shot(page, "dataset-version")


async def test_a_job_is_followed_live_paused_resumed_and_its_model_appears(
    page: Page, ui_app: App
) -> None:
    await sign_in(page, TRAINER)
    await page.get_by_label("Dataset").select_option("ui-data")
    for knob, value in {"Max steps": "6", "Batch size": "4", "Block size": "32"}.items():
        await page.get_by_label(knob).fill(value)
    await page.get_by_label("Evaluate every (steps)").fill("3")
    await page.get_by_label("Save every (steps)").fill("3")
    await page.get_by_role("button", name="Start training").click()
    await page.wait_for_url("**/ui#/jobs/*")
    job_id = page.url.rsplit("/", 1)[-1]
    status = page.locator("[data-fact=status] dd")

    # Paused as soon as it is offered (queued, validating or running: each may pause).
    await page.get_by_role("button", name="Pause").click()
    await expect(status).to_have_text("⏸ paused", timeout=LONG_MS)
    await expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    await shot(page, "job-paused")
    await page.get_by_role("button", name="Resume").click()

    # The chart gains points while the job runs: read from the chart's own data, which
    # was redrawn at several sizes as events arrived (not once at the end).
    # (Functions, not expressions: an expression would need eval, which the CSP forbids.)
    growing = "() => window.trainbot.charts.loss.data[0].length >= 3"
    await page.wait_for_function(growing, timeout=LONG_MS)
    await expect(status).to_have_text("✓ succeeded", timeout=LONG_MS)
    xs, train, evals = await page.evaluate("() => window.trainbot.charts.loss.data")
    sizes = await page.evaluate("() => window.trainbot.charts.loss.sizes")
    assert 6 == xs[-1]  # the chart reached the last step
    assert sorted(sizes) == sizes and len({n for n in sizes if n}) >= 2, sizes
    assert {3, 6} <= {x for x, e in zip(xs, evals, strict=True) if e is not None}
    assert all(loss is not None for x, loss in zip(xs, train, strict=True) if x >= 1)
    await expect(page.locator(".log")).to_contain_text("state: succeeded")
    await shot(page, "job-succeeded")

    await visit(page, "#/jobs")
    await page.get_by_label(f"compare ui-data {job_id}").check()
    await page.get_by_role("button", name="Overlay selected runs").click()
    overlaid = "() => window.trainbot.charts.compare?.data[1].filter((y) => y !== null).length"
    await page.wait_for_function(f"() => ({overlaid})() === 6")
    await shot(page, "compare")

    await visit(page, "#/models")
    await expect(page.locator("tbody tr").first).to_contain_text("ui-data@v1")
    await expect(page.locator("tbody tr").first).to_contain_text("✓ active")
    await shot(page, "models")


async def test_the_playground_streams_two_answers_and_saves_them(page: Page, ui_app: App) -> None:
    await sign_in(page, TRAINER)
    await visit(page, "#/playground")
    await page.get_by_label("Prompt").fill("the cat")
    await page.get_by_label("Max tokens").fill("8")
    await page.get_by_label("Seed (empty: random)").fill("7")
    await page.get_by_label("Side by side with").select_option(label="ui-data@v1 (active)")
    await page.get_by_role("button", name="Generate").click()
    answers = page.locator(".answer[data-done]")
    await expect(answers).to_have_count(2, timeout=LONG_MS)
    shown = await answers.all_inner_texts()
    pieces = [int(p or 0) for p in await answers.evaluate_all("a => a.map(e => e.dataset.pieces)")]
    assert all(count >= 2 for count in pieces), pieces  # written as it came, not at once
    saved = await ui_app.services.generation.predictions(None, limit=2, before=None)
    assert ["the cat", "the cat"] == [p.prompt for p in saved]
    assert sorted(p.output.strip() for p in saved) == sorted(t.strip() for t in shown)
    await shot(page, "playground")


async def test_a_read_only_token_is_offered_nothing_that_changes_anything(
    page: Page, ui_app: App
) -> None:
    await sign_in(page, READER)
    job = (await ui_app.services.jobs.find(status=None, limit=1, after=None))[0]
    for where in (*PAGES, f"#/jobs/{job.id}"):
        await visit(page, where)
        offered = await page.locator("main button:visible, main form:visible").all_inner_texts()
        changing = [text for text in offered if not text.startswith(READING)]
        assert [] == changing, where
        await shot(page, "read-only-" + named(where))
    await visit(page, "#/playground")
    await expect(page.locator("#view")).to_contain_text("may not generate text")
    await shot(page, "read-only-playground")


async def test_every_page_works_at_phone_width_with_labelled_controls(
    page: Page, ui_app: App
) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await sign_in(page, ADMIN)
    job = (await ui_app.services.jobs.find(status=None, limit=1, after=None))[0]
    for where in (*PAGES, f"#/jobs/{job.id}"):
        await visit(page, where)
        assert [] == await page.evaluate(UNLABELLED), where
        wide = await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{where} is {wide}px wider than a phone"
        await shot(page, "phone-" + named(where))


async def test_deleting_the_active_model_is_refused_in_words_and_it_downloads(
    page: Page, ui_app: App
) -> None:
    await sign_in(page, ADMIN)
    await visit(page, "#/models")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete ui-data@v1").click()
    await expect(page.get_by_role("alert")).to_contain_text("Could not delete")
    assert ["ui-data@v1"] == [m.label for m in await ui_app.services.models.versions()]

    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Download ui-data@v1").click()
    download = await downloading.value
    with tarfile.open(await download.path(), "r:gz") as archive:
        names = archive.getnames()
    assert "ui-data-v1.tar.gz" == download.suggested_filename
    assert "ui-data-v1/config.json" in names


def named(where: str) -> str:
    """A screenshot's name for a page: its section, or "job" for one job's page."""
    return "job" if where.startswith("#/jobs/") else where.removeprefix("#/")
