"""The dashboard's routes: `/` and `/ui` pages, `/ui/static/<file>`, and who the token is.

The pages are public (they hold no data: everything they show comes from the /v1 API
with the token the person types in, kept in sessionStorage); `GET /ui/api/me` needs a
token and says what it may do, so the page offers only the buttons that would work.
"""

from __future__ import annotations

from aiohttp import web

from bot.http.state import CLIENT, SCOPES, ServerState
from bot.http.ui.assets import Asset, load_assets

# Self only: no inline script or style, no other origin, never framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PUBLIC = frozenset({("GET", "/"), ("GET", "/ui/"), ("GET", "/ui"), ("GET", "/ui/static/{name}")})
ME = ("GET", "/ui/api/me")


def add_ui(app: web.Application, state: ServerState) -> None:
    """Register the dashboard's routes, their auth modes and scopes."""
    assets = load_assets()

    async def page(request: web.Request) -> web.StreamResponse:
        return _asset(request, assets["index.html"])

    async def static(request: web.Request) -> web.StreamResponse:
        asset = assets.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound(reason="no such dashboard file")
        return _asset(request, asset)

    async def me(request: web.Request) -> web.StreamResponse:
        scopes = request.get(SCOPES, frozenset())
        # Every operation this token may call, as "METHOD /path": the page shows a button
        # only when the server would accept its request.
        allowed = sorted(
            f"{m} {path}" for (m, path), need in state.scopes.items() if need in scopes
        )
        body = {"client": request.get(CLIENT, ""), "scopes": sorted(scopes), "allowed": allowed}
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    router = app.router
    router.add_get("/", _to_ui, allow_head=False)
    router.add_get("/ui/", _to_ui, allow_head=False)
    router.add_get("/ui", page, allow_head=False)
    router.add_get("/ui/static/{name}", static, allow_head=False)
    router.add_get("/ui/api/me", me, allow_head=False)
    for key in PUBLIC:
        state.auth[key] = "none"
    state.auth[ME] = "token"
    state.scopes[ME] = "read"


async def _to_ui(request: web.Request) -> web.StreamResponse:
    return web.Response(status=302, headers={"Location": "/ui"})


def _asset(request: web.Request, asset: Asset) -> web.StreamResponse:
    # no-cache with an ETag: the browser revalidates (304, no body), so a new version
    # shows at once and an unchanged one costs no bytes.
    headers = {
        **SECURITY_HEADERS,
        "Content-Type": asset.content_type,
        "ETag": asset.etag,
        "Cache-Control": "no-cache",
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return web.Response(body=asset.gzipped, headers=headers)
    return web.Response(body=asset.body, headers=headers)
