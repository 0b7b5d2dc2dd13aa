"""English morphology for the offline translator: plurals, -ing forms, past participles,
superlatives, "a"/"an", and recognising inflected forms of known English words."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["fix_articles", "ing_form", "looks_english", "past_participle", "pluralize",
           "superlative"]

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
_AN_EXCEPTIONS = ("uni", "use", "eu", "one", "ufo", "uto")


def _one_syllable_cvc(word: str) -> bool:
    if len(word) < 3 or word[-1] in "wxy" or word[-1] in _VOWELS:
        return False
    if word[-2] not in _VOWELS or word[-3] in _VOWELS:
        return False
    groups = len(re.findall(r"[aeiouy]+", word))
    return groups == 1 or word in _DOUBLE_FINAL


def _regular(word: str, suffix: str) -> str:
    """*word* + *suffix*, doubling a final consonant after one short vowel: 'run' → 'running',
    'stop' → 'stopped', 'big' → 'biggest', but 'walk' → 'walked'."""
    return word + word[-1] + suffix if _one_syllable_cvc(word) else word + suffix


def _inflect_first(verb: str, suffix: str, exception: Callable[[str, str], str | None]) -> str:
    """Inflect the first word of *verb* and keep the rest ('wait for' → 'waiting for').

    *exception* gets the lower-cased word and the word as written and returns its form when
    it is not regular (else None); the regular form is ``_regular(word, suffix)``.
    """
    first, sep, rest = verb.partition(" ")
    w = first.lower()
    out = exception(w, first)
    return (_regular(w, suffix) if out is None else out) + sep + rest


def _ing_exception(w: str, first: str) -> str | None:
    if w.endswith("ing") and len(w) > 5:
        return first  # already an -ing form
    if w in ("be", "see", "flee", "free", "agree", "canoe", "dye"):
        return w + "ing"
    if w.endswith("ie"):
        return w[:-2] + "ying"  # lie, die, tie
    if w.endswith("e") and not w.endswith(("ee", "ye", "oe")) and len(w) > 2:
        return w[:-1] + "ing"
    return None


def _participle_exception(w: str, first: str) -> str | None:
    if w in _IRREGULAR_PARTICIPLE:
        return _IRREGULAR_PARTICIPLE[w]
    if w.endswith("e"):
        return w + "d"
    if w.endswith("y") and len(w) > 2 and w[-2] not in _VOWELS:
        return w[:-1] + "ied"
    return None


def ing_form(verb: str) -> str:
    """'run' → 'running', 'wait for' → 'waiting for' (first word inflected)."""
    return _inflect_first(verb, "ing", _ing_exception)


def past_participle(verb: str) -> str:
    """'eat' → 'eaten', 'paint' → 'painted', 'wrap up' → 'wrapped up' (first word inflected)."""
    return _inflect_first(verb, "ed", _participle_exception)


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
    return _regular(w, "est")


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


def looks_english(low: str, english: frozenset[str]) -> bool:
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


def fix_articles(text: str) -> str:
    """"a" or "an" by the sound of the next word: 'a owl' → 'an owl', 'an unicorn' → 'a unicorn'."""

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
