-- Data sources: every fetch with its outcome (for !sources and failure reports).
CREATE TABLE source_fetches (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    source        TEXT NOT NULL,
    trigger       TEXT NOT NULL,            -- "schedule" or who asked (a MXID, api:<client>)
    started_at    REAL NOT NULL,
    finished_at   REAL NOT NULL,
    ok            INTEGER NOT NULL,
    items         INTEGER NOT NULL DEFAULT 0,  -- items the selector found
    new_items     INTEGER NOT NULL DEFAULT 0,  -- of those, not yet in the dataset
    skipped       INTEGER NOT NULL DEFAULT 0,  -- blank strings left out
    dataset_id    TEXT,                        -- the version written, if any
    dataset_label TEXT,
    error         TEXT
);
CREATE INDEX source_fetches_source ON source_fetches (source, id);
