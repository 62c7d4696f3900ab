"""Token scopes: read for GET, train for the rest, admin for deletes and activation.

Tokens without scopes keep full access; a job is controlled by its requester or an admin.
"""

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from bot.app import App
from bot.http.server import ROUTES, HttpServer
from tests.http.support import TOKEN, Api, held_job, http_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")
READER, TRAINER, OTHER_TRAINER, ADMIN = "reader-token-1", "ci-token-22", "ci2-token-333", "admin-4"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def scoped(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    tokens = [
        TOKEN,  # a plain string: full access, as before scopes existed
        {"token": READER, "name": "dashboard", "scopes": ["read"]},
        {"token": TRAINER, "name": "ci", "scopes": ["train"]},
        {"token": OTHER_TRAINER, "name": "ci2", "scopes": ["train"]},
        {"token": ADMIN, "name": "ops", "scopes": ["admin"]},
    ]
    app = App(http_settings(tmp_path_factory.mktemp("scopes") / "data", tokens=tokens))
    await app.start()
    yield app
    await app.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def api(scoped: App) -> AsyncIterator[Api]:
    assert isinstance(scoped.http, HttpServer)
    async with aiohttp.ClientSession(base_url=scoped.http.url) as session:
        yield Api(session, TOKEN)


def needed(method: str, path: str) -> str:
    if method == "GET":
        return "read"
    return "admin" if method == "DELETE" or path.endswith("/activate") else "train"


async def test_each_route_refuses_tokens_without_its_scope(api: Api) -> None:
    rank = {"read": 0, "train": 1, "admin": 2}
    holders = {READER: "read", TRAINER: "train", ADMIN: "admin", TOKEN: "admin"}
    refused: dict[str, list[str]] = {token: [] for token in holders}
    for route in (r for r in ROUTES if r.auth == "token"):
        path = re.sub(r"{\w+}", "x1", route.path)
        for token in holders:
            reply = await api.call(route.method, path, token=token, json=None)
            if reply.status == 403:
                refused[token].append(f"{route.method} {route.path}")
                assert "forbidden" == reply.error["code"]
                assert f"the {needed(route.method, route.path)!r} scope" in reply.error["message"]
    expected = {
        token: sorted(
            f"{r.method} {r.path}"
            for r in ROUTES
            if r.auth == "token" and rank[needed(r.method, r.path)] > rank[scope]
        )
        for token, scope in holders.items()
    }
    assert expected == {token: sorted(paths) for token, paths in refused.items()}
    assert [] == refused[TOKEN]  # no scopes configured: everything, as before


async def test_a_job_is_controlled_by_its_requester_or_an_admin(scoped: App, api: Api) -> None:
    mine = await held_job(scoped, "api:ci")
    other = await api.post(f"/v1/jobs/{mine.id}/cancel", token=OTHER_TRAINER)
    assert 403 == other.status
    assert f"only api:ci or an admin may cancel job {mine.id}" == other.error["message"]
    assert "paused" == (await api.get(f"/v1/jobs/{mine.id}")).json["status"]  # untouched
    own = await api.post(f"/v1/jobs/{mine.id}/cancel", token=TRAINER)
    assert (200, "cancelled") == (own.status, own.json["status"])

    theirs = await held_job(scoped, "api:ci2")
    by_admin = await api.post(f"/v1/jobs/{theirs.id}/cancel", token=ADMIN)
    assert (200, "cancelled") == (by_admin.status, by_admin.json["status"])
