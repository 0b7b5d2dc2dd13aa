-- 9: pictures in (bot/pictures.py): a job's kind (text | img2img | variation | upscale),
-- how much of its input picture is redrawn, and where that picture is stored.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'text';
ALTER TABLE jobs ADD COLUMN strength REAL NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN source TEXT NOT NULL DEFAULT '';
