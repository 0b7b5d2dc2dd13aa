-- 3: a user may turn translation off for their prompts
ALTER TABLE user_settings ADD COLUMN raw INTEGER NOT NULL DEFAULT 0;
