"""Data preparation at the chat model: a real App, the real `openai` client, a fake server."""

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.core.dataprep.clean import DEFAULT_INSTRUCTIONS, TEXT_RULE
from bot.core.dataprep.progress import Progress
from bot.core.dataprep.template import make_spec
from bot.core.errors import Invalid
from bot.core.services import Services
from bot.room.text import task_final_text as final_text
from bot.room.text import task_progress_line as progress_line
from bot.settings import Settings
from storage.data_tasks import DataTaskRow
from tests.fakes.openai_server import FakeOpenAI

MESSY = [{"text": f"<p>The  cat&nbsp;number {i} sat</p>"} for i in range(12)]
FAQ = [{"prompt": f"<b>What is {i} + {i}?</b>", "completion": f"{2 * i}."} for i in range(12)]
CHAT = "POST /v1/chat/completions"
TEMPLATE = "Describe a {race} {class} who carries a {weapon}"
LISTS = {
    "race": ["human", "elf"],
    "class": ["ranger", "wizard", "bard"],
    "weapon": ["sword", "bow"],
}


def settings(data_dir: Path, fake: FakeOpenAI | None, **openai: Any) -> Settings:
    options = (
        {
            "api_key": fake.api_key,
            "base_url": fake.base_url,
            "max_retries": 2,
            "max_concurrency": 2,
            **openai,
        }
        if fake
        else {}
    )
    return Settings(
        storage={"data_dir": str(data_dir)},
        http={"enabled": False},
        matrix={"enabled": False},
        trainer={"default_base": "micro"},
        openai=options,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    server = FakeOpenAI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def start_app(
    app_factory: Callable[..., Any], tmp_path: Path, fake: FakeOpenAI
) -> Callable[..., Any]:
    async def start(with_key: bool = True, **openai: Any) -> Services:
        app: App = await app_factory(
            settings(tmp_path / "data", fake if with_key else None, **openai)
        )
        return app.services

    return start


def strip_markup(messages: list[dict[str, Any]]) -> str:
    """The fake chat model's cleaning: tags and entities out, whitespace normalised."""
    text = re.sub(r"<[^>]+>", "", str(messages[-1]["content"])).replace("&nbsp;", " ")
    return " ".join(text.split())


async def ended(services: Services, task: DataTaskRow) -> DataTaskRow:
    live = services.dataprep.live(task.id)
    if live is not None:
        await asyncio.wait_for(live.ended.wait(), 60)
    return await services.dataprep.get(task.id)


def stored_records(path: str) -> list[Any]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


async def test_the_estimate_counts_records_tokens_and_cost_and_stores_nothing(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app(input_price_per_mtok=2.0, output_price_per_mtok=8.0)
    await services.datasets.upload_records("messy", MESSY)

    estimate = await services.dataprep.estimate_optimize("messy")

    system = f"{DEFAULT_INSTRUCTIONS}\n\n{TEXT_RULE}"
    per_text = [math.ceil(len(r["text"].encode()) / 4) for r in MESSY]
    sent = 12 * math.ceil(len(system.encode()) / 4) + sum(per_text)
    received = sum(per_text)
    assert ("messy@v1", 12, 12, sent, received, "gpt-4o-mini") == (
        estimate.target,
        estimate.items,
        estimate.calls,
        estimate.input_tokens,
        estimate.output_tokens,
        estimate.model,
    )
    assert (sent * 2.0 + received * 8.0) / 1e6 == pytest.approx(estimate.cost_usd)
    assert f"12 records → 12 API calls to gpt-4o-mini, about {sent:,} input" in (
        estimate.describe()
    )
    assert [] == fake.chat_requests
    assert ["messy@v1"] == [d.label for d in await services.datasets.versions("messy")]
    assert [] == await services.dataprep.find()


async def test_a_confirmed_optimize_stores_a_cleaned_new_version_and_keeps_the_original(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    original = (await services.datasets.upload_records("messy", MESSY)).dataset
    before = Path(original.path).read_bytes()
    fake.chat_reply = strip_markup

    task = await services.dataprep.optimize("messy", requested_by="@ann:test", room_id="!r:test")
    assert ("running", "optimize", original.id) == (task.status, task.kind, task.dataset_id)
    done = await ended(services, task)

    assert ("succeeded", "messy@v2", None) == (done.status, done.result_label, done.error)
    assert {"done": 12, "total": 12, "invalid": 0} == done.progress
    new = await services.datasets.resolve("messy@v2")
    assert (new.id, "@ann:test", "!r:test") == (done.result_dataset_id, new.created_by, new.room_id)
    assert [{"text": f"The cat number {i} sat"} for i in range(12)] == stored_records(new.path)
    assert before == Path(original.path).read_bytes()
    assert original == await services.datasets.resolve("messy@v1")
    assert 12 == len(fake.chat_requests)
    assert DEFAULT_INSTRUCTIONS in fake.chat_requests[0].json["messages"][0]["content"]
    assert final_text(done).startswith(
        f"✅ Task {task.id}: cleaned dataset messy@v1 into dataset messy@v2 "
        "(12 records, 12 changed)."
    )


async def test_a_follower_sees_progress_then_the_outcome(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app(max_concurrency=1)
    await services.datasets.upload_records("messy", MESSY)
    fake.chat_gate = asyncio.Event()
    seen: list[DataTaskRow] = []
    first, last = asyncio.Event(), asyncio.Event()

    async def show(task: DataTaskRow) -> None:
        seen.append(task)
        first.set()
        if task.finished:
            last.set()

    task = await services.dataprep.optimize("messy")
    services.dataprep.follow(task.id, show, interval_s=0)
    await asyncio.wait_for(first.wait(), 30)
    fake.chat_gate.set()
    await asyncio.wait_for(last.wait(), 60)

    assert ("running", {"done": 0, "total": 12, "invalid": 0}) == (seen[0].status, seen[0].progress)
    assert ("succeeded", 12) == (seen[-1].status, seen[-1].progress["done"])
    done = [t.progress["done"] for t in seen]
    assert done == sorted(done) and 1 == sum(t.finished for t in seen)
    assert progress_line(seen[-1], Progress(**seen[-1].progress)) == (
        f"✅ cleaning dataset messy@v1 (task {task.id}): 12/12 done → dataset messy@v2"
    )


async def test_own_instructions_reach_the_model(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    await services.datasets.upload_records("messy", MESSY)
    task = await services.dataprep.optimize("messy", "Lower-case everything.")
    assert "succeeded" == (await ended(services, task)).status
    system = fake.chat_requests[0].json["messages"][0]["content"]
    assert system.startswith("Lower-case everything.") and DEFAULT_INSTRUCTIONS not in system


async def test_answers_that_fail_validation_keep_the_original_and_are_reported(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    await services.datasets.upload_records("faq", FAQ)

    def reply(messages: list[dict[str, Any]]) -> str:
        record = json.loads(messages[-1]["content"])
        if "3 + 3" in record["prompt"]:
            return "Sure! Here is the cleaned record: {"
        if "5 + 5" in record["prompt"]:
            return json.dumps({"question": "What is 5 + 5?", "completion": "10."})
        if "7 + 7" in record["prompt"]:
            return json.dumps({"prompt": "What is 7 + 7?", "completion": "  "})
        return json.dumps({**record, "prompt": strip_markup([{"content": record["prompt"]}])})

    fake.chat_reply = reply
    done = await ended(services, await services.dataprep.optimize("faq"))

    assert "succeeded" == done.status, done.error
    assert [
        ("line 4", "the answer is not valid JSON (Expecting value at column 1); kept the original"),
        (
            "line 6",
            "expected the keys completion and prompt, got completion, question; kept the original",
        ),
        ("line 8", "the cleaned record is not valid: empty field 'completion'; kept the original"),
    ] == [(item["where"], item["reason"]) for item in done.report["invalid"]]
    assert 3 == done.progress["invalid"]
    rows = stored_records((await services.datasets.resolve("faq@v2")).path)
    assert [FAQ[3], FAQ[5], FAQ[7]] == [rows[3], rows[5], rows[7]]
    assert {"prompt": "What is 0 + 0?", "completion": "0."} == rows[0]
    assert all(r.json["response_format"] == {"type": "json_object"} for r in fake.chat_requests)
    notice = final_text(done)
    assert "3 answers failed validation; those records kept the original:" in notice
    assert "- line 6: expected the keys completion and prompt" in notice


async def test_a_429_and_a_500_are_retried_and_the_task_still_succeeds(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    await services.datasets.upload_records("messy", MESSY)
    fake.rate_limit_next(CHAT)
    fake.fail_next(CHAT, 500)

    done = await ended(services, await services.dataprep.optimize("messy"))

    statuses = [r.status for r in fake.seen("POST", "/v1/chat/completions")]
    assert [429, 500] == statuses[:2]
    assert [200] * 12 == statuses[2:]
    assert ("succeeded", "messy@v2") == (done.status, done.result_label)


async def test_a_request_failing_after_the_retries_fails_the_task_and_stores_nothing(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app(max_retries=0)
    await services.datasets.upload_records("messy", MESSY)
    fake.fail_next(CHAT, 500)

    task = await services.dataprep.optimize("messy", room_id="!r:test")
    done = await ended(services, task)

    assert "failed" == done.status
    assert re.fullmatch(
        r"the chat model failed on line \d+: The server had an error; nothing was stored",
        done.error or "",
    )
    assert (None, None) == (done.result_dataset_id, done.result_label)
    assert ["messy@v1"] == [d.label for d in await services.datasets.versions("messy")]
    assert final_text(done) == f"❌ Task {task.id} (cleaning dataset messy@v1) failed: {done.error}"


async def test_generate_stores_the_final_prompts_and_never_the_generation_prompts(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    fake.chat_reply = lambda messages: f"A tale: {messages[-1]['content']}."
    spec = make_spec(TEMPLATE, LISTS, max_tokens=50, temperature=0.5)

    estimate = await services.dataprep.estimate_generate("heroes", spec)
    assert (12, 12, 12 * 50, True) == (
        estimate.items,
        estimate.calls,
        estimate.output_tokens,
        estimate.output_is_limit,
    )
    done = await ended(services, await services.dataprep.generate("heroes", spec))

    assert ("succeeded", "heroes@v1", "completion") == (
        done.status,
        done.result_label,
        (await services.datasets.resolve("heroes")).format,
    )
    dataset = await services.datasets.resolve("heroes")
    rows = stored_records(dataset.path)
    assert 12 == len(rows)
    assert {
        "prompt": "human, ranger, sword",
        "completion": "A tale: Describe a human ranger who carries a sword.",
    } == rows[0]
    assert {
        "prompt": "elf, bard, bow",
        "completion": "A tale: Describe a elf bard who carries a bow.",
    } == rows[-1]
    asked = [r.json["messages"][-1]["content"] for r in fake.chat_requests]
    assert "Describe a elf wizard who carries a bow" in asked and 12 == len(set(asked))
    assert all(
        r.json["max_tokens"] == 50 and r.json["temperature"] == 0.5 for r in fake.chat_requests
    )
    assert all(not row["prompt"].startswith("Describe") for row in rows)


async def test_generate_with_an_own_prompt_and_an_empty_answer_reported(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    fake.chat_reply = lambda m: "" if "elf wizard" in m[-1]["content"] else "Once upon a time."
    spec = make_spec(TEMPLATE, LISTS, prompt="A {class} ({race}) with a {weapon}:")

    done = await ended(services, await services.dataprep.generate("heroes", spec))

    assert "succeeded" == done.status, done.error
    rows = stored_records((await services.datasets.resolve("heroes")).path)
    assert 10 == len(rows)
    assert "A ranger (human) with a sword:" == rows[0]["prompt"]
    assert [
        (
            "pair 9 (race=elf, class=wizard, weapon=sword)",
            "the model returned an empty completion; left out",
        ),
        (
            "pair 10 (race=elf, class=wizard, weapon=bow)",
            "the model returned an empty completion; left out",
        ),
    ] == [(item["where"], item["reason"]) for item in done.report["invalid"]]
    assert "2 combinations were left out:" in final_text(done)


@pytest.mark.parametrize(
    ("template", "lists", "options", "message"),
    [
        (
            TEMPLATE,
            {"race": ["elf"], "class": ["mage"]},
            {},
            "placeholder {weapon} has no list: add weapon=value1,value2",
        ),
        (
            "Describe a {race}",
            {"race": ["elf"], "hat": ["red"]},
            {},
            "hat is not used by the template or the prompt",
        ),
        ("Describe a {race}", {"race": ["elf", ""]}, {}, "race has an empty value"),
        ("Describe a {race}", {"race": ["elf", "elf "]}, {}, "race lists 'elf' more than once"),
        ("Describe nothing", {}, {}, "the template has no {placeholder}"),
        (
            "{a} {b} {c}",
            {n: [str(i) for i in range(20)] for n in "abc"},
            {},
            "20 × 20 × 20 = 8000 combinations; at most 5000 at once",
        ),
        (
            "Describe a {race}",
            {"race": ["elf"]},
            {"max_tokens": 0},
            "max_tokens must be between 1 and 4096, got 0",
        ),
        (
            "Describe a {race}",
            {"race": ["elf"]},
            {"temperature": 3.0},
            "temperature must be between 0 and 2, got 3.0",
        ),
        (
            "Describe a {race}",
            {"race": ["elf"]},
            {"prompt": "{race} in a {hat}"},
            "placeholder {hat} has no list",
        ),
    ],
)
def test_a_wrong_template_is_refused_with_a_clear_message(
    template: str, lists: dict[str, list[str]], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(Invalid) as refused:
        make_spec(template, lists, **options)
    assert message in str(refused.value)


async def test_too_few_combinations_and_a_missing_key_are_refused_and_store_nothing(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    few = make_spec(TEMPLATE, {"race": ["elf"], "class": ["mage"], "weapon": ["bow", "axe"]})
    with pytest.raises(Invalid, match=r"2 combinations make 2 pairs; a dataset needs at least 10"):
        await services.dataprep.generate("heroes", few)
    with pytest.raises(Invalid, match="dataset name 'bad name' is not allowed"):
        await services.dataprep.estimate_generate("bad name", make_spec(TEMPLATE, LISTS))

    keyless = await start_app(with_key=False)
    await keyless.datasets.upload_records("messy", MESSY)
    for attempt in (
        keyless.dataprep.estimate_optimize("messy"),
        keyless.dataprep.optimize("messy"),
        keyless.dataprep.generate("heroes", make_spec(TEMPLATE, LISTS)),
    ):
        with pytest.raises(Invalid, match=r"set \[openai\] api_key"):
            await attempt
    assert [] == await keyless.dataprep.find() == await services.dataprep.find()
    assert [] == fake.chat_requests
    assert ["messy@v1"] == [d.label for d in await keyless.datasets.versions()]


async def test_an_unknown_dataset_and_empty_instructions_are_refused(
    start_app: Callable[..., Any],
) -> None:
    services = await start_app()
    await services.datasets.upload_records("messy", MESSY)
    with pytest.raises(Invalid, match="the instructions are empty"):
        await services.dataprep.optimize("messy", "   ")
    with pytest.raises(Exception, match="no dataset 'nope'"):
        await services.dataprep.optimize("nope")
    assert [] == await services.dataprep.find()


async def test_tasks_a_previous_process_left_running_are_marked_interrupted(
    start_app: Callable[..., Any],
) -> None:
    services = await start_app()
    task = DataTaskRow(
        "left1234",
        "optimize",
        "running",
        None,
        "messy",
        {},
        {},
        None,
        None,
        {},
        None,
        "",
        None,
        1.0,
        None,
    )
    await services.store.data_tasks.insert(task)
    await services.dataprep.start()
    found = await services.dataprep.get("left1234")
    assert ("failed", "interrupted by a restart; nothing was stored") == (found.status, found.error)


async def test_chat_records_are_cleaned_message_by_message_and_keep_their_weights(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    chats = [
        {
            "messages": [
                {"role": "user", "content": f"<b>Hi</b> {i}"},
                {"role": "assistant", "content": "Hello.", "weight": 1},
            ]
        }
        for i in range(12)
    ]
    await services.datasets.upload_records("chats", chats)

    def reply(messages: list[dict[str, Any]]) -> str:
        record = json.loads(messages[-1]["content"])
        if record["messages"][0]["content"].endswith(" 2"):
            record["messages"][0]["role"] = "system"
        for message in record["messages"]:
            message["content"] = strip_markup([message])
        return json.dumps(record)

    fake.chat_reply = reply
    done = await ended(services, await services.dataprep.optimize("chats"))

    assert "succeeded" == done.status, done.error
    stored = stored_records((await services.datasets.resolve("chats@v2")).path)
    assert {
        "messages": [
            {"role": "user", "content": "Hi 0"},
            {"role": "assistant", "content": "Hello.", "weight": 1},
        ]
    } == stored[0]
    assert chats[2] == stored[2]
    assert [("line 3", "message 1 should keep the role 'user'; kept the original")] == [
        (item["where"], item["reason"]) for item in done.report["invalid"]
    ]
    sent = json.loads(fake.chat_requests[0].json["messages"][-1]["content"])
    assert {
        "messages": [
            {"role": "user", "content": "<b>Hi</b> 0"},
            {"role": "assistant", "content": "Hello."},
        ]
    } == sent


async def test_a_csv_dataset_is_cleaned_into_json_records(
    start_app: Callable[..., Any], fake: FakeOpenAI
) -> None:
    services = await start_app()
    csv = "prompt,completion,notes\n" + "".join(f"<b>Q{i}</b>,A{i},x\n" for i in range(12))
    await services.datasets.upload_file("table", "table.csv", csv.encode())
    fake.chat_reply = lambda m: json.dumps(
        {k: strip_markup([{"content": v}]) for k, v in json.loads(m[-1]["content"]).items()}
    )
    done = await ended(services, await services.dataprep.optimize("table"))

    new = await services.datasets.resolve("table@v2")
    assert ("succeeded", "completion") == (done.status, new.format)
    assert {"prompt": "Q0", "completion": "A0"} == stored_records(new.path)[0]


@pytest.mark.parametrize("mid_run", [False, True])
async def test_stopping_cancels_a_running_task_and_stores_nothing(
    start_app: Callable[..., Any], fake: FakeOpenAI, mid_run: bool
) -> None:
    services = await start_app()
    await services.datasets.upload_records("messy", MESSY)
    fake.chat_gate = asyncio.Event()
    task = await services.dataprep.optimize("messy")
    while mid_run and not fake.seen("POST", "/v1/chat/completions"):  # noqa: ASYNC110
        await asyncio.sleep(0.01)

    await services.dataprep.stop()

    found = await services.dataprep.get(task.id)
    assert ("failed", "interrupted by a shutdown; nothing was stored") == (
        found.status,
        found.error,
    )
    assert ["messy@v1"] == [d.label for d in await services.datasets.versions("messy")]
    fake.chat_gate.set()


def test_the_final_notice_lists_ten_invalid_answers_and_counts_the_rest() -> None:
    invalid = [
        {"where": f"line {n}", "line": n, "reason": "bad; kept the original"} for n in range(1, 14)
    ]
    usage = {"input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.0004}
    report = {"stored": 20, "changed": 7, "invalid": invalid, "left_out": 2, "usage": usage}
    task = DataTaskRow(
        "t1",
        "optimize",
        "succeeded",
        "d1",
        "ds",
        {"source": "ds@v1"},
        {},
        "d2",
        "ds@v2",
        report,
        None,
        "",
        None,
        1.0,
        2.0,
    )
    assert final_text(task).splitlines() == [
        "✅ Task t1: cleaned dataset ds@v1 into dataset ds@v2 (20 records, 7 changed). "
        "Used 1,200 input and 300 output tokens ($0.0004).",
        "13 answers failed validation; those records kept the original:",
        *(f"- line {n}: bad; kept the original" for n in range(1, 11)),
        "… and 3 more.",
        "2 rows the original version skipped are left out.",
    ]
