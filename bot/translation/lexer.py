"""Prompt text → units: the lexing both the offline translator and language detection use.

Protected segments (``--seed 42``, quotes, weights...) become one unit each; the rest is cut
into words and punctuation, and runs of words are looked up in the lexicon longest phrase
first ("cat air" is one unit), then word by word: reduplication ("kucing-kucing"), clitics
("rumahnya"), affixes looked up by root ("berlari", "dimakan"), English words and their
inflections, or kept as written.

    from bot.translation.lexer import Lexer
    [(u.kind, u.lang, u.en) for u in Lexer().units("kucing hitam")]
    # [("w", "id", "cat"), ("w", "id", "black")]
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .english import looks_english, past_participle, superlative
from .lexicon import NOUN_POS, Entry, Lexicon, load_lexicon
from .protect import split_protected

__all__ = ["DECADE_RE", "NUMERIC_RE", "Lexer", "Unit"]

_TOKEN_RE = re.compile(r"(\s+)|([^\W_]+(?:[-'’][^\W_]+)*)|(.)", re.DOTALL)
DECADE_RE = re.compile(r"^(\d{2,4})-?an$")  # "90an", "1920-an"
NUMERIC_RE = re.compile(r"^[-+]?\d+(?:[.,]\d+)?$")


@dataclass(slots=True)
class Unit:
    """One lexed piece of a prompt."""

    kind: str  # "w" lexicon word/phrase, "x" kept as written, "p" punctuation, "P" protected
    en: str  # English ("-" = drop); for "x", "p" and "P" the text as written
    pos: str  # part of speech (lexicon tags, plus "ppd" for di- participles); "x"/"p"/"P"
    src: str  # the text as written ("" in some of the units one word expands to)
    space: bool  # whitespace before it in the input
    lang: str = "unk"  # "id", "en", "both", "neutral", "unk"
    plural: bool = False
    dom: str = ""  # lexicon file of the entry ("animals", "people", ...)


class Lexer:
    """Cuts prompts into :class:`Unit` s against a lexicon (the process's one by default).

    Word analyses are cached per instance (8,192 words).
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lex = lexicon or load_lexicon()
        self._entries = self.lex.entries
        self._analyse = functools.lru_cache(maxsize=8192)(self._analyse_word)

    def units(self, text: str) -> list[Unit]:
        """The units of *text*, in order."""
        units: list[Unit] = []
        space = False  # whitespace seen since the last token (carried across segments)
        for seg in split_protected(text):
            if seg.protected:
                units.append(Unit("P", seg.text, "P", seg.text, space))
                space = False
                continue
            run: list[tuple[str, bool]] = []  # words with their space-before flag
            for m in _TOKEN_RE.finditer(seg.text):
                ws, word, other = m.groups()
                if ws is not None:
                    space = True
                    continue
                if word is not None:
                    run.append((word, space))
                else:
                    self._flush(run, units)
                    run = []
                    units.append(Unit("p", other, "p", other, space))
                space = False
            self._flush(run, units)
        # "tahun 90an" -> "90s", "tahun 1920" -> "1920"
        return [u for k, u in enumerate(units)
                if not (u.kind == "w" and u.src.lower() == "tahun" and k + 1 < len(units)
                        and (DECADE_RE.match(units[k + 1].src.lower())
                             or NUMERIC_RE.match(units[k + 1].src)))]

    def _flush(self, run: list[tuple[str, bool]], units: list[Unit]) -> None:
        """Longest-match lookup over a run of words."""
        i, n = 0, len(run)
        entries, max_words = self._entries, self.lex.max_words
        lowered = [w.lower().replace("’", "'") for w, _ in run]
        while i < n:
            matched = False
            for size in range(min(max_words, n - i), 1, -1):
                key = " ".join(lowered[i : i + size])
                entry = entries.get(key)
                if entry is not None and entry.pos == "prep" and size < n - i \
                        and self._noun_match(lowered, i + 1) >= size:
                    # "di sudut jalan": "di" + "sudut jalan" (street corner), not "di sudut"
                    break
                if entry is not None:
                    src = " ".join(w for w, _ in run[i : i + size])
                    units.append(
                        Unit("w", entry.en, entry.pos, src, run[i][1],
                             "neutral" if entry.same else "id", dom=entry.domain)
                    )
                    i += size
                    matched = True
                    break
            if matched:
                continue
            word, space = run[i]
            for u in self._analyse(lowered[i], word):
                units.append(Unit(u.kind, u.en, u.pos, u.src, space, u.lang, u.plural, u.dom))
                space = True
            i += 1

    def _noun_match(self, lowered: list[str], i: int) -> int:
        """Length of the longest noun phrase entry starting at *i* (0 when none)."""
        for size in range(min(self.lex.max_words, len(lowered) - i), 1, -1):
            entry = self._entries.get(" ".join(lowered[i : i + size]))
            if entry is not None and entry.pos in NOUN_POS:
                return size
        return 0

    def _analyse_word(self, low: str, word: str) -> tuple[Unit, ...]:
        """One word not part of a phrase: lexicon, reduplication, affixes, or kept as is."""
        entry = self._entries.get(low)
        english = self.lex.english
        if entry is not None:
            lang = "neutral" if entry.same else ("both" if low in english else "id")
            return (Unit("w", entry.en, entry.pos, word, False, lang, dom=entry.domain),)
        m = DECADE_RE.match(low)
        if m:
            return (Unit("w", m.group(1) + "s", "adj", word, False, "id"),)
        if low in english or looks_english(low, english):
            return (Unit("x", word, "x", word, False, "en"),)
        found = self._morph(low, word)
        if found:
            return found
        return (Unit("x", word, "x", word, False, "unk"),)

    def _morph(self, low: str, word: str) -> tuple[Unit, ...] | None:
        entries = self._entries
        # reduplication: kucing-kucing, kucing2, rumah-rumahan
        base = None
        toy = False
        if "-" in low:
            left, _, right = low.partition("-")
            if left == right or right == left + "an":
                base = left
                toy = right != left
        elif low.endswith("2") and len(low) > 3 and low[:-1].isalpha():
            base = low[:-1]
        if base is not None:
            inner = self._analyse(base, base)
            if len(inner) == 1 and inner[0].kind == "w":
                u = inner[0]
                if toy:  # "rumah-rumahan" -> "toy house"
                    if u.pos not in NOUN_POS:
                        return None
                    return (Unit("w", "toy " + u.en, "n", word, False, "id", dom=u.dom),)
                plural = u.pos in ("n", "np", "cls")
                return (Unit("w", u.en, "n" if u.pos == "cls" else u.pos, word, False, "id",
                             plural, u.dom),)
            return None
        # clitics and particles: rumahnya, bermainlah, kucingku
        for suffix in ("nya", "lah", "kah", "pun", "ku", "mu"):
            if low.endswith(suffix) and len(low) - len(suffix) >= 3:
                stem = low[: -len(suffix)]
                inner = self._analyse(stem, stem)
                if inner and inner[0].kind == "w":
                    return tuple(
                        Unit(u.kind, u.en, u.pos, word if k == 0 else "", False, "id", u.plural,
                             u.dom)
                        for k, u in enumerate(inner)
                    )
        # prefixes (+ suffixes)
        for prefix, roots in _prefix_roots(low):
            for root in roots:
                entry = entries.get(root) if len(root) >= 3 else None
                if entry is None:
                    continue
                built = _affixed(prefix, entry, word)
                if built:
                    return built
        return None


# ---------------------------------------------------------------------------------------------
# Indonesian affixes


def _prefix_roots(low: str) -> list[tuple[str, list[str]]]:
    """Candidate (prefix, roots) for an affixed Indonesian word, most specific first."""
    out: list[tuple[str, list[str]]] = []
    stems = [(low, "")]
    for suffix in ("kan", "i", "an"):
        if low.endswith(suffix) and len(low) - len(suffix) >= 5:
            stems.append((low[: -len(suffix)], suffix))
    for stem, suffix in stems:
        cands: list[tuple[str, list[str]]] = []
        if stem.startswith("menge"):
            cands.append(("me", [stem[5:]]))
        if stem.startswith("meng"):
            cands.append(("me", [stem[4:], "k" + stem[4:]]))
        if stem.startswith("meny"):
            cands.append(("me", ["s" + stem[4:], "ny" + stem[4:]]))
        if stem.startswith("mem"):
            cands.append(("me", [stem[3:], "p" + stem[3:]]))
        if stem.startswith("men") and not stem.startswith(("meng", "meny")):
            cands.append(("me", [stem[3:], "t" + stem[3:]]))
        if stem.startswith("me"):
            cands.append(("me", [stem[2:]]))  # me+lihat, me+merah, me+nanti
        if stem.startswith("nge"):
            cands.append(("me", [stem[3:]]))
        if stem.startswith("ng") and not stem.startswith("nge"):
            cands.append(("me", [stem[2:], "k" + stem[2:]]))
        if stem.startswith("ny"):
            cands.append(("me", ["s" + stem[2:]]))
        if stem.startswith("ber"):
            cands.append(("ber", [stem[3:], stem[2:]]))  # ber+lari, be(r)+rambut
        if stem.startswith("be") and not stem.startswith("ber"):
            cands.append(("ber", [stem[2:]]))
        if stem.startswith("bel"):
            cands.append(("ber", [stem[3:]]))
        if stem.startswith("di"):
            cands.append(("di", [stem[2:]]))
        if stem.startswith("ter"):
            cands.append(("ter", [stem[3:]]))
        if stem.startswith("memper"):
            cands.append(("me", [stem[6:]]))
        if stem.startswith("diper"):
            cands.append(("di", [stem[5:]]))
        if suffix == "an" and not cands:
            cands.append(("an", [stem]))
        if suffix == "an":
            cands = [(p, r) for p, r in cands if p == "an"]
        out += cands
    return out


def _affixed(prefix: str, entry: Entry, word: str) -> tuple[Unit, ...] | None:
    pos, en = entry.pos, entry.en
    if prefix == "me":
        if pos == "v":
            return (Unit("w", en, "v", word, False, "id"),)
        if pos == "adj":
            return (Unit("w", "turning " + en, "ving", word, False, "id"),)
        return None
    if prefix == "ber":
        if pos in ("n", "nu", "np"):
            return (Unit("w", "with", "prep", word, False, "id"),
                    Unit("w", en, pos, "", False, "id"))
        if pos in ("v", "adj"):
            return (Unit("w", en, pos, word, False, "id"),)
        return None
    if prefix == "di":
        if pos == "v":
            return (Unit("w", past_participle(en), "ppd", word, False, "id"),)
        if pos in ("n", "nu", "np"):  # "dipasar" written for "di pasar"
            return (Unit("w", "in", "prep", "di", False, "id"),
                    Unit("w", en, pos, word, False, "id"))
        return None
    if prefix == "ter":
        if pos == "v":
            return (Unit("w", past_participle(en), "pp", word, False, "id"),)
        if pos == "adj":
            return (Unit("w", superlative(en), "adj", word, False, "id"),)
        return None
    if prefix == "an" and pos in ("n", "nu"):
        return (Unit("w", en, pos, word, False, "id"),)
    return None
