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
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from .protect import split_protected

__all__ = ["OfflineTranslator", "Entry", "Lexicon", "load_lexicon", "lexicon_size"]

# ---------------------------------------------------------------------------------------------
# Lexicon

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


# ---------------------------------------------------------------------------------------------
# English morphology

_IRREGULAR_PLURAL = {
    "man": "men", "woman": "women", "child": "children", "person": "people", "mouse": "mice",
    "foot": "feet", "tooth": "teeth", "goose": "geese", "fish": "fish", "sheep": "sheep",
    "deer": "deer", "moose": "moose", "bison": "bison", "species": "species",
    "aircraft": "aircraft", "spacecraft": "spacecraft", "samurai": "samurai", "wolf": "wolves",
    "leaf": "leaves", "knife": "knives", "shelf": "shelves", "elf": "elves", "dwarf": "dwarves",
    "thief": "thieves", "wife": "wives", "calf": "calves", "half": "halves", "life": "lives",
    "loaf": "loaves", "scarf": "scarves", "hoof": "hooves", "tomato": "tomatoes",
    "potato": "potatoes", "hero": "heroes", "volcano": "volcanoes", "mango": "mangoes",
    "buffalo": "buffaloes", "cactus": "cacti", "octopus": "octopuses", "ox": "oxen",
    "people": "people", "police": "police", "offspring": "offspring", "kris": "krises",
}
_PLURAL_FORMS = frozenset(_IRREGULAR_PLURAL.values()) - {"fish", "sheep", "deer"}

_IRREGULAR_PARTICIPLE = {
    "eat": "eaten", "write": "written", "break": "broken", "hide": "hidden", "make": "made",
    "hold": "held", "wear": "worn", "draw": "drawn", "freeze": "frozen", "fall": "fallen",
    "shoot": "shot", "take": "taken", "build": "built", "sell": "sold", "give": "given",
    "see": "seen", "light": "lit", "bite": "bitten", "buy": "bought", "catch": "caught",
    "bring": "brought", "teach": "taught", "find": "found", "keep": "kept", "leave": "left",
    "lose": "lost", "sing": "sung", "swim": "swum", "ride": "ridden", "drive": "driven",
    "steal": "stolen", "burn": "burnt", "cut": "cut", "hit": "hit", "put": "put",
    "read": "read", "run": "run", "sit": "sat", "stand": "stood", "sleep": "slept",
    "tie": "tied", "weave": "woven", "sew": "sewn", "grow": "grown", "throw": "thrown",
    "know": "known", "blow": "blown", "fly": "flown", "forget": "forgotten", "bind": "bound",
    "wind": "wound", "hang": "hung", "dig": "dug", "feed": "fed", "lead": "led",
    "spin": "spun", "sink": "sunk", "wake": "woken", "shine": "shone", "carry": "carried",
    "paint": "painted", "wrap": "wrapped", "carve": "carved", "knit": "knitted",
}
_DOUBLE_FINAL = frozenset({"begin", "forget", "admit", "refer", "regret", "occur", "permit"})
_VOWELS = frozenset("aeiou")


def _one_syllable_cvc(word: str) -> bool:
    if len(word) < 3 or word[-1] in "wxy" or word[-1] in _VOWELS:
        return False
    if word[-2] not in _VOWELS or word[-3] in _VOWELS:
        return False
    groups = len(re.findall(r"[aeiouy]+", word))
    return groups == 1 or word in _DOUBLE_FINAL


def ing_form(verb: str) -> str:
    """'run' → 'running', 'wait for' → 'waiting for' (first word inflected)."""
    first, sep, rest = verb.partition(" ")
    w = first.lower()
    if w.endswith("ing") and len(w) > 5:
        out = first
    elif w in ("lie", "die", "tie"):
        out = w[:-2] + "ying"
    elif w in ("be", "see", "flee", "free", "agree", "canoe", "dye"):
        out = w + "ing"
    elif w.endswith("ie"):
        out = w[:-2] + "ying"
    elif w.endswith("e") and not w.endswith(("ee", "ye", "oe")) and len(w) > 2:
        out = w[:-1] + "ing"
    elif _one_syllable_cvc(w):
        out = w + w[-1] + "ing"
    else:
        out = w + "ing"
    return out + sep + rest


def past_participle(verb: str) -> str:
    first, sep, rest = verb.partition(" ")
    w = first.lower()
    if w in _IRREGULAR_PARTICIPLE:
        out = _IRREGULAR_PARTICIPLE[w]
    elif w.endswith("e"):
        out = w + "d"
    elif w.endswith("y") and len(w) > 2 and w[-2] not in _VOWELS:
        out = w[:-1] + "ied"
    elif _one_syllable_cvc(w):
        out = w + w[-1] + "ed"
    else:
        out = w + "ed"
    return out + sep + rest


def superlative(adj: str) -> str:
    """'big' → 'biggest', 'happy' → 'happiest', 'beautiful' → 'most beautiful'."""
    w = adj.lower()
    if " " in w or not w.isalpha():
        return "most " + adj
    syllables = len(re.findall(r"[aeiouy]+", w))
    if w.endswith("y") and syllables == 2 and w[-2] not in _VOWELS:
        return w[:-1] + "iest"
    if syllables != 1:
        return "most " + adj
    if w.endswith("e"):
        return w + "st"
    if _one_syllable_cvc(w):
        return w + w[-1] + "est"
    return w + "est"


def _plural_word(word: str) -> str:
    low = word.lower()
    if low in _IRREGULAR_PLURAL:
        return _IRREGULAR_PLURAL[low]
    if low in _PLURAL_FORMS or not low.isalpha():
        return word
    if low.endswith("s") and not low.endswith(("ss", "us")):
        return word  # already plural (glasses, clothes, stairs)
    if low.endswith(("ss", "sh", "ch", "x", "z", "us")):
        return word + "es"
    if low.endswith("y") and len(low) > 1 and low[-2] not in _VOWELS:
        return word[:-1] + "ies"
    return word + "s"


def pluralize(noun: str) -> str:
    """Pluralize an English noun phrase: 'cherry blossom tree' → 'cherry blossom trees'."""
    if not noun or noun.lower().startswith(("a ", "an ")):
        return noun
    head, of, tail = noun.partition(" of ")
    if of:
        return pluralize(head) + of + tail
    words = head.split(" ")
    words[-1] = _plural_word(words[-1])
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# Grammar tables

# "di X" reads "on X" for these heads, "at X" for these, "in X" otherwise.
_ON_HEADS = frozenset(
    "beach street road roadside sidewalk table desk sofa couch bed mattress roof rooftop grass "
    "lawn stage bridge hill island moon branch floor wall horse bicycle bike motorcycle boat "
    "raft shore seashore riverbank lakeside ice bench swing mat carpet rug shoulder shoulders "
    "back head lap platform highway path footpath porch terrace veranda balcony throne "
    "surfboard skateboard page cover poster canvas mountain peak slope cliff hillside field "
    "train ship deck ground earth rock stone planet surface".split()
)
_AT_HEADS = frozenset(
    "station airport harbor port pier door gate window table desk counter bus stop party "
    "festival concert sunset sunrise dawn dusk night midnight noon school market".split()
) - {"table", "desk", "market"}
_TIME_HEADS = frozenset("sunset sunrise dawn dusk night midnight noon twilight".split())
_SKY_HEADS = frozenset(
    "cloud clouds sky sea ocean city town lake water forest jungle river valley sea "
    "skyline rooftops village desert clouds waves".split()
)
_FLY_VERBS = frozenset("fly float hover soar glide fly around".split())
_ARTICLE_PREPS = frozenset(
    "in on at under above on top of in front of behind beside next to inside outside among "
    "in the middle of on the edge of at the edge of around across along near at the foot of "
    "in the corner of into out of from to toward over below during at the end of".split(" ")
) | {"on top of", "in front of", "next to", "in the middle of", "on the edge of",
     "at the edge of", "at the foot of", "in the corner of", "into", "out of",
     "at the end of"}
_KINSHIP_HEADS = frozenset(
    "child children wife husband mother father friend best friend sibling brother sister "
    "older sibling younger sibling grandchild son daughter partner lover student servant "
    "guard bodyguard pet toy house home room bedroom".split()
)
_DEMONYM = {
    "Japan": "Japanese", "China": "Chinese", "Korea": "Korean", "Indonesia": "Indonesian",
    "Bali": "Balinese", "Java": "Javanese", "Sumatra": "Sumatran", "Egypt": "Egyptian",
    "Europe": "European", "America": "American", "England": "English", "France": "French",
    "Italy": "Italian", "Greece": "Greek", "India": "Indian", "Arabia": "Arabian",
    "Africa": "African", "Asia": "Asian", "the Netherlands": "Dutch", "Papua": "Papuan",
    "Borneo": "Bornean", "Yogyakarta": "Yogyakarta", "Jakarta": "Jakarta",
}
_ADJ_FORM = {"wood": "wooden", "wool": "woolen", "gold": "golden"}
_NUMBER_WORDS = {
    "one": 1, "a": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10,
}
_YANG = frozenset({"yang", "yg"})
_DI = frozenset({"di", "pada"})

_TOKEN_RE = re.compile(r"(\s+)|([^\W_]+(?:[-'’][^\W_]+)*)|(.)", re.DOTALL)
_DECADE_RE = re.compile(r"^(\d{2,4})-?an$")
_NUMERIC_RE = re.compile(r"^[-+]?\d+(?:[.,]\d+)?$")
_OPENERS = frozenset("([{“‘«\"'")
_CLOSERS = frozenset(",.;:!?)]}”’»…")


# ---------------------------------------------------------------------------------------------
# Units


@dataclass(slots=True)
class Unit:
    kind: str  # "w" lexicon word/phrase, "x" kept as written, "p" punctuation, "P" protected
    en: str
    pos: str
    src: str
    space: bool  # whitespace before it in the input
    lang: str = "unk"  # "id", "en", "both", "neutral", "unk"
    plural: bool = False
    dom: str = ""  # lexicon file of the entry ("animals", "people", ...)


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
        self.lex = lexicon or load_lexicon()
        self._entries = self.lex.entries
        self._analyse = functools.lru_cache(maxsize=8192)(self._analyse_word)

    # -- public -------------------------------------------------------------------------------

    def translate(self, text: str) -> str:
        if not text or not text.strip():
            return ""
        units = self._units(text)
        self._resolve_ambiguous(units)
        pieces = self._grammar(units)
        return _join(pieces)

    # -- lexing and lookup --------------------------------------------------------------------

    def _units(self, text: str) -> list[Unit]:
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
                        and (_DECADE_RE.match(units[k + 1].src.lower())
                             or _NUMERIC_RE.match(units[k + 1].src)))]

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
        m = _DECADE_RE.match(low)
        if m:
            return (Unit("w", m.group(1) + "s", "adj", word, False, "id"),)
        if low in english or _looks_english(low, english):
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
        return [(_articles(t) if k == "w" else t, sp, k) for t, sp, k in out]

    def _np_start(self, units: list[Unit], i: int) -> bool:
        u = units[i]
        if u.kind == "P":
            if not _NUMERIC_RE.match(u.en) or i + 1 >= len(units):
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
        return _NUMBER_WORDS.get(u.en.split(" ")[0].lower(), 2 if u.pos == "num" else None)

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
                    np_.mods.append(_DEMONYM.get(en, en))
                i += 1
                continue
            if pos == "nof" and not np_.adjs and not np_.mods:
                np_.mods.append(u.en)
                i += 1
                continue
            if pos == "adj" or (pos == "adv" and i + 1 < n and units[i + 1].kind == "w"
                                and units[i + 1].pos == "adj"):
                text, i = self._adjective(units, i)
                np_.adjs.append(_ADJ_FORM.get(text, text))
                continue
            if u.src.lower() in _YANG:
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
            if src in _DI:
                if last in _ON_HEADS or head in _ON_HEADS:
                    prep = "on"
                elif last in _AT_HEADS or last in _TIME_HEADS:
                    prep = "at"
                else:
                    prep = "in" if src == "di" else "on"
            elif prep == "on top of":
                if last in _SKY_HEADS or last_verb in _FLY_VERBS:
                    prep = "above"
            elif prep == "at" and src in ("saat",):
                prep = "at" if last in _TIME_HEADS else "during"
            elif prep == "among":
                np_.plural = True
            if prep in _ARTICLE_PREPS and np_.bare:
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
    if head.en.lower() in _KINSHIP_HEADS:
        return True
    return head.pos != "np" and head.dom != "animals"


def _boundary(units: list[Unit], j: int) -> bool:
    if j >= len(units):
        return True
    u = units[j]
    return u.kind == "p" or (u.kind == "P" and not _NUMERIC_RE.match(u.en)) \
        or (u.kind == "w" and u.pos == "conj")


def _boundary_or_adj_end(units: list[Unit], j: int) -> bool:
    if j + 1 >= len(units):
        return True
    nxt = units[j + 1]
    return not (nxt.kind == "w" and nxt.pos in NOUN_POS)


def _looks_english(low: str, english: frozenset[str]) -> bool:
    """Inflected forms of English words: cats, walking, detailed, colours, cities."""
    if len(low) < 4 or not low.isascii():
        return False
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"),
                         ("ed", ""), ("ed", "e"), ("ly", ""), ("er", ""), ("est", "")):
        if low.endswith(suffix):
            stem = low[: -len(suffix)] + repl
            if stem in english and len(stem) >= 3:
                return True
            if suffix in ("ing", "ed") and len(stem) > 3 and stem[-1] == stem[-2] \
                    and stem[:-1] in english:
                return True
    return False


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


def _join(pieces: list[tuple[str, bool, str]]) -> str:
    parts: list[str] = []
    prev = ""
    for text, space, kind in pieces:
        if not text:
            continue
        if parts:
            if kind == "p" and text in _CLOSERS:
                pass
            elif kind in ("p", "P") and not space:
                pass
            elif prev and prev[-1] in _OPENERS and prev in _OPENERS:
                pass
            else:
                parts.append(" ")
        parts.append(text)
        prev = text
    out = "".join(parts)
    out = re.sub(r"[ \t]{2,}", " ", out).strip()
    return out


_AN_EXCEPTIONS = ("uni", "use", "eu", "one", "ufo", "uto")


def _articles(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        article, nxt = m.group(1), m.group(2)
        low = nxt.lower()
        vowel = low[0] in "aeiou" and not low.startswith(_AN_EXCEPTIONS)
        if low.startswith(("hour", "honest", "heir")):
            vowel = True
        want = "an" if vowel else "a"
        if article[0].isupper():
            want = want.capitalize()
        return f"{want} {nxt}"

    return re.sub(r"\b([Aa]n?) ([A-Za-z][\w'-]*)", fix, text)
