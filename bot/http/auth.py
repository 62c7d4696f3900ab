"""Who is calling: an API client by its bearer token, or a webhook by its own secret.

Secrets are compared in constant time; a refusal never says which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from bot.http.errors import Unauthorized
from bot.http.state import ServerState, client_id

TOKEN_HEADER = "X-Trainbot-Token"
SIGNATURE_HEADER = "X-Trainbot-Signature"


def bearer_client(state: ServerState, request: web.Request) -> str:
    """The caller's identity (`api:<hash>`) when the bearer token is one of ours, else 401."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("send an API token: Authorization: Bearer <token>")
    offered = given.strip().encode()
    match = None
    for token in state.token_secrets():  # no early exit: timing says nothing about which
        if hmac.compare_digest(offered, token):
            match = token
    if match is None:
        raise Unauthorized("the API token is not valid")
    return client_id(match)


async def verify_hook(state: ServerState, request: web.Request) -> str:
    """The caller's identity (`hook:<name>`) when the hook's secret checks out, else 401."""
    hook = state.hook(request.match_info.get("name", ""))
    # The same answer for an unknown hook and a wrong secret: names are not disclosed.
    refused = Unauthorized(
        f"send the hook's secret in {TOKEN_HEADER} or sign the body in {SIGNATURE_HEADER}"
    )
    if hook is None or hook.secret is None:
        raise refused
    secret = hook.secret.get_secret_value().encode()
    if hook.auth == "token":
        offered = request.headers.get(TOKEN_HEADER, "").encode()
        ok = hmac.compare_digest(offered, secret)
    else:
        scheme, _, signature = request.headers.get(SIGNATURE_HEADER, "").partition("=")
        expected = hmac.new(secret, await request.read(), hashlib.sha256).hexdigest()
        ok = scheme == "sha256" and hmac.compare_digest(signature.encode(), expected.encode())
    if not ok:
        raise refused
    return f"hook:{hook.name}"
