"""The status overview in one query: one trip to SQLite's thread instead of 3 + N."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.core.types import JobStatus
from storage.db import Database

# Three shapes of row in one result: counts per status, running jobs with their newest
# progress event, and active model versions. Each trip to aiosqlite's thread costs more
# than these indexed queries themselves, and /v1/status is polled by dashboards.
OVERVIEW_SQL = f"""
SELECT 'count' AS kind, status AS key, COUNT(*) AS n, NULL AS data
  FROM jobs GROUP BY status
UNION ALL
SELECT 'running', j.id, 0, json_object(
    'id', j.id, 'name', j.name, 'status', j.status,
    'progress', (SELECT json(e.data_json) FROM job_events e
                  WHERE e.job_id = j.id AND e.event = 'progress'
                  ORDER BY e.seq DESC LIMIT 1))
  FROM jobs j WHERE j.status IN ('{JobStatus.RUNNING}', '{JobStatus.VALIDATING_FILES}')
UNION ALL
SELECT 'active', m.id, m.created_at, json_object(
    'id', m.id, 'label', m.name || '@v' || m.version, 'backend', m.backend,
    'metrics', json(m.metrics_json))
  FROM models m WHERE m.active = 1
"""


@dataclass(frozen=True)
class Overview:
    """Jobs by status, running jobs (oldest first) and active models (newest first)."""

    counts: dict[str, int]
    running: list[dict[str, Any]]
    active: list[dict[str, Any]]


async def read_overview(db: Database) -> Overview:
    """Everything `/v1/status` and `!status` show, read at once."""
    counts: dict[str, int] = {}
    running: list[tuple[str, dict[str, Any]]] = []
    active: list[tuple[float, dict[str, Any]]] = []
    for row in db.read_now(OVERVIEW_SQL):
        if row["kind"] == "count":
            counts[row["key"]] = int(row["n"])
        elif row["kind"] == "running":
            running.append((row["key"], json.loads(row["data"])))
        else:
            active.append((float(row["n"]), json.loads(row["data"])))
    return Overview(
        counts=counts,
        running=[data for _, data in running],
        active=[data for _, data in sorted(active, key=lambda item: -item[0])],
    )
