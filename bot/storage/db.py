"""The connection, and the migrations that bring its schema up to date.

Migrations are the numbered files in ``migrations/`` (``0001_first_schema.sql``, …). They
are applied in order, each in one transaction with its version bump, and
``PRAGMA user_version`` holds the number reached. A schema change is a new file, never an
edit of one already applied; then regenerate the snapshot ``schema.sql``
(``python -m bot.storage.schema --write``).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import aiosqlite

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    number: int  # the user_version a database is at once it has run
    name: str
    sql: str

    def script(self) -> str:
        """The migration and its version bump, as one transaction."""
        return f"BEGIN;\n{self.sql}\n;\nPRAGMA user_version = {self.number};\nCOMMIT;"


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """Every migration in ``migrations/``, in order; their numbers run 1, 2, 3, … ."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            raise RuntimeError(f"bot/storage/migrations/{entry.name}: a migration is named "
                               "NNNN_lowercase_name.sql")
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise RuntimeError(f"bot/storage/migrations: numbers {numbers} must run 1, 2, 3, … "
                           "without a gap or a repeat")
    return tuple(found)


def pending(version: int, upto: int | None = None) -> tuple[Migration, ...]:
    """The migrations a database at ``version`` has not run (up to number ``upto``)."""
    last = len(migrations()) if upto is None else upto
    return tuple(m for m in migrations() if version < m.number <= last)


async def migrate(db: aiosqlite.Connection) -> int:
    """Apply the migrations ``db`` has not run yet; the version it is at now."""
    async with db.execute("PRAGMA user_version") as cur:
        (version,) = await cur.fetchone()
    for migration in pending(version):
        try:
            await db.executescript(migration.script())
        except BaseException:
            if db.in_transaction:
                await db.rollback()
            raise
        version = migration.number
    return version


def migrate_sync(con: sqlite3.Connection, upto: int | None = None) -> int:
    """``migrate`` for a plain sqlite3 connection (the schema snapshot, tests), up to
    migration ``upto`` (all when None)."""
    (version,) = con.execute("PRAGMA user_version").fetchone()
    for migration in pending(version, upto):
        try:
            con.executescript(migration.script())
        except BaseException:
            if con.in_transaction:
                con.rollback()
            raise
        version = migration.number
    return version


async def connect(database: Path) -> aiosqlite.Connection:
    """Open (or create) the database, set its pragmas and bring its schema up to date."""
    # Autocommit: a single statement is its own transaction (one aiosqlite round trip
    # fewer per write); statements that belong together run in BEGIN … COMMIT.
    db = await aiosqlite.connect(database, isolation_level=None)
    db.row_factory = aiosqlite.Row
    try:
        for pragma in ("journal_mode=WAL",
                       "synchronous=NORMAL",  # WAL + NORMAL survives a process crash
                       "busy_timeout=5000",
                       "foreign_keys=ON"):
            async with db.execute(f"PRAGMA {pragma}"):
                pass
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return db


class Database:
    """What the tables' methods share: the connection and small query helpers.

    Every helper closes its cursor before it returns (an open one blocks VACUUM)."""

    db: aiosqlite.Connection

    async def _exec(self, sql: str, args: tuple | list = ()) -> int:
        """Run one statement; the number of rows it changed."""
        async with self.db.execute(sql, args) as cur:
            return cur.rowcount

    async def _one(self, sql: str, args: tuple | list = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, args: tuple | list = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, args) as cur:
            return list(await cur.fetchall())

    async def _value(self, sql: str, args: tuple | list = ()) -> object:
        """The first column of the first row (e.g. a COUNT)."""
        row = await self._one(sql, args)
        return row[0] if row is not None else None

    async def close(self) -> None:
        await self.db.close()

    async def checkpoint(self, vacuum: bool = False) -> None:
        if vacuum:
            await self._exec("VACUUM")
        await self._exec("PRAGMA optimize")
        await self._exec("PRAGMA wal_checkpoint(TRUNCATE)")  # last: the WAL ends up empty
