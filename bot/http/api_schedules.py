"""Schedule routes: retraining policies, their decisions, evaluate one now."""

from __future__ import annotations

from bot.http.routing import Route

ROUTES: tuple[Route, ...] = ()
