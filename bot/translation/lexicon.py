"""The prompt lexicon: ``lexicon/*.tsv`` (Indonesian → English, with a part of speech) and
``lexicon/english_words.txt`` (English prompt words), loaded once per process.

Each TSV line is ``indonesian<TAB>english<TAB>pos``; an English side of ``-`` drops the word.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Entry", "Lexicon", "LEXICON_DIR", "NOUN_POS", "POS_TAGS", "load_lexicon",
           "lexicon_size"]

LEXICON_DIR = Path(__file__).with_name("lexicon")

# Load order matters only for duplicate keys (the first one wins).
_FILE_ORDER = (
    "function", "colloquial", "people", "animals", "plants", "food", "places", "nature",
    "colours", "materials", "clothing", "objects", "adjectives", "verbs", "art", "culture",
    "fantasy", "loanwords",
)

POS_TAGS = frozenset(
    {"n", "nu", "np", "nof", "adj", "v", "ving", "pp", "adv", "intens", "prep", "conj", "det",
     "detpl", "num", "cls", "pron", "part", "prog", "mod", "phr"}
)
NOUN_POS = frozenset({"n", "nu", "np", "nof", "cls"})

_EN_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class Entry:
    en: str  # English ("-" = drop the word)
    pos: str
    same: bool  # a loanword written the same in English: neutral for language ID
    domain: str  # lexicon file it came from


@dataclass(frozen=True, slots=True)
class Lexicon:
    entries: dict[str, Entry]
    max_words: int  # longest multi-word key, in words
    english: frozenset[str]  # English words: the word list + the lexicon's English side
    indonesian: frozenset[str]  # single Indonesian words (loanwords excluded)


@functools.lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Read ``lexicon/*.tsv`` and ``lexicon/english_words.txt`` (cached for the process)."""
    files = {p.stem: p for p in LEXICON_DIR.glob("*.tsv")}
    ordered = [files.pop(name) for name in _FILE_ORDER if name in files] + sorted(files.values())
    entries: dict[str, Entry] = {}
    for path in ordered:
        for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            parts = raw.split("\t")
            if len(parts) != 3 or parts[2].strip() not in POS_TAGS:
                raise ValueError(f"{path.name}:{lineno}: expected 'indonesian<TAB>english<TAB>pos'")
            key = " ".join(parts[0].lower().split())
            en, pos = parts[1].strip(), parts[2].strip()
            if key and key not in entries:
                same = en.lower() == key or path.stem == "loanwords"
                entries[key] = Entry(en, pos, same, path.stem)
    max_words = max(len(k.split()) for k in entries)

    english: set[str] = set()
    for line in (LEXICON_DIR / "english_words.txt").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            english.update(w.lower() for w in line.split())
    for key, entry in entries.items():
        if entry.en != "-":
            own = set(key.split())  # "becak" in "becak pedicab" stays Indonesian
            english.update(w for w in map(str.lower, _EN_WORD_RE.findall(entry.en)) if w not in own)
    indonesian = {k for k, e in entries.items() if " " not in k and not e.same}
    return Lexicon(entries, max_words, frozenset(english), frozenset(indonesian))


def lexicon_size(include_loanwords: bool = False) -> int:
    """Number of distinct Indonesian entries (loanwords excluded unless asked)."""
    entries = load_lexicon().entries.values()
    return sum(1 for e in entries if include_loanwords or e.domain != "loanwords")
