-- Data sources: every fetch with its outcome (for !sources and failure reports).
CREATE TABLE source_fetches (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT NOT NULL,
    started_at  REAL NOT NULL,
    finished_at REAL NOT NULL,
    ok          INTEGER NOT NULL,
    items       INTEGER NOT NULL DEFAULT 0,
    new_items   INTEGER NOT NULL DEFAULT 0,
    dataset_id  TEXT,
    error       TEXT
);
CREATE INDEX source_fetches_source ON source_fetches (source, id);
