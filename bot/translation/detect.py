"""Offline language identification for prompts, restricted to Indonesian and English.

Short prompts are hard for character n-gram models alone, so the decision combines
lexicon evidence (Indonesian lexicon words, function words and affixed forms against a list
of English prompt words and their inflections) with py3langid restricted to ``id``/``en``
(which decides when the words say nothing, and settles unknown words).

- "none": empty text, numbers, emoji, punctuation, or only protected segments
  (``--seed 42``, ``"quoted"``, ``(castle:1.3)``...).
- "mixed": both languages carry words ("anime girl dengan rambut pink").
- Stable Diffusion tag lists ("masterpiece, 1girl, best quality") are "en".

py3langid's model (~1 s to load) is loaded lazily, on the first prompt that needs it.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import Literal

from .lexer import Lexer
from .protect import split_protected

__all__ = ["Detection", "detect_language"]

Lang = Literal["id", "en", "mixed", "none"]

_WORD_RE = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*|[^\W_]*\d[^\W_]*")
_TAG_RE = re.compile(r"\d+(?:k|d|girls?|boys?|others?|s)")
_MIXED_MIN_SHARE = 0.15  # the minority language must carry at least this share of the words

_identifier = None
_identifier_lock = threading.Lock()


@dataclass(frozen=True)
class Detection:
    lang: Lang
    confidence: float


def _langid():
    """py3langid restricted to id/en, loaded once (lazily)."""
    global _identifier
    if _identifier is None:
        with _identifier_lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                ident.set_languages(["id", "en"])
                _identifier = ident
    return _identifier


def _p_indonesian(text: str) -> float:
    """Probability that *text* is Indonesian rather than English, per py3langid."""
    try:
        ranked = dict(_langid().rank(text))
    except Exception:  # pragma: no cover - a broken model must not take detection down
        return 0.5
    return float(ranked.get("id", 0.5))


@functools.lru_cache(maxsize=1)
def _lexer() -> Lexer:
    return Lexer()


def detect_language(text: str) -> Detection:
    """Which language a prompt is written in: "id", "en", "mixed" or "none"."""
    plain = " ".join(s.text for s in split_protected(text or "") if not s.protected)
    words = _WORD_RE.findall(plain)
    if not words or not any(ch.isalpha() for w in words for ch in w):
        return Detection("none", 1.0)

    n_id = n_en = 0.0
    unknown: list[str] = []
    # the translator's lexing: phrases first ("cat air" is Indonesian), then words,
    # reduplication and affixes; loanwords and words of both languages are neutral
    for unit in _lexer().units(plain):
        if unit.kind == "w":
            if unit.lang == "id" and unit.src:
                n_id += 1
        elif unit.kind == "x":
            if unit.lang == "en":
                n_en += 1
            elif any(ch.isdigit() for ch in unit.src):
                if _TAG_RE.fullmatch(unit.src.lower()):
                    n_en += 1
            elif len(unit.src) >= 3:
                unknown.append(unit.src)

    if unknown:
        # words in neither list (names, rare words, typos) get a weak vote from the n-gram model
        p = _p_indonesian(" ".join(unknown))
        weight = 0.5 * min(len(unknown), 3)
        if p >= 0.7:
            n_id += weight * (p - 0.5) * 2
        elif p <= 0.3:
            n_en += weight * (0.5 - p) * 2

    total = n_id + n_en
    if total == 0:
        p = _p_indonesian(plain)
        lang: Lang = "id" if p >= 0.5 else "en"
        return Detection(lang, round(0.5 + abs(p - 0.5) * 0.6, 3))

    minority = min(n_id, n_en)
    if minority >= 1 and minority / total >= _MIXED_MIN_SHARE:
        return Detection("mixed", round(min(1.0, 0.5 + minority / total), 3))

    lang = "id" if n_id > n_en else "en"
    share = max(n_id, n_en) / total
    # few words: temper the confidence with the n-gram model's opinion
    if total < 3:
        p = _p_indonesian(plain)
        agree = p if lang == "id" else 1.0 - p
        return Detection(lang, round(0.6 * share * min(1.0, 0.6 + 0.2 * total) + 0.4 * agree, 3))
    return Detection(lang, round(min(1.0, share * min(1.0, 0.7 + 0.1 * total)), 3))
