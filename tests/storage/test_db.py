"""The database: WAL mode, migrations applied once, old databases upgraded in place."""

import sqlite3
from pathlib import Path

from storage.db import Database, bundled_migrations


async def test_opening_twice_applies_nothing_the_second_time(tmp_path: Path) -> None:
    path = tmp_path / "trainbot.db"
    first = await Database.open(path)
    latest = await first.schema_version()
    await first.close()
    second = await Database.open(path)
    assert [] == await second.migrate(bundled_migrations())
    rows = await second.fetchall("SELECT version FROM schema_version ORDER BY version")
    assert list(range(1, latest + 1)) == [r["version"] for r in rows]
    await second.close()


async def test_wal_mode_and_foreign_keys(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "t.db")
    journal = await db.fetchone("PRAGMA journal_mode")
    fks = await db.fetchone("PRAGMA foreign_keys")
    assert ("wal", 1) == (journal[0] if journal else None, fks[0] if fks else None)
    await db.close()


async def test_old_version_database_is_upgraded_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    migrations = bundled_migrations()
    old = await Database.open(path, migrations=migrations[:1])
    assert 1 == await old.schema_version()
    await old.execute(
        "INSERT INTO jobs (id, name, status, dataset_id, base, spec_json, created_at,"
        " updated_at) VALUES ('job1', 'poems', 'succeeded', 'ds1', 'tiny', '{}', 1.0, 1.0)"
    )
    await old.execute("INSERT INTO state (key, value, updated_at) VALUES ('sync', 's72', 1.0)")
    await old.close()

    upgraded = await Database.open(path)
    assert len(migrations) == await upgraded.schema_version()
    job = await upgraded.fetchone("SELECT id, name, status FROM jobs")
    state = await upgraded.fetchone("SELECT value FROM state WHERE key = 'sync'")
    assert job is not None and state is not None
    assert ("job1", "poems", "succeeded", "s72") == (
        job["id"],
        job["name"],
        job["status"],
        state["value"],
    )
    await upgraded.close()


async def test_a_failing_migration_is_rolled_back(tmp_path: Path) -> None:
    from storage.db import Migration

    bad = Migration(1, "bad", "CREATE TABLE a (x INTEGER);\nINSERT INTO nope VALUES (1);")
    db_path = tmp_path / "bad.db"
    try:
        await Database.open(db_path, migrations=[bad])
    except RuntimeError as exc:
        assert "migration 1 failed" in str(exc)
    else:
        raise AssertionError("the bad migration was accepted")
    conn = sqlite3.connect(db_path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "a" not in tables


async def test_room_message_ids_move_into_state_when_upgrading(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    migrations = bundled_migrations()
    old = await Database.open(path, migrations=migrations[:5])
    for job_id, event_id in (("job1", "$progress1"), ("job2", None)):
        await old.execute(
            "INSERT INTO jobs (id, name, status, dataset_id, base, spec_json, created_at,"
            " updated_at, progress_event_id) VALUES (?, 'poems', 'running', 'ds1', 'tiny',"
            " '{}', 1.0, 2.0, ?)",
            (job_id, event_id),
        )
    await old.execute(
        "INSERT INTO state (key, value, updated_at) VALUES ('matrix.final_notice.job0', '1', 1.0)"
    )
    await old.close()

    upgraded = await Database.open(path)
    rows = await upgraded.fetchall("SELECT key, value FROM state ORDER BY key")
    columns = [row["name"] for row in await upgraded.fetchall("PRAGMA table_info(jobs)")]
    await upgraded.close()

    assert [
        ("room.final_notice.job.job0", "1"),
        ("room.progress_message.job.job1", "$progress1"),
    ] == [(row["key"], row["value"]) for row in rows]
    assert "progress_event_id" not in columns
