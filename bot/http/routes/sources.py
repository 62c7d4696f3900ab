"""Data source routes: list sources with their last fetches, fetch one now."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.core.sources.fetch import shown_url
from bot.core.sources.service import SourceStatus
from bot.http.routing import Call, Route, json_response
from storage.sources import SourceFetchRow


class FetchOut(BaseModel):
    """One fetch: what it found, what was new, the version it wrote or why it failed."""

    id: int
    source: str
    trigger: str = Field(description="schedule, or who asked for the fetch.")
    started_at: float
    finished_at: float
    ok: bool
    items: int = Field(description="Items the selector found.")
    new_items: int = Field(description="Of those, records not yet in the dataset.")
    skipped: int = Field(description="Blank strings left out.")
    dataset_id: str | None = Field(description="The version written (null: none).")
    dataset_label: str | None
    error: str | None

    @classmethod
    def of(cls, row: SourceFetchRow) -> FetchOut:
        """From a stored row."""
        return cls(
            id=row.id,
            source=row.source,
            trigger=row.trigger,
            started_at=row.started_at,
            finished_at=row.finished_at,
            ok=row.ok,
            items=row.items,
            new_items=row.new_items,
            skipped=row.skipped,
            dataset_id=row.dataset_id,
            dataset_label=row.dataset_label,
            error=row.error,
        )


class SourceOut(BaseModel):
    """A configured source (secret headers left out), its next run and newest fetches."""

    name: str
    url: str = Field(description="Without its query string, which may hold a key.")
    method: str
    select: str
    dataset: str
    every: str | None
    cron: str | None
    room_id: str | None
    next_run: float | None = Field(description="Unix time of the next fetch (null: off).")
    running: bool = Field(description="A fetch is running now.")
    fetches: list[FetchOut] = Field(description="Newest first.")

    @classmethod
    def of(cls, status: SourceStatus) -> SourceOut:
        """From the service's view."""
        s = status.settings
        return cls(
            name=s.name,
            url=shown_url(s.url),
            method=s.method,
            select=s.select,
            dataset=s.dataset,
            every=s.every,
            cron=s.cron,
            room_id=s.room_id,
            next_run=status.next_run.timestamp() if status.next_run else None,
            running=status.running,
            fetches=[FetchOut.of(f) for f in status.fetches],
        )


class SourceList(BaseModel):
    """Every configured source, in configuration order."""

    sources: list[SourceOut]


class SourceQuery(BaseModel):
    """How many fetches per source."""

    model_config = ConfigDict(extra="forbid")

    fetches: int = Field(10, ge=1, le=100, description="Newest fetches to list per source.")


async def list_sources(call: Call) -> web.StreamResponse:
    """Every source with its schedule and newest fetches."""
    q = call.query_as(SourceQuery)
    found = await call.services.sources.status(q.fetches)
    return json_response(SourceList(sources=[SourceOut.of(s) for s in found]))


async def fetch_source(call: Call) -> web.StreamResponse:
    """Fetch a source now; a failed fetch is a 200 with `ok` false and the reason."""
    row = await call.services.sources.fetch(call.param("name"), trigger=call.client)
    return json_response(FetchOut.of(row))


ROUTES = (
    Route(
        "GET",
        "/v1/sources",
        list_sources,
        "List data sources",
        "sources",
        query=SourceQuery,
        response=SourceList,
        errors=(422,),
    ),
    Route(
        "POST",
        "/v1/sources/{name}/fetch",
        fetch_source,
        "Fetch a data source now",
        "sources",
        response=FetchOut,
        errors=(404, 409, 503),
    ),
)
