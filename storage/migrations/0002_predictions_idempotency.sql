-- Saved generations, idempotency keys for retried API requests, and the room message a
-- job's progress is edited into (so a restarted bot keeps editing the same message).
CREATE TABLE predictions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id          TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    params_json       TEXT NOT NULL,
    output            TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s         REAL NOT NULL,
    requested_by      TEXT NOT NULL DEFAULT '',
    created_at        REAL NOT NULL
);
CREATE INDEX predictions_model ON predictions (model_id, id);

CREATE TABLE idempotency_keys (
    client       TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    PRIMARY KEY (client, key)
);

ALTER TABLE jobs ADD COLUMN progress_event_id TEXT;
ALTER TABLE jobs ADD COLUMN remote_id TEXT;
