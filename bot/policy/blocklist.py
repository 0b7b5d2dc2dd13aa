"""The prompt blocklist: Indonesian and English, whole words, through simple obfuscation.

A prompt is checked as written and as the English the model would get. Matching works on a
normalised form: lower case, accents stripped, digits and symbols read as the letters they
stand for (``p0rn``, ``s3x``, ``$ex``), punctuation inside a word dropped (``p.o.r.n``),
single letters in a row joined (``s e x``), and runs of one letter collapsed (``pooorn``).
Whole words only: ``sex`` does not match ``sussex``. The operator adds words and phrases
(``[safety] blocklist``) and may allow shipped ones (``[safety] allowlist``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.config import SafetySection

# Terms no community chat wants painted. Kept short and unambiguous: words that are also
# everyday words (e.g. "ass", "dick", "kill") are left to the image check.
DEFAULT_BLOCKLIST = {
    "en": [
        "nsfw", "nude", "nudes", "nudity", "naked", "porn", "porno", "pornographic",
        "pornography", "sex", "sexy", "sexual", "hentai", "erotic", "erotica", "topless",
        "bottomless", "genitals", "genitalia", "penis", "vagina", "boobs", "tits", "nipples",
        "orgasm", "masturbation", "masturbating", "blowjob", "rape", "raped", "molest",
        "molested", "incest", "bestiality", "loli", "lolicon", "shota", "shotacon",
        "child porn", "gore", "gory", "beheading", "beheaded", "decapitated",
        "decapitation", "dismembered", "dismemberment", "mutilated", "mutilation",
        "disembowel", "disemboweled", "swastika", "nazi salute",
    ],
    "id": [
        "telanjang", "bugil", "porno", "pornografi", "seks", "seksi", "mesum", "cabul",
        "bokep", "payudara", "toket", "tetek", "kelamin", "alat kelamin", "memek", "kontol",
        "ngentot", "ngewe", "bersetubuh", "persetubuhan", "senggama", "perkosa", "diperkosa",
        "memperkosa", "pemerkosaan", "pencabulan", "sadis", "mutilasi", "dimutilasi",
        "pemenggalan", "dipenggal", "terpenggal", "isi perut",
    ],
}

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                       "@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e"})
_WORD = re.compile(r"\S+")


def _squeeze(word: str) -> str:
    """Runs of one letter collapsed: 'pooorn' → 'porn', 'boobs' → 'bobs'."""
    return re.sub(r"(.)\1+", r"\1", word)


def normalise(text: str) -> list[str]:
    """Words as the blocklist compares them (see the module docstring)."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = []
    for raw in _WORD.findall(text):
        word = raw.translate(_LEET)
        # a word is its letters; punctuation inside it ("p.o.r.n", "s-e-x") is dropped
        parts = [p for p in re.split(r"[^\w]+|_", word) if p]
        if len(parts) > 1 and all(len(p) == 1 for p in parts):
            words.append("".join(parts))
        else:
            words.extend(parts)
    joined: list[str] = []
    run: list[str] = []
    for word in words + [""]:  # single letters in a row: "s e x" → "sex"
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        if len(run) > 1:
            joined.append("".join(run))
        else:
            joined.extend(run)
        run = []
        if word:
            joined.append(word)
    return [_squeeze(w) for w in joined]


@dataclass(frozen=True, slots=True)
class Blocked:
    term: str  # the blocklist entry that matched
    where: str  # "prompt" | "english"


class Blocklist:
    def __init__(self, config: SafetySection):
        terms = list(config.blocklist)
        if config.default_blocklist:
            allowed = {" ".join(normalise(a)) for a in config.allowlist}
            terms += [t for lang in DEFAULT_BLOCKLIST.values() for t in lang
                      if " ".join(normalise(t)) not in allowed]
        # normalised phrase (tuple of words) → the entry as listed
        self._phrases: dict[tuple[str, ...], str] = {}
        for term in terms:
            key = tuple(normalise(term))
            if key:
                self._phrases.setdefault(key, term)
        self._longest = max((len(k) for k in self._phrases), default=0)

    def match(self, text: str) -> str | None:
        words = normalise(text)
        for i in range(len(words)):
            for n in range(min(self._longest, len(words) - i), 0, -1):
                term = self._phrases.get(tuple(words[i:i + n]))
                if term is not None:
                    return term
        return None

    def check(self, prompt: str, english: str = "") -> Blocked | None:
        """The first blocked term in the prompt as written, else in its English."""
        for where, text in (("prompt", prompt), ("english", english)):
            term = self.match(text) if text else None
            if term is not None:
                return Blocked(term, where)
        return None
