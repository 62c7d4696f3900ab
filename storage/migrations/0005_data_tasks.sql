-- Data preparation tasks at the chat model (optimize a dataset, generate one from a
-- template): their progress, outcome and the dataset version they produced.
CREATE TABLE data_tasks (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    status            TEXT NOT NULL,
    dataset_id        TEXT,
    dataset_name      TEXT NOT NULL,
    params_json       TEXT NOT NULL DEFAULT '{}',
    progress_json     TEXT NOT NULL DEFAULT '{}',
    result_dataset_id TEXT,
    result_label      TEXT,
    report_json       TEXT NOT NULL DEFAULT '{}',
    error             TEXT,
    requested_by      TEXT NOT NULL DEFAULT '',
    room_id           TEXT,
    created_at        REAL NOT NULL,
    finished_at       REAL
);
CREATE INDEX data_tasks_created ON data_tasks (created_at);
