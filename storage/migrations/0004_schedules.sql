-- Retraining decisions: every evaluation of a schedule, retrain or not, and why.
CREATE TABLE schedule_decisions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    model        TEXT NOT NULL,
    policy       TEXT NOT NULL,
    retrain      INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    details_json TEXT NOT NULL DEFAULT '{}',
    job_id       TEXT,
    created_at   REAL NOT NULL
);
CREATE INDEX schedule_decisions_model ON schedule_decisions (model, id);
