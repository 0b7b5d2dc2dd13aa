"""Offline Indonesian → English translation for image prompts (the last-resort translator).

A lexicon shipped with the project (``lexicon/*.tsv``) plus the grammar Indonesian prompts
need: longest-match phrases, noun–adjective order ("kucing hitam besar" → "big black cat"),
"yang" clauses, possessives ("rumah nenek" → "grandmother's house"), reduplicated plurals
("kucing-kucing" → "cats"), numbers and classifiers ("tiga ekor kucing" → "three cats"),
common affixes (ber-, meN-, di-, ter-, -kan, -i, -an, -nya, -lah/-kah/-pun) looked up by
root, prepositions ("di atas" → "on top of"/"above") and progressive markers ("sedang
berlari" → "running"; verbs read as -ing, which is what image prompts want).

Prompts about the tiny world (engine/world/scene.py: a shape of a colour and size at a
position on a background) come out in its caption grammar's words: positions at the end of a
phrase ("di kiri atas" → "at the top left", "di bagian bawah" → "at the bottom"; with a noun
after them "di atas meja" keeps its meaning), grounds ("di atas latar biru" → "on a blue
background", "di atas laut" → "over the sea"), size before colour ("bintang besar kuning" →
"big yellow star") and colour/size markers dropped ("berwarna merah" → "red").

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
    BACKGROUND_TAILS,
    CLOSERS,
    COLOUR_ADJS,
    COLOUR_MARKERS,
    DEMONYM,
    DI,
    FLY_VERBS,
    GROUND_ARTICLE,
    GROUND_PHRASES,
    GROUND_PREPS,
    KINSHIP_HEADS,
    MEDIUM_WORDS,
    NUMBER_WORDS,
    ON_HEADS,
    OPENERS,
    POSITION_MAX_WORDS,
    POSITION_OF,
    POSITION_PREPS,
    POSITION_WORDS,
    POSITIONS,
    SIZE_ADJS,
    SIZE_MARKERS,
    SKY_HEADS,
    TIME_HEADS,
    YANG,
    split_di,
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
        words += _size_first(list(reversed(self.adjs)))
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
        return _world_article(_join(pieces))

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
            if kind in "wx":
                placed = self._place(units, i, out)
                if placed is not None:
                    i = placed
                    continue
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
            low = u.src.lower()
            if low in BACKGROUND_TAILS and head.en.endswith("background"):
                i += 1  # "berlatar belakang biru": "latar belakang" is one word
                continue
            if u.kind != "w":
                break
            pos = u.pos
            marked = self._marked_adjective(units, i)
            if marked is not None:
                i = marked  # "berwarna merah" -> "red"
                continue
            if low in MEDIUM_WORDS and (
                    self._phrase_end(units, i + 1) or self._position(units, i + 1)
                    or (i + 1 < n and units[i + 1].kind == "w" and units[i + 1].pos == "adj")):
                i += 1  # "lingkaran (merah) sedang": medium is the world's size with no word
                continue
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
            if pos == "adj" and self._loose_position(units, i):
                break  # "lingkaran merah kiri atas": a position, not "top left red circle"
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

    def _marked_adjective(self, units: list[Unit], i: int) -> int | None:
        """Where the adjective after "berwarna"/"ukuran" starts (None: no such marker at *i*).
        "ukuran sedang" skips both words (the world's medium size has no word)."""
        low = units[i].src.lower()
        if low not in COLOUR_MARKERS and low not in SIZE_MARKERS:
            return None
        j = i + 1
        while j < len(units) and units[j].kind == "w" and not units[j].src:
            j += 1  # "berukuran" lexed as "with" + "size"
        if j >= len(units) or units[j].kind != "w":
            return None
        nxt = units[j]
        if low in SIZE_MARKERS and nxt.src.lower() in MEDIUM_WORDS:
            return j + 1
        if nxt.pos not in ("adj", "adv"):
            return None
        end = j
        while end < len(units) and units[end].kind == "w" and units[end].pos == "adv":
            end += 1
        if end >= len(units) or units[end].pos != "adj":
            return None
        kinds = COLOUR_ADJS if low in COLOUR_MARKERS else SIZE_ADJS
        return j if units[end].en.split(" ")[-1] in kinds else None

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

    # -- positions in the picture -------------------------------------------------------------

    def _position(self, units: list[Unit], i: int) -> tuple[str, int, int] | None:
        """The longest position at *i* ("di bagian kiri atas"): (name, end unit, words)."""
        words: list[str] = []
        best = None
        for j in range(i, len(units)):
            u = units[j]
            if u.kind not in "wx" or not u.src:
                break
            words = split_di([*words, *u.src.lower().split()])
            if len(words) > POSITION_MAX_WORDS:
                break
            name = POSITIONS.get(tuple(words))
            if name is not None:
                best = (name, j + 1, len(words))
        return best

    def _phrase_end(self, units: list[Unit], j: int) -> bool:
        """Nothing, punctuation, a conjunction or another preposition follows."""
        if j >= len(units):
            return True
        u = units[j]
        return u.kind in "pP" or (u.kind == "w" and u.pos in ("conj", "prep"))

    def _ground_follows(self, units: list[Unit], j: int) -> bool:
        """A background noun phrase ("latar biru") starts at *j*."""
        if j >= len(units) or not self._np_start(units, j):
            return False
        np_, _ = self._noun_phrase(units, j)
        return np_.head_words().split(" ")[-1:] == ["background"]

    def _loose_position(self, units: list[Unit], i: int) -> bool:
        """A position of two or more words without "di" ends the phrase at *i*."""
        hit = self._position(units, i)
        if hit is None or hit[2] < 2:
            return False
        return self._phrase_end(units, hit[1]) or self._ground_follows(units, hit[1])

    def _place(self, units: list[Unit], i: int, out: list) -> int | None:
        """"di kiri atas" -> "at the top left", "di bagian atas rumah" -> "at the top of the
        house"; None when *i* starts no position (then "di atas meja" is "on top of the
        table" as before)."""
        hit = self._position(units, i)
        if hit is None:
            return None
        name, j, _ = hit
        first = units[i]
        lead = first.src.lower().split()[0]
        joined = lead != "di" and split_di([lead])[0] == "di"  # "dikiri", "ditengah"
        with_prep = joined or (first.pos == "prep" and lead in POSITION_PREPS)
        if not with_prep:
            prev = units[i - 1] if i else None
            if not (prev is None or prev.kind == "p"
                    or (prev.kind == "w" and (prev.pos in NOUN_POS or prev.pos == "adj"))):
                return None
            if prev is not None and prev.kind == "w" and not self._loose_position(units, i):
                return None
        if self._phrase_end(units, j):
            out.append((POSITION_WORDS[name], True, "w"))
            return j
        if j == i + 1 and first.pos == "prep":
            return None  # the bare preposition "di atas": its noun decides
        if self._ground_follows(units, j):
            out.append((POSITION_WORDS[name], True, "w"))
            out.append((",", False, "p"))  # "on the left, blue background"
            return j
        if self._np_start(units, j):
            np_, k = self._noun_phrase(units, j)
            if np_.bare:
                np_.det.insert(0, "the")
            out.append((POSITION_OF[name], True, "w"))
            out.append((np_.render(), True, "w"))
            return k
        if with_prep:
            out.append((POSITION_WORDS[name], True, "w"))
            return j
        return None

    # -- prepositions ---------------------------------------------------------------------------

    def _prep_phrase(self, units: list[Unit], i: int, out: list, last_verb: str) -> int:
        u = units[i]
        prep = u.en
        src = " ".join(split_di(u.src.lower().split()))  # "diatas" is "di atas"
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
            # the tiny world's grounds: "di atas latar biru" -> "on a blue background"
            ground = GROUND_PREPS.get(last, {}).get("dengan" if u.en == "with" else src)
            if ground is not None:
                prep = ground
                if last in GROUND_ARTICLE and np_.bare:
                    np_.det.insert(0, GROUND_ARTICLE[last])
            elif src in DI and head in GROUND_PHRASES and np_.bare and not np_.adjs:
                out.append((GROUND_PHRASES[head], True, "w"))  # "di tepi laut" -> "by the sea"
                return i
            if prep in ARTICLE_PREPS and np_.bare and not (prep == "at" and last in TIME_HEADS):
                np_.det.insert(0, "the")  # but "at midnight", "at sunset"
            out.append((prep, True, "w"))
            out.append((np_.render(), True, "w"))
            return i
        out.append((prep, True, "w"))
        return i


# ---------------------------------------------------------------------------------------------
# helpers


_WORLD_TAIL = re.compile(
    r"\b(background|at the (top|bottom)|on the (left|right)|in the (middle|centre|center|sky)|"
    r"night sky|on the grass|(by|over) the sea)\b(?! of)")  # "in the middle of X" is no place
_COUNTED = re.compile(r"^(a|an|the|one|two|three|four|five|six|seven|eight|nine|ten|some|many|"
                      r"\d+)\b", re.I)


def _world_article(text: str) -> str:
    """"red circle on a blue background" → "a red circle on a blue background": a picture of
    one thing at a place, as the tiny world's captions say it (its model reads the article)."""
    tail = _WORLD_TAIL.search(text)
    if not tail or _COUNTED.match(text):
        return text
    subject = re.split(r"[,]| (?:on|at|in|by|over|under|above|with)\b", text[:tail.start()])[0]
    if not subject.strip() or any(w.endswith("s") and not w.endswith("ss")
                                  for w in subject.split()):
        return text  # no subject, or a plural one ("cats on the left")
    return fix_articles("a " + text)


def _possessive(head: Unit) -> bool:
    """"rumah nenek" -> "grandmother's house"; but "kucing astronot" -> "astronaut cat" and
    "gadis penyihir" -> "witch girl" (animals and people take a person noun as a compound)."""
    if head.en.lower() in KINSHIP_HEADS:
        return True
    return head.pos != "np" and head.dom != "animals"


def _size_first(adjs: list[str]) -> list[str]:
    """English order puts size before colour: ["yellow", "big"] -> ["big", "yellow"]."""
    last = [a.split(" ")[-1] for a in adjs]
    colours = [k for k, w in enumerate(last) if w in COLOUR_ADJS]
    if not colours:
        return adjs
    late = [k for k, w in enumerate(last) if w in SIZE_ADJS and k > colours[0]]
    if not late:
        return adjs
    rest = [a for k, a in enumerate(adjs) if k not in late]
    at = colours[0]
    return rest[:at] + [adjs[k] for k in late] + rest[at:]


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
