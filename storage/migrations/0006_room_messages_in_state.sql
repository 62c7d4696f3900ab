-- The room face keeps its edit-in-place message ids and sent final notices in `state`
-- (room.progress_message.<subject>, room.final_notice.<subject>), for training jobs and
-- data tasks alike. Carry over what older versions kept elsewhere, so a job running
-- across the upgrade keeps editing the same message and is never announced twice.
INSERT OR IGNORE INTO state (key, value, updated_at)
    SELECT 'room.progress_message.job.' || id, progress_event_id, updated_at
    FROM jobs WHERE progress_event_id IS NOT NULL;
UPDATE state SET key = 'room.final_notice.job.' || substr(key, length('matrix.final_notice.') + 1)
    WHERE key LIKE 'matrix.final_notice.%';
ALTER TABLE jobs DROP COLUMN progress_event_id;
