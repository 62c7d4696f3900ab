"""Every route needs a token except GET /healthz; hooks need their own secret."""

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.http.server import ROUTES, HttpServer, build_app
from bot.http.ui.routes import ME
from bot.http.ui.routes import PUBLIC as UI_PAGES
from tests.http.support import HOOK_SECRET, TOKEN, Api, sign

pytestmark = pytest.mark.asyncio(loop_scope="session")
PUBLIC = {("GET", "/healthz")}


def concrete(path: str) -> str:
    return re.sub(r"{\w+}", "x1", path)


async def test_every_route_but_healthz_refuses_a_request_without_a_token(
    server: HttpServer, api: Api
) -> None:
    checked = set()
    for route in server.app.router.routes():
        assert route.resource is not None
        method, path = route.method, route.resource.canonical
        reply = await api.call(method, concrete(path), token=None)
        checked.add((method, path))
        if (method, path) in UI_PAGES:
            continue  # the dashboard's pages hold no data (tests/ui)
        if (method, path) in PUBLIC:
            assert 200 == reply.status
            continue
        assert 401 == reply.status, (method, path, reply.text)
        assert "unauthorized" == reply.error["code"]
        assert reply.headers.get("WWW-Authenticate"), (method, path)
    # The router holds exactly the declared routes, so the loop above saw all of them.
    assert {(r.method, r.path) for r in ROUTES} | UI_PAGES | {ME} == checked


async def test_a_wrong_token_is_refused_and_the_right_one_accepted(api: Api) -> None:
    assert 401 == (await api.get("/v1/status", token="not-the-token")).status
    assert 401 == (await api.get("/v1/status", token=TOKEN + "x")).status
    wrong_scheme = await api.get("/v1/status", token=None, headers={"Authorization": TOKEN})
    assert 401 == wrong_scheme.status
    assert 200 == (await api.get("/v1/status")).status


async def test_an_api_token_does_not_open_a_hook(api: Api) -> None:
    reply = await api.post("/v1/hooks/note", json={"text": "hi"})  # bearer token only
    assert 401 == reply.status
    assert "X-Trainbot-Token" in reply.error["message"]


async def test_an_unknown_hook_looks_like_a_wrong_secret(api: Api) -> None:
    body = b'{"text": "hi"}'
    known = await api.post("/v1/hooks/note", data=body, headers={"X-Trainbot-Token": "nope"})
    unknown = await api.post("/v1/hooks/ghost", data=body, headers={"X-Trainbot-Token": "nope"})
    signed = await api.post(
        "/v1/hooks/ghost", data=body, headers={"X-Trainbot-Signature": sign(body)}
    )
    assert (401, 401, 401) == (known.status, unknown.status, signed.status)
    assert known.error == unknown.error


async def test_hooks_refuse_get(api: Api) -> None:
    reply = await api.get("/v1/hooks/note", headers={"X-Trainbot-Token": HOOK_SECRET})
    assert 405 == reply.status
    assert "method_not_allowed" == reply.error["code"]
    assert "POST" in reply.headers["Allow"]


async def test_a_route_added_without_a_declaration_still_needs_a_token(app: App) -> None:
    # Fail closed: the auth middleware protects whatever the router holds.
    web_app = build_app(app.services, app.settings)

    async def extra(request: web.Request) -> web.Response:
        return web.json_response({"secret": True})

    web_app.router.add_get("/v1/extra", extra)
    async with TestClient(TestServer(web_app)) as client:
        refused = await client.get("/v1/extra")
        allowed = await client.get("/v1/extra", headers={"Authorization": f"Bearer {TOKEN}"})
        assert (401, 200) == (refused.status, allowed.status)
        assert "unauthorized" == (await refused.json())["error"]["code"]
