"""SQLite storage (aiosqlite, WAL). The single source of truth for a job is its row here.

One module per concern, composed into ``Store``:

- ``db.py``: the connection, its pragmas, the migrations runner, shared query helpers;
- ``migrations/NNNN_*.sql``: the schema changes, applied in order (``PRAGMA user_version``);
- ``schema.sql``: the current schema, generated from them (``schema.py``);
- ``settings.py``: chat and user settings (``chat_settings``, ``user_settings``);
- ``jobs.py``: the queue in fair order and each job's state (``jobs``);
- ``results.py``: finished images, the file written atomically and its ``results`` row;
- ``cache.py``: translated prompts (``translations``);
- ``status.py``: a busy chat's shared status message (``chat_status``).
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from bot.storage.cache import TranslationsTable
from bot.storage.db import connect
from bot.storage.jobs import JobsTable
from bot.storage.results import ResultsTable
from bot.storage.settings import SettingsTables
from bot.storage.status import ChatStatusTable

__all__ = ["Store"]


class Store(SettingsTables, JobsTable, ResultsTable, TranslationsTable, ChatStatusTable):
    def __init__(self, db: aiosqlite.Connection, images_dir: Path):
        self.db = db
        self.images_dir = images_dir

    @classmethod
    async def open(cls, database: str | Path, images_dir: str | Path) -> Store:
        """Open (or create) the database, migrated to the current schema."""
        database, images_dir = Path(database), Path(images_dir)
        database.parent.mkdir(parents=True, exist_ok=True)
        images_dir.mkdir(parents=True, exist_ok=True)
        return cls(await connect(database), images_dir)
