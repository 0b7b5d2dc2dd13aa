-- 6: a job's round of the fair order, fixed when it is queued (start-time fair queueing):
-- one past its user's last waiting job and never before the queue's current round, so a
-- newcomer's first job is not pushed back each time a heavy user's next job moves up.
-- Jobs already waiting get their rank among their user's waiting jobs.
ALTER TABLE jobs ADD COLUMN fair_round INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET fair_round = r.n FROM (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY platform, user_id ORDER BY id) - 1 AS n
    FROM jobs WHERE state IN ('queued', 'running')) AS r
WHERE jobs.id = r.id;
CREATE INDEX jobs_by_round ON jobs (state, fair_round, id);
