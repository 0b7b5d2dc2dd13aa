"""Offline Indonesian → English translation for image prompts (the last-resort translator).

A lexicon shipped with the project (``lexicon/*.tsv``) plus the grammar Indonesian prompts
need: longest-match phrases, noun–adjective order ("kucing hitam besar" → "big black cat"),
"yang" clauses, possessives ("rumah nenek" → "grandmother's house"), reduplicated plurals
("kucing-kucing" → "cats"), numbers and classifiers ("tiga ekor kucing" → "three cats"),
common affixes (ber-, meN-, di-, ter-, -kan, -i, -an, -nya, -lah/-kah/-pun) looked up by
root, prepositions ("di atas" → "on top of"/"above") and progressive markers ("sedang
berlari" → "running"; verbs read as -ing, which is what image prompts want).

Protected text (inline options, quotes, backticks, weights, numbers, URLs, emoji) is kept
verbatim in place; unknown words are kept as written; English words pass through.

Pure Python, no network, no heavy imports. The lexicon is loaded once per process.

This module is the grammar (noun phrases, prepositions, verbs) over the units of
``lexer.py``; the lexicon is ``lexicon.py``, English inflection ``english.py`` and the
grammar's tables ``grammar.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .english import fix_articles, ing_form, pluralize
from .grammar import (
    ADJ_FORM,
    ARTICLE_PREPS,
    AT_HEADS,
    CLOSERS,
    DEMONYM,
    DI,
    FLY_VERBS,
    KINSHIP_HEADS,
    NUMBER_WORDS,
    ON_HEADS,
    OPENERS,
    SKY_HEADS,
    TIME_HEADS,
    YANG,
)
from .lexer import NUMERIC_RE, Lexer, Unit
from .lexicon import NOUN_POS, Lexicon

__all__ = ["OfflineTranslator"]


# ---------------------------------------------------------------------------------------------
# Noun phrases


@dataclass(slots=True)
class NounPhrase:
    det: list[str] = field(default_factory=list)
    plural: bool = False
    head: Unit | None = None
    owners: list[str] = field(default_factory=list)
    adjs: list[str] = field(default_factory=list)  # Indonesian order (closest first)
    mods: list[str] = field(default_factory=list)  # noun modifiers, Indonesian order
    parts: list[str] = field(default_factory=list)  # fronted participles
    of: NounPhrase | None = None

    @property
    def bare(self) -> bool:
        """No determiner/owner and not a proper name: can take "the" after a preposition."""
        if self.det or self.owners or self.head is None:
            return False
        head_en = self.head.en
        return not head_en[:1].isupper() and not head_en.lower().startswith(("a ", "the "))

    def head_words(self) -> str:
        return self.head.en.lower() if self.head else ""

    def render(self) -> str:
        words: list[str] = list(self.det) + [f"{o}'s" for o in self.owners]
        words += reversed(self.adjs)
        words += self.parts
        words += reversed(self.mods)
        if self.head is not None:
            head = self.head.en
            if (self.plural or self.head.plural) and self.head.pos != "nu":
                head = pluralize(head)
            words.append(head)
        if self.of is not None:
            words += ["of", self.of.render()]
        return " ".join(w for w in words if w)


# ---------------------------------------------------------------------------------------------
# Translator


class OfflineTranslator:
    """Indonesian (or mixed Indonesian/English) prompt → English, offline and deterministic."""

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexer = Lexer(lexicon)
        self.lex = self.lexer.lex

    # -- public -------------------------------------------------------------------------------

    def translate(self, text: str) -> str:
        if not text or not text.strip():
            return ""
        units = self.lexer.units(text)
        self._resolve_ambiguous(units)
        pieces = self._grammar(units)
        return _join(pieces)

    # -- words of both languages --------------------------------------------------------------

    def _resolve_ambiguous(self, units: list[Unit]) -> None:
        """Words that are both Indonesian and English ("air", "main") follow their neighbours."""
        for i, u in enumerate(units):
            if u.lang != "both":
                continue
            neighbours = [units[j].lang for j in (i - 1, i + 1) if 0 <= j < len(units)
                          and units[j].kind in "wx"]
            if "en" in neighbours and "id" not in neighbours:
                units[i] = Unit("x", u.src, "x", u.src, u.space, "en")
            else:
                u.lang = "id"

    # -- grammar ------------------------------------------------------------------------------

    def _grammar(self, units: list[Unit]) -> list[tuple[str, bool, str]]:
        """Reorder and render. Returns (text, space_before, kind) pieces."""
        out: list[tuple[str, bool, str]] = []
        n = len(units)
        i = 0
        after_modal = False
        last_verb = ""
        while i < n:
            u = units[i]
            kind, pos = u.kind, u.pos
            if kind == "P" and not self._np_start(units, i):
                out.append((u.en, u.space, "P"))
                i += 1
                continue
            if kind in "px":
                out.append((u.en, u.space if kind == "p" else True, kind))
                i += 1
                continue
            if self._np_start(units, i):
                np_, i = self._noun_phrase(units, i)
                out.append((np_.render(), True, "w"))
                continue
            if pos == "prep":
                i = self._prep_phrase(units, i, out, last_verb)
                continue
            if pos == "v":
                text = u.en if after_modal else ing_form(u.en)
                last_verb = u.en
                after_modal = False
                out.append((text, True, "w"))
                i += 1
                continue
            after_modal = pos == "mod"
            if pos == "part" or u.en == "-":
                i += 1
                continue
            if pos == "prog":
                nxt = units[i + 1] if i + 1 < n else None
                if nxt is not None and nxt.kind == "w" and nxt.pos in ("v", "ving", "adj", "pp"):
                    i += 1
                    continue
                out.append((u.en, True, "w"))
                i += 1
                continue
            if pos == "adj":
                text, i = self._adjective(units, i)
                out.append((text, True, "w"))
                continue
            if pos == "adv" and i + 1 < n and units[i + 1].kind == "w" \
                    and units[i + 1].pos == "adj":
                text, i = self._adjective(units, i)
                out.append((text, True, "w"))
                continue
            if pos == "ppd":  # "dimakan harimau" -> "eaten by tiger"
                by = " by" if i + 1 < n and self._np_start(units, i + 1) else ""
                out.append((u.en + by, True, "w"))
                i += 1
                continue
            if pos == "intens":
                out.append(("very", True, "w"))
                i += 1
                continue
            out.append((u.en, True, "w"))
            i += 1
        return [(fix_articles(t) if k == "w" else t, sp, k) for t, sp, k in out]

    def _np_start(self, units: list[Unit], i: int) -> bool:
        u = units[i]
        if u.kind == "P":
            if not NUMERIC_RE.match(u.en) or i + 1 >= len(units):
                return False
            nxt = units[i + 1]
            return nxt.kind == "w" and nxt.pos in NOUN_POS
        if u.kind != "w":
            return False
        if u.pos in NOUN_POS:
            return True
        if u.pos in ("det", "detpl", "num"):
            return True
        return False

    def _number_value(self, u: Unit) -> float | None:
        if u.kind == "P":
            try:
                return float(u.en.replace(",", "."))
            except ValueError:
                return None
        return NUMBER_WORDS.get(u.en.split(" ")[0].lower(), 2 if u.pos == "num" else None)

    def _noun_phrase(self, units: list[Unit], i: int) -> tuple[NounPhrase, int]:
        n = len(units)
        np_ = NounPhrase()
        # determiners, numbers, classifiers
        while i < n:
            u = units[i]
            if u.kind == "P" or (u.kind == "w" and u.pos == "num"):
                value = self._number_value(u)
                np_.det.append(u.en)
                np_.plural = value is not None and value != 1
                i += 1
                if i < n and units[i].kind == "w" and units[i].pos == "cls":
                    i += 1  # "tiga ekor kucing": the classifier is not translated
                elif i + 1 < n and units[i].kind == "w" and units[i].src.lower() == "orang" \
                        and units[i + 1].kind == "w" and units[i + 1].pos in NOUN_POS:
                    i += 1  # "dua orang anak"
                continue
            if u.kind == "w" and u.pos in ("det", "detpl"):
                if u.en != "-":
                    np_.det.append(u.en)
                np_.plural = np_.plural or u.pos == "detpl"
                i += 1
                continue
            break
        if i >= n or units[i].kind != "w" or units[i].pos not in NOUN_POS:
            return np_, i
        head = units[i]
        np_.head = head
        i += 1
        # "lukisan pemandangan desa" -> "painting of village landscape"
        if head.pos == "nof" and i < n and units[i].kind == "w" and (
            units[i].pos in NOUN_POS or units[i].pos in ("det", "detpl", "num")
        ):
            inner, i = self._noun_phrase(units, i)
            np_.of = inner
            return np_, i
        while i < n:
            u = units[i]
            if u.kind != "w":
                break
            pos = u.pos
            if pos in NOUN_POS and pos != "nof" and not np_.adjs and not np_.parts:
                if head.lang == "neutral" and u.lang == "neutral":
                    break  # two loanwords: already in English order ("anime robot")
                if pos == "np" and _possessive(head):
                    np_.owners.insert(0, u.en)
                else:
                    en = u.en
                    if u.plural and pos != "nu":
                        en = pluralize(en)
                    np_.mods.append(DEMONYM.get(en, en))
                i += 1
                continue
            if pos == "nof" and not np_.adjs and not np_.mods:
                np_.mods.append(u.en)
                i += 1
                continue
            if pos == "adj" or (pos == "adv" and i + 1 < n and units[i + 1].kind == "w"
                                and units[i + 1].pos == "adj"):
                text, i = self._adjective(units, i)
                np_.adjs.append(ADJ_FORM.get(text, text))
                continue
            if u.src.lower() in YANG:
                j = i + 1
                while j < n and units[j].kind == "w" and units[j].pos == "prog":
                    j += 1
                if j < n and units[j].kind == "w" and (
                    units[j].pos == "adj"
                    or (units[j].pos == "adv" and j + 1 < n and units[j + 1].pos == "adj")
                ):
                    i = j
                    continue
                if j < n and units[j].kind == "w" and units[j].pos == "v" \
                        and _boundary(units, j + 1):
                    np_.parts.append(ing_form(units[j].en))
                    i = j + 1
                    break
                i += 1  # "gadis yang memakai topi" -> "girl wearing hat": drop "yang"
                break
            if pos == "v" and _boundary(units, i + 1) and " " not in u.en:
                np_.parts.append(ing_form(u.en))
                i += 1
                break
            if pos == "prog" and i + 1 < n and units[i + 1].kind == "w" \
                    and units[i + 1].pos == "v" and _boundary(units, i + 2):
                np_.parts.append(ing_form(units[i + 1].en))
                i += 2
                break
            break
        return np_, i

    def _adjective(self, units: list[Unit], i: int) -> tuple[str, int]:
        """adv* adj intens* ("sangat besar", "besar sekali", "gede bgt") and "X dan Y"."""
        n = len(units)
        advs: list[str] = []
        while i < n and units[i].kind == "w" and units[i].pos == "adv":
            advs.append(units[i].en)
            i += 1
        if i >= n or units[i].pos != "adj":
            return " ".join(advs), i
        adj = units[i].en
        i += 1
        while i < n and units[i].kind == "w" and units[i].pos == "intens":
            if "very" not in advs:
                advs.append("very")
            i += 1
        text = " ".join([*advs, adj])
        # "besar dan indah" inside a noun phrase
        if (i + 1 < n and units[i].kind == "w" and units[i].pos == "conj"
                and units[i].en in ("and", "or") and units[i + 1].kind == "w"
                and units[i + 1].pos == "adj" and _boundary_or_adj_end(units, i + 2)):
            other, j = self._adjective(units, i + 1)
            return f"{text} {units[i].en} {other}", j
        return text, i

    def _prep_phrase(self, units: list[Unit], i: int, out: list, last_verb: str) -> int:
        u = units[i]
        prep = u.en
        src = u.src.lower()
        i += 1
        n = len(units)
        if i < n and self._np_start(units, i):
            np_, i = self._noun_phrase(units, i)
            head = np_.head_words()
            last = head.split(" ")[-1] if head else ""
            if src in DI:
                if last in ON_HEADS or head in ON_HEADS:
                    prep = "on"
                elif last in AT_HEADS or last in TIME_HEADS:
                    prep = "at"
                else:
                    prep = "in" if src == "di" else "on"
            elif prep == "on top of":
                if last in SKY_HEADS or last_verb in FLY_VERBS:
                    prep = "above"
            elif prep == "at" and src in ("saat",):
                prep = "at" if last in TIME_HEADS else "during"
            elif prep == "among":
                np_.plural = True
            if prep in ARTICLE_PREPS and np_.bare:
                np_.det.insert(0, "the")
            out.append((prep, True, "w"))
            out.append((np_.render(), True, "w"))
            return i
        out.append((prep, True, "w"))
        return i


# ---------------------------------------------------------------------------------------------
# helpers


def _possessive(head: Unit) -> bool:
    """"rumah nenek" -> "grandmother's house"; but "kucing astronot" -> "astronaut cat" and
    "gadis penyihir" -> "witch girl" (animals and people take a person noun as a compound)."""
    if head.en.lower() in KINSHIP_HEADS:
        return True
    return head.pos != "np" and head.dom != "animals"


def _boundary(units: list[Unit], j: int) -> bool:
    if j >= len(units):
        return True
    u = units[j]
    return u.kind == "p" or (u.kind == "P" and not NUMERIC_RE.match(u.en)) \
        or (u.kind == "w" and u.pos == "conj")


def _boundary_or_adj_end(units: list[Unit], j: int) -> bool:
    if j + 1 >= len(units):
        return True
    nxt = units[j + 1]
    return not (nxt.kind == "w" and nxt.pos in NOUN_POS)


def _join(pieces: list[tuple[str, bool, str]]) -> str:
    parts: list[str] = []
    prev = ""
    for text, space, kind in pieces:
        if not text:
            continue
        if parts:
            if kind == "p" and text in CLOSERS:
                pass
            elif kind in ("p", "P") and not space:
                pass
            elif prev and prev[-1] in OPENERS and prev in OPENERS:
                pass
            else:
                parts.append(" ")
        parts.append(text)
        prev = text
    out = "".join(parts)
    out = re.sub(r"[ \t]{2,}", " ", out).strip()
    return out
