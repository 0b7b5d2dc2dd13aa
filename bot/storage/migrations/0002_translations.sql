-- 2: translations of prompts (normalised text → English, and who made it)
CREATE TABLE translations (
    source TEXT PRIMARY KEY, english TEXT NOT NULL, provider TEXT NOT NULL,
    created_at REAL NOT NULL
);
