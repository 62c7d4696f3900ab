"""Notify webhooks: token and HMAC checks, and the persisted outbox the Matrix layer drains."""

import json

import pytest

from bot.app import App
from bot.core.notifications import NotificationOutbox
from tests.http.support import HOOK_SECRET, Api, sign

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
