"""Split a prompt into text that may be translated and text that must stay as written.

Protected (never translated): inline options (``--seed 42``, ``--raw``), quoted text
("double", 'single' when clearly quoting, “curly”, ‘curly’, «guillemets»), `backticks`,
prompt weights ``(castle:1.3)`` / ``((castle))``, ``[word]``, ``<lora:x:0.8>``, numbers,
URLs, @mentions and emoji.

``"".join(s.text for s in split_protected(text)) == text`` always holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Segment", "split_protected", "BOOLEAN_OPTIONS"]


@dataclass(frozen=True)
class Segment:
    text: str
    protected: bool


# Options that take no value. Every other ``--name`` takes the next token as its value.
BOOLEAN_OPTIONS = frozenset(
    {
        "raw", "hd", "upscale", "private", "public", "fast", "tile", "notranslate",
        "no-translate", "nsfw", "sfw", "random", "help", "verbose", "debug", "quiet",
    }
)

_EMOJI = (
    "\U0001F000-\U0001FAFF"  # pictographs, emoticons, transport, symbols, flags
    "\u2600-\u27BF"  # misc symbols, dingbats
    "\u2B00-\u2BFF"  # arrows, stars
    "\u2300-\u23FF"  # technical (⌚ ⏰)
    "\uFE0F\u200D\u20E3"  # variation selector, zero-width joiner, keycap
    "\U000E0020-\U000E007F"  # tag characters (subdivision flags)
)

_PATTERN = re.compile(
    r"""
    (?P<code>```.*?```|`[^`\n]*`)
  | (?P<url>(?:https?://|www\.)[^\s<>"'`]+)
  | (?P<option>(?<!\S)(?:--|—)(?P<optname>[A-Za-z][\w-]*)
        (?:[ \t]+(?P<optvalue>"[^"\n]*"|'[^'\n]*'|“[^”\n]*”|(?!--|—)[^\s"“]+))?)
  | (?P<dquote>"[^"\n]*"|“[^”\n]*”|„[^“”\n]*[“”]|«[^»\n]*»)
  | (?P<squote>(?<![\w'’])['‘](?=\S)[^'‘’\n]*?(?<=\S)['’](?![\w'’]))
  | (?P<lora><[^<>\n]*>)
  | (?P<weight>\(\([^()\n]*\)\)|\([^()\n]*:\s*[-+]?\d+(?:\.\d+)?\s*\))
  | (?P<bracket>\[[^\[\]\n]*\])
  | (?P<mention>(?<!\w)@\w+)
  | (?P<number>(?<![\w.])[-+]?\d+(?:[.,:/x×]\d+)*(?:%|[A-Za-z]+(?<!an))?(?![\w])(?!-an\b))
  | (?P<emoji>[""" + _EMOJI + r"""]
        (?:[""" + _EMOJI + r"""\U0001F3FB-\U0001F3FF\s]*[""" + _EMOJI + r"""])?)
    """,
    re.VERBOSE | re.DOTALL,
)


def _option_end(match: re.Match[str]) -> int:
    """End of an option match, without the value for options that take none."""
    name = match.group("optname").lower()
    if match.group("optvalue") is not None and name in BOOLEAN_OPTIONS:
        return match.end("optname")
    return match.end()


def split_protected(text: str) -> list[Segment]:
    """Split *text* into alternating translatable / protected segments (in order)."""
    segments: list[Segment] = []
    pos = 0
    search = _PATTERN.search
    while True:
        match = search(text, pos)
        if match is None:
            break
        start = match.start()
        end = _option_end(match) if match.group("option") else match.end()
        if end <= start:  # defensive: never loop on an empty match
            pos = start + 1
            continue
        if start > pos:
            _append(segments, text[pos:start], False)
        _append(segments, text[start:end], True)
        pos = end
    if pos < len(text):
        _append(segments, text[pos:], False)
    return segments


def _append(segments: list[Segment], piece: str, protected: bool) -> None:
    if not piece:
        return
    if segments and segments[-1].protected == protected and not protected:
        segments[-1] = Segment(segments[-1].text + piece, False)
    else:
        segments.append(Segment(piece, protected))


def protected_only(text: str) -> bool:
    """True when *text* has nothing to translate outside its protected parts."""
    return all(s.protected or not any(c.isalpha() for c in s.text) for s in split_protected(text))
