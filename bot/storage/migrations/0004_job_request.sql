-- 4: the platform event a job came from (Telegram update id, Discord interaction id):
-- a platform that delivers an event twice (e.g. after a crash) makes one job, not two
ALTER TABLE jobs ADD COLUMN request TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX jobs_by_request ON jobs (platform, request) WHERE request != '';
