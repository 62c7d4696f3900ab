"""Webhooks: token and HMAC checks (timestamped, replays refused), what a train hook may
train, and the persisted outbox the Matrix layer drains."""

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from bot.app import App
from bot.core.errors import TooMany
from bot.core.notifications import Notice, NotificationOutbox
from storage.db import Database, bundled_migrations
from storage.state import StateRepo
from tests.http.support import HOOK_SECRET, Api, Reply, records, sign

pytestmark = pytest.mark.asyncio(loop_scope="session")


def outbox(app: App) -> NotificationOutbox:
    return app.services.notifications


async def test_a_token_hook_queues_its_text_for_the_room(api: Api, app: App) -> None:
    reply = await api.post(
        "/v1/hooks/note",
        json={"text": "**deploy** finished"},
        token=None,
        headers={"X-Trainbot-Token": HOOK_SECRET},
    )
    assert 202 == reply.status, reply.text
    notice = reply.json["notice"]
    assert "!room:test" == notice["room_id"]
    queued = {n.id: n for n in await outbox(app).pending()}
    assert "**deploy** finished" == queued[notice["id"]].text
    assert "hook:note" == queued[notice["id"]].source
    await outbox(app).ack(notice["id"])
    assert notice["id"] not in {n.id for n in await outbox(app).pending()}


async def test_an_hmac_hook_checks_the_signature_of_the_raw_body(api: Api, app: App) -> None:
    body = json.dumps({"text": "signed hello"}).encode()
    good = await api.post(
        "/v1/hooks/signed-note",
        data=body,
        token=None,
        headers={"X-Trainbot-Signature": sign(body), "Content-Type": "application/json"},
    )
    assert 202 == good.status, good.text
    tampered = body.replace(b"hello", b"HELLO")
    bad = await api.post(
        "/v1/hooks/signed-note",
        data=tampered,
        token=None,
        headers={"X-Trainbot-Signature": sign(body)},
    )
    wrong_key = await api.post(
        "/v1/hooks/signed-note",
        data=body,
        token=None,
        headers={"X-Trainbot-Signature": sign(body, "other")},
    )
    unsigned = await api.post("/v1/hooks/signed-note", data=body, token=None)
    assert (401, 401, 401) == (bad.status, wrong_key.status, unsigned.status)
    assert "unauthorized" == bad.error["code"]
    texts = [n.text for n in await outbox(app).pending()]
    assert 1 == texts.count("signed hello")  # refused calls queued nothing
    # A token hook does not take a signature, nor an hmac hook a token.
    token_on_hmac = await api.post(
        "/v1/hooks/signed-note", data=body, token=None, headers={"X-Trainbot-Token": HOOK_SECRET}
    )
    assert 401 == token_on_hmac.status


async def test_a_notify_hook_needs_text(api: Api) -> None:
    headers = {"X-Trainbot-Token": HOOK_SECRET}
    empty = await api.post("/v1/hooks/note", json={}, token=None, headers=headers)
    data = await api.post(
        "/v1/hooks/note", json={"data": [{"text": "x"}]}, token=None, headers=headers
    )
    assert (422, 422) == (empty.status, data.status)
    assert "takes {'text'" in empty.error["message"]


async def test_queued_notices_survive_in_storage(app: App) -> None:
    fresh = NotificationOutbox(app.services.store.state)  # as a restarted process sees it
    before = len(await fresh.pending())
    await outbox(app).enqueue("!room:test", "persisted", source="test")
    after = await fresh.pending()
    assert before + 1 == len(after)
    assert "persisted" == after[-1].text


async def post_signed(api: Api, hook: str, body: bytes, signature: str) -> Reply:
    headers = {"X-Trainbot-Signature": signature, "Content-Type": "application/json"}
    return await api.post(f"/v1/hooks/{hook}", data=body, token=None, headers=headers)


async def test_a_signed_train_call_sent_many_times_trains_once(api: Api, app: App) -> None:
    body = json.dumps({"data": records(30, seed=11)}).encode()
    signature = sign(body)
    before = len(await app.services.datasets.versions("hooked"))
    replies = await asyncio.gather(
        *(post_signed(api, "retrain", body, signature) for _ in range(8))
    )
    assert [202] + [409] * 7 == sorted(r.status for r in replies)
    replay = next(r for r in replies if r.status == 409)
    assert "already accepted (a replay)" in replay.error["message"]
    accepted = next(r for r in replies if r.status == 202).json
    assert before + 1 == len(await app.services.datasets.versions("hooked"))
    listed = await api.get("/v1/jobs")
    assert 200 == listed.status, listed.text
    jobs = listed.json["jobs"]
    assert [accepted["job"]["id"]] == [
        j["id"] for j in jobs if j["dataset_id"] == accepted["dataset"]["id"]
    ]
    await api.post(f"/v1/jobs/{accepted['job']['id']}/cancel")


async def test_a_signature_outside_the_tolerance_window_is_refused(api: Api) -> None:
    body = json.dumps({"text": "from the past"}).encode()
    old = await post_signed(api, "signed-note", body, sign(body, stamp=int(time.time()) - 301))
    future = await post_signed(api, "signed-note", body, sign(body, stamp=int(time.time()) + 400))
    assert (401, 401) == (old.status, future.status)
    assert "more than 300 s away from the server's clock" in old.error["message"]
    # A body-only signature (the old scheme) no longer passes.
    body_only = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert 401 == (await post_signed(api, "signed-note", body, body_only)).status


async def test_a_train_hook_trains_only_its_own_dataset(api: Api, app: App) -> None:
    other = await api.post("/v1/datasets", json={"name": "not-hooked", "records": records(30)})
    assert 201 == other.status, other.text
    newest = (await api.get("/v1/jobs")).json["jobs"][:1]
    for ref in ("not-hooked", other.json["dataset"]["id"], "not-hooked@v1"):
        body = json.dumps({"dataset": ref}).encode()
        refused = await post_signed(api, "retrain", body, sign(body))
        assert 403 == refused.status, refused.text
        assert (
            "train hook 'retrain' trains only versions of dataset 'hooked', not not-hooked@v1"
            == refused.error["message"]
        )
    assert newest == (await api.get("/v1/jobs")).json["jobs"][:1]  # no job queued


async def test_the_outbox_is_one_row_per_notice_in_order_with_a_limit(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    outbox = NotificationOutbox(StateRepo(db), max_pending=5)
    results = await asyncio.gather(
        *(outbox.enqueue("!r:test", f"n{i}", source="test") for i in range(8)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, TooMany)]
    assert (3, "5 notices are waiting for delivery") == (len(refused), refused[0].message)
    queued = await outbox.pending()
    assert [r.id for r in results if isinstance(r, Notice)] == [n.id for n in queued]
    rows = await db.fetchone("SELECT COUNT(*) AS n FROM notices")
    assert rows is not None and 5 == rows["n"]
    await outbox.ack(queued[0].id, queued[2].id)
    assert [queued[1].id, *[n.id for n in queued[3:]]] == [n.id for n in await outbox.pending()]
    await db.close()


async def test_notices_queued_by_an_older_version_move_into_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    migrations = bundled_migrations()
    version = next(m.version for m in migrations if m.name == "notices")
    old = await Database.open(path, migrations=migrations[: version - 1])
    expected = [Notice(f"old{i}", "!r:test", f"**{i}**", "hook:x", 1.0 + i) for i in range(3)]
    queued = [
        {
            "id": n.id,
            "room_id": n.room_id,
            "text": n.text,
            "source": n.source,
            "created_at": n.created_at,
        }
        for n in expected
    ]
    await old.execute(
        "INSERT INTO state (key, value, updated_at) VALUES ('notifications.outbox', ?, 1.0)",
        (json.dumps(queued),),
    )
    await old.close()

    upgraded = await Database.open(path)
    outbox = NotificationOutbox(StateRepo(upgraded))
    assert expected == await outbox.pending()
    assert None is await StateRepo(upgraded).get("notifications.outbox")
    await upgraded.close()
