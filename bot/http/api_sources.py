"""Data source routes: list sources with their last fetch, fetch one now."""

from __future__ import annotations

from bot.http.routing import Route

ROUTES: tuple[Route, ...] = ()
