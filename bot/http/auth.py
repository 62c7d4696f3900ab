"""Who is calling: an API client by its bearer token, or a webhook by its own secret.

Secrets are compared in constant time; a refusal never says which part was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import weakref

from aiohttp import web

from bot.core.errors import Conflict, Forbidden
from bot.http.errors import Unauthorized
from bot.http.state import Caller, ServerState
from bot.settings import Scope

TOKEN_HEADER = "X-Trainbot-Token"
SIGNATURE_HEADER = "X-Trainbot-Signature"
# Signatures accepted per server (the aiohttp app), each kept until it would be too old
# to pass the timestamp check anyway; replays within the window are refused.
_SEEN: weakref.WeakKeyDictionary[web.Application, dict[str, float]] = weakref.WeakKeyDictionary()


CREDENTIAL_HEADERS = ("Authorization", TOKEN_HEADER, SIGNATURE_HEADER)


def check_credential_headers(request: web.Request) -> None:
    """401 for credentials with bytes no token or signature has (they cannot be compared)."""
    for header in CREDENTIAL_HEADERS:
        if not request.headers.get(header, "").isascii():
            raise Unauthorized(f"the {header} header must be plain ASCII")


def bearer_client(state: ServerState, request: web.Request) -> Caller:
    """The caller (`api:<name or hash>`) when the bearer token is one of ours, else 401."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("send an API token: Authorization: Bearer <token>")
    offered = given.strip().encode()
    match = None
    for token, caller in state.tokens():  # no early exit: timing says nothing about which
        if hmac.compare_digest(offered, token):
            match = caller
    if match is None:
        raise Unauthorized("the API token is not valid")
    return match


def require_scope(caller: Caller, needed: Scope, request: web.Request) -> None:
    """403 naming the scope the route needs when the caller's token lacks it."""
    if needed not in caller.scopes:
        raise Forbidden(
            f"this token may not {request.method} {request.path}: "
            f"that needs a token with the {needed!r} scope"
        )


async def verify_hook(state: ServerState, request: web.Request) -> str:
    """The caller's identity (`hook:<name>`) when the hook's secret checks out, else 401.

    An hmac hook's signature covers a timestamp and the body (`t=<unix s>,sha256=<hex>`
    over `<t>.<body>`): a timestamp outside `http.hook_tolerance_s` is refused, and so is a
    signature already accepted within that window (a replay, 409).
    """
    hook = state.hook(request.match_info.get("name", ""))
    # The same answer for an unknown hook and a wrong secret: names are not disclosed.
    refused = Unauthorized(
        f"send the hook's secret in {TOKEN_HEADER} or sign the body in {SIGNATURE_HEADER}"
    )
    if hook is None or hook.secret is None:
        raise refused
    secret = hook.secret.get_secret_value().encode()
    if hook.auth == "token":
        offered = request.headers.get(TOKEN_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(offered, secret):
            raise refused
        return f"hook:{hook.name}"
    signed = _signature_parts(request.headers.get(SIGNATURE_HEADER, ""))
    if signed is None:
        raise refused
    stamp, signature = signed
    expected = hook_signature(secret, stamp, await request.read())
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise refused
    tolerance = state.settings.http.hook_tolerance_s
    if abs(time.time() - int(stamp)) > tolerance:
        raise Unauthorized(
            f"the signed timestamp t={stamp} is more than {tolerance} s away from the "
            "server's clock: sign each delivery with the current Unix time"
        )
    _remember_once(request.app, f"{hook.name}:{signature}", int(stamp) + tolerance)
    return f"hook:{hook.name}"


def hook_signature(secret: bytes, stamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 an hmac hook's sender puts after `sha256=`: of `<t>.<body>`."""
    return hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _signature_parts(header: str) -> tuple[str, str] | None:
    """(timestamp, hex signature) from `t=<unix s>,sha256=<hex>`, or None when malformed."""
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    stamp, signature = fields.get("t", ""), fields.get("sha256", "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return None
    if not (signature.isascii() and len(signature) == 64):
        return None
    return stamp, signature


def _remember_once(app: web.Application, key: str, until: float) -> None:
    """Record an accepted signature until its timestamp leaves the window; 409 if seen.

    Check and record happen without an await between them, so of two identical
    requests in flight exactly one gets through.
    """
    seen = _SEEN.setdefault(app, {})
    now = time.time()
    for old in [k for k, expiry in seen.items() if expiry < now]:
        del seen[old]
    if key in seen:
        raise Conflict(
            "this signed delivery was already accepted (a replay): sign every delivery anew, "
            "with the current time in t= (identical bodies signed in the same second are "
            "one delivery)"
        )
    seen[key] = until
