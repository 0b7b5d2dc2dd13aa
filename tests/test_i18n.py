import re
import string

from bot.i18n import CATALOGS, lang_from_locale, t


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_exists_in_both_languages_with_the_same_placeholders():
    en, id_ = CATALOGS["en"], CATALOGS["id"]
    assert en.keys() == id_.keys()
    for key in en:
        assert _fields(en[key]) == _fields(id_[key]), key


def test_indonesian_is_not_a_copy_of_english():
    same = [k for k in CATALOGS["en"] if CATALOGS["en"][k] == CATALOGS["id"][k]
            and re.search(r"[a-z]{4,} [a-z]{4,}", CATALOGS["en"][k])]
    assert same == []


def test_locale_mapping():
    assert lang_from_locale("id") == "id"
    assert lang_from_locale("en-GB") == "en"
    assert lang_from_locale("pt_BR") is None
    assert lang_from_locale(None) is None
    assert t("xx", "queued", position=3) == t("id", "queued", position=3)


def test_no_dead_keys():
    """Every sentence is said somewhere: its key appears in the code, or belongs to a family
    the code builds from a spec or a value (``cmd_<name>``, ``safety_<mode>``, …)."""

    from tests.conftest import ROOT

    code = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py")
                     if "i18n" not in p.parts)
    families = ("cmd_", "help_", "opt_", "safety_", "choice_")
    dead = [key for key in CATALOGS["en"] if not key.startswith(families)
            and f'"{key}"' not in code and f"'{key}'" not in code]
    assert dead == []
