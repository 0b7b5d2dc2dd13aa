"""The migrations, the schema snapshot they must match, and upgrades of old databases."""

import difflib
import sqlite3

from bot.models import JobState
from bot.storage import Store, schema
from bot.storage.db import migrate_sync, migrations

LAST_BEFORE_ERROR_KEYS = 6  # the version databases had before messages were stored as keys


def test_the_snapshot_matches_the_migrations():
    current = schema.dump(schema.fresh())
    stored = schema.SNAPSHOT.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(stored.splitlines(True), current.splitlines(True),
                                        "schema.sql", "from the migrations"))
    assert stored == current, (
        f"bot/storage/schema.sql does not match bot/storage/migrations/. If you added a "
        f"migration, regenerate the snapshot with `{schema.REGENERATE}` and commit it; "
        f"never edit an applied migration.\n{diff}")


def test_migrations_are_numbered_files_applied_in_order():
    found = migrations()
    assert [m.number for m in found] == list(range(1, len(found) + 1))
    con = schema.fresh()
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(found)
    assert migrate_sync(con) == len(found)  # nothing applied twice


def test_normalising_ignores_spacing_comments_and_where_alter_put_a_column():
    a = schema.normalise("CREATE TABLE t (a INT, -- one\n b TEXT DEFAULT 'x, y'\n , c REAL)")
    b = schema.normalise("CREATE TABLE t(\n  a INT,\n  b TEXT DEFAULT 'x, y', c REAL\n)")
    assert a == b == "CREATE TABLE t (\n    a INT,\n    b TEXT DEFAULT 'x, y',\n    c REAL\n)"


def _old_database(path) -> None:
    """A database as the bot left it at version 6, with a row in every table."""
    con = sqlite3.connect(path, isolation_level=None)
    assert migrate_sync(con, upto=LAST_BEFORE_ERROR_KEYS) == LAST_BEFORE_ERROR_KEYS
    con.execute("INSERT INTO chat_settings VALUES ('telegram', '-100', 'kancil', 'en', 'strict')")
    con.execute("INSERT INTO user_settings (platform, chat_id, user_id, seed, cfg, steps, "
                "negative, lang, raw) VALUES ('telegram', '-100', '7', 42, 5.5, 20, 'blurry', "
                "'id', 1)")
    con.execute("INSERT INTO translations VALUES ('kucing lucu', 'cute cat', 'offline', 1.0)")
    columns = ("platform, chat_id, user_id, lang, prompt, prompt_en, translator, style, "
               "negative, seed, cfg, steps, state, error, created_at, fair_round")
    for n, (state, error) in enumerate([("done", ""), ("failed", "Maaf, gambar ini gagal."),
                                        ("queued", ""), ("queued", "")], start=1):
        con.execute(f"INSERT INTO jobs ({columns}) VALUES ('telegram', '-100', ?, 'id', "
                    "'kucing', 'cat', 'offline', NULL, '', ?, 7.5, 4, ?, ?, ?, ?)",
                    (str(n % 2), n, state, error, float(n), n // 2))
    con.execute("INSERT INTO results VALUES (1, 1, 30.5, '/img/1.png', 64, 64, 1.5, 0.2, 2.0, 0)")
    con.close()


def _rows(path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(path)
    tables = [name for (name,) in con.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite%'")]
    rows = {}
    for table in tables:
        old = [c[1] for c in con.execute(f"PRAGMA table_info({table})")
               if c[1] not in ("error_key", "error_values", "kind", "strength", "source")]
        rows[table] = con.execute(f"SELECT {', '.join(old)} FROM {table} ORDER BY 1, 2").fetchall()
    con.close()
    return rows


async def test_a_version_6_database_upgrades_with_its_rows_intact(tmp_path):
    path = tmp_path / "pelukis.db"
    _old_database(path)
    before = _rows(path)
    assert all(before.values())  # a row in every table

    store = await Store.open(path, tmp_path / "images")
    try:
        failed = await store.job(2)
        # the old failure keeps its worded sentence; the new columns have their defaults
        assert (failed.state, failed.error, failed.error_key, failed.error_values) == \
            (JobState.FAILED, "Maaf, gambar ini gagal.", "", {})
        assert [j.id for j in await store.undelivered("telegram")] == [1, 2]
        assert (failed.kind, failed.strength, failed.source) == ("text", 0.0, "")  # version 9
        assert [j.id for j in await store.queue()] == [3, 4]  # fair rounds kept
        assert (await store.user_settings("telegram", "-100", "7")).negative == "blurry"
        assert (await store.chat_settings("telegram", "-100")).safety == "strict"
        assert await store.cached_translation("kucing lucu") == ("cute cat", "offline")
        assert (await store.result(1)).clip_score == 30.5
        await store.fail(3, "failed_retries", detail="dead: engine exited")  # new columns work
        assert (await store.job(3)).error_key == "failed_retries"
    finally:
        await store.close()

    after = _rows(path)
    before["jobs"][2] = after["jobs"][2]  # job 3 failed just now
    assert after.pop("chat_status") == []  # new in version 8, empty
    assert after == before
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
    # an upgraded database has exactly the schema of a new one
    assert schema.dump(con) == schema.dump(schema.fresh())
    con.close()
