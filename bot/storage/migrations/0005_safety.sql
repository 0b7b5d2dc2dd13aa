-- 5: safety: a chat's image-check mode, the threshold a job ran with, flagged results
ALTER TABLE chat_settings ADD COLUMN safety TEXT;
ALTER TABLE jobs ADD COLUMN safety REAL NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_user_time ON jobs (platform, user_id, created_at);
