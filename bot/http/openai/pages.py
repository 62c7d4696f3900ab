"""OpenAI's list shape: `{"object": "list", "data", "has_more"}`, paged with `after`."""

from __future__ import annotations

from typing import Any

from bot.core.errors import NotFound


def page_of(items: list[dict[str, Any]], limit: int, after: str | None) -> dict[str, Any]:
    """The page of `items` (already in list order) that follows the item `after`."""
    start = 0
    if after is not None:
        positions = [i for i, item in enumerate(items) if item["id"] == after]
        if not positions:
            raise NotFound(f"after={after!r} is not an id in this list")
        start = positions[0] + 1
    chosen = items[start : start + limit]
    return listing(chosen, has_more=start + limit < len(items))


def listing(items: list[dict[str, Any]], *, has_more: bool = False) -> dict[str, Any]:
    """A list answer."""
    return {
        "object": "list",
        "data": items,
        "has_more": has_more,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }
