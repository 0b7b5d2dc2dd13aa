-- 1: the first schema: chat and user settings, jobs, results
CREATE TABLE chat_settings (
    platform TEXT NOT NULL, chat_id TEXT NOT NULL,
    style TEXT, lang TEXT,
    PRIMARY KEY (platform, chat_id)
);
CREATE TABLE user_settings (
    platform TEXT NOT NULL, chat_id TEXT NOT NULL, user_id TEXT NOT NULL,
    seed INTEGER, cfg REAL, steps INTEGER, negative TEXT NOT NULL DEFAULT '', lang TEXT,
    PRIMARY KEY (platform, chat_id, user_id)
);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL, chat_id TEXT NOT NULL, user_id TEXT NOT NULL,
    user_name TEXT NOT NULL DEFAULT '', reply_to TEXT NOT NULL DEFAULT '',
    lang TEXT NOT NULL,
    prompt TEXT NOT NULL, prompt_en TEXT NOT NULL, translator TEXT NOT NULL,
    style TEXT, negative TEXT NOT NULL, seed INTEGER NOT NULL, cfg REAL NOT NULL,
    steps INTEGER NOT NULL, aspect TEXT NOT NULL DEFAULT '1:1',
    width INTEGER NOT NULL DEFAULT 0, height INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '',
    status_ref TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, started_at REAL, finished_at REAL, delivered_at REAL
);
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE TABLE results (
    job_id INTEGER PRIMARY KEY REFERENCES jobs (id),
    seed INTEGER NOT NULL, clip_score REAL NOT NULL, image_path TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL,
    generate_s REAL NOT NULL, score_s REAL NOT NULL, created_at REAL NOT NULL
);
