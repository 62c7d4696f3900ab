"""Data preparation routes: optimize a dataset, generate one from a template, tasks."""

from __future__ import annotations

from bot.http.routing import Route

ROUTES: tuple[Route, ...] = ()
