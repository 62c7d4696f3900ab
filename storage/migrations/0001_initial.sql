-- Core tables: datasets, models, jobs and their events, key/value state.
CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    format      TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    examples    INTEGER NOT NULL,
    report_json TEXT NOT NULL DEFAULT '{}',
    stats_json  TEXT NOT NULL DEFAULT '{}',
    created_by  TEXT NOT NULL DEFAULT '',
    room_id     TEXT,
    created_at  REAL NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE models (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    backend     TEXT NOT NULL DEFAULT 'local',
    path        TEXT NOT NULL DEFAULT '',
    remote_id   TEXT,
    job_id      TEXT,
    dataset_id  TEXT,
    base        TEXT NOT NULL DEFAULT '',
    metrics_json TEXT NOT NULL DEFAULT '{}',
    size_bytes  INTEGER NOT NULL DEFAULT 0,
    active      INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    UNIQUE (name, version)
);
-- One active version per model name, enforced by the database itself.
CREATE UNIQUE INDEX models_one_active ON models (name) WHERE active = 1;

CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    backend      TEXT NOT NULL DEFAULT 'local',
    dataset_id   TEXT NOT NULL,
    base         TEXT NOT NULL,
    spec_json    TEXT NOT NULL,
    requested_by TEXT NOT NULL DEFAULT '',
    room_id      TEXT,
    result_json  TEXT,
    error        TEXT,
    model_id     TEXT,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    updated_at   REAL NOT NULL
);
CREATE INDEX jobs_status ON jobs (status, created_at);

CREATE TABLE job_events (
    job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    data_json  TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
