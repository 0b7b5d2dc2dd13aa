"""The bot's words: one catalogue per language (``en.py``, ``id.py``), looked up by key."""

from __future__ import annotations

from bot.i18n import en
from bot.i18n import id as id_

LANGS = ("id", "en")
CATALOGS: dict[str, dict[str, str]] = {"id": id_.MESSAGES, "en": en.MESSAGES}


def t(lang: str, key: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (Indonesian when unknown), filled with ``values``."""
    catalog = CATALOGS.get(lang, id_.MESSAGES)
    return catalog[key].format(**values)


def lang_from_locale(locale: str | None) -> str | None:
    """Telegram ``language_code`` / Discord locale → one of LANGS, or None."""
    if not locale:
        return None
    code = locale.replace("_", "-").split("-")[0].lower()
    if code in ("id", "in", "ms", "jv", "su"):  # Malay, Javanese, Sundanese speakers read id
        return "id"
    if code == "en":
        return "en"
    return None
