"""Telegram's rendering of a caption: HTML with every piece of user text escaped, within
Telegram's caption limit counted in UTF-16 units."""

from __future__ import annotations

import html

from bot.caption import Caption, one_line
from bot.i18n import t

CAPTION_LIMIT = 1024  # UTF-16 units, tags included


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _escaped_prefix(text: str, budget: int) -> str:
    """The longest escaped prefix of ``text`` (plus "…" when cut) within ``budget`` units."""
    full = html.escape(text, quote=False)
    if utf16_len(full) <= budget:
        return full
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on the raw text, so entities are never cut in half
        mid = (lo + hi + 1) // 2
        if utf16_len(html.escape(text[:mid].rstrip(), quote=False)) + 1 <= budget:
            lo = mid
        else:
            hi = mid - 1
    return html.escape(text[:lo].rstrip(), quote=False) + "…" if budget > 0 else ""


def fits_caption(text: str) -> bool:
    return utf16_len(text) <= CAPTION_LIMIT


def caption_html(caption: Caption, limit: int = CAPTION_LIMIT) -> str:
    """The prompts are shortened to fit, never the parameters."""
    rows = caption.fields()
    n_text = 2 if caption.translated else 1  # the prompt (and its English) may be shortened
    fixed = [f"<b>{html.escape(label)}:</b> {html.escape(value, quote=False)}"
             for label, value in rows[n_text:]]
    texts = [one_line(caption.prompt), one_line(caption.prompt_en)][:n_text]
    tails = ["", f" ({t(caption.lang, 'cap_offline')})" if caption.translator == "offline" else ""]
    heads = [f"<b>{html.escape(label)}:</b> " for label, _ in rows[:n_text]]
    budget = limit - utf16_len("\n".join(heads + fixed) + "".join(tails[:n_text])) - n_text
    # share the budget: each text gets what it needs, up to an equal part of the rest
    shares, left = [], budget
    for i, text in enumerate(sorted(range(n_text), key=lambda k: len(texts[k]))):
        part = left // (n_text - i)
        need = utf16_len(html.escape(texts[text], quote=False))
        shares.append((text, min(need, part)))
        left -= min(need, part)
    body = {i: _escaped_prefix(texts[i], share) for i, share in shares}
    lines = [heads[i] + body[i] + html.escape(tails[i]) for i in range(n_text)] + fixed
    return "\n".join(lines)
