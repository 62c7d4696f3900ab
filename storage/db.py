"""The SQLite database: one aiosqlite connection in WAL mode, migrated at open."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file from storage/migrations/."""

    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    """The migrations shipped with the package, in version order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


class Database:
    """An open database; repositories share it. Use `await Database.open(path)`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        # One connection is shared by every coroutine; the lock keeps one coroutine's
        # statements from landing inside another's transaction.
        self._lock = asyncio.Lock()
        self._reader: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path, migrations: list[Migration] | None = None) -> Database:
        """Open (creating if needed) and bring the schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        # WAL: readers never block the writer; synchronous=NORMAL is durable across
        # process crashes (SIGKILL), which is the failure we guard against.
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        db = cls(conn, path)
        await db.migrate(bundled_migrations() if migrations is None else migrations)
        return db

    async def close(self) -> None:
        """Close the connections."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self.conn.close()

    def read_now(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Run a small read-only query right here in the event loop's thread.

        For hot, indexed reads only (the status overview): a trip to aiosqlite's thread
        costs more than such a query. WAL lets this read-only connection read while the
        main connection writes; it sees everything committed, which is every write
        that has returned.
        """
        if self._reader is None:
            self._reader = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, timeout=1.0
            )
            self._reader.row_factory = sqlite3.Row
        return list(self._reader.execute(sql, params).fetchall())

    async def schema_version(self) -> int:
        """The newest applied migration (0 for an empty database)."""
        row = await self.fetchone("SELECT MAX(version) AS v FROM schema_version")
        return int(row["v"] or 0) if row else 0

    async def migrate(self, migrations: list[Migration]) -> list[int]:
        """Apply the migrations not applied yet, each atomically; return their versions."""
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
        )
        current = await self.schema_version()
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            script = (
                f"BEGIN;\n{migration.sql}\n"
                "INSERT INTO schema_version (version, name, applied_at) VALUES "
                f"({migration.version}, '{migration.name}', {time.time()});\nCOMMIT;"
            )
            try:
                await self.conn.executescript(script)
            except sqlite3.Error as exc:
                await self.conn.execute("ROLLBACK")
                raise RuntimeError(f"migration {migration.version} failed: {exc}") from exc
            applied.append(migration.version)
        return applied

    async def execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> int:
        """Run one statement; return the number of rows changed."""
        async with self._lock:
            cursor = await self.conn.execute(sql, params)
            return cursor.rowcount

    async def fetchone(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        """The first row or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        """All rows."""
        # One trip to aiosqlite's thread instead of three (execute, fetch, close): the
        # hops, not SQLite, are most of a small query's cost.
        async with self._lock:
            return list(await self.conn.execute_fetchall(sql, params))

    async def transaction(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run several statements atomically."""
        async with self._lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    await self.conn.execute(sql, params)
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")
