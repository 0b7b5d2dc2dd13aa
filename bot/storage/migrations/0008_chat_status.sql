-- 8: a busy chat's one shared status message (bot/jobs/status.py), so that it is finished
-- (deleted) after a restart too; and cancelled jobs are delivered from now on (their status
-- message is deleted). Those cancelled before have nothing left to do.
CREATE TABLE chat_status (
    platform TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    ref TEXT NOT NULL,         -- the message, "<chat>:<message>" in the platform's ids
    lang TEXT NOT NULL DEFAULT 'id',
    created_at REAL NOT NULL,
    PRIMARY KEY (platform, chat_id)
);
UPDATE jobs SET delivered_at = finished_at WHERE state = 'cancelled' AND delivered_at IS NULL;
