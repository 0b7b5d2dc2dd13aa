-- 7: what a failed job's user is told, as a message key of bot/i18n and its values (a JSON
-- object), worded in the user's language when it is delivered. ``error`` keeps the
-- operator's detail (English, never shown to users). A job failed before this migration
-- has an empty key, and its ``error`` holds the sentence its user was to be sent.
ALTER TABLE jobs ADD COLUMN error_key TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN error_values TEXT NOT NULL DEFAULT '{}';
