-- The notice outbox keeps one row per notice instead of one JSON list in `state` that was
-- rewritten whole for every notice. `seq` is the FIFO order. Notices still queued under
-- the old key move over in their order, as plain text.
CREATE TABLE notices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    room_id TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    markdown INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
INSERT OR IGNORE INTO notices (id, room_id, text, source, created_at)
    SELECT COALESCE(json_extract(item.value, '$.id'), lower(hex(randomblob(6)))),
           json_extract(item.value, '$.room_id'),
           COALESCE(json_extract(item.value, '$.text'), ''),
           COALESCE(json_extract(item.value, '$.source'), 'unknown'),
           COALESCE(json_extract(item.value, '$.created_at'), 0)
    FROM json_each((
        SELECT value FROM state WHERE key = 'notifications.outbox'
            AND json_valid(value) AND json_type(value) = 'array'
    )) AS item
    WHERE json_extract(item.value, '$.room_id') IS NOT NULL
    ORDER BY item.key;
DELETE FROM state WHERE key = 'notifications.outbox';
