"""The caption under a finished image: what was asked, what the model got, and how."""

from __future__ import annotations

import html
from dataclasses import dataclass

from bot.i18n import t

TELEGRAM_CAPTION_LIMIT = 1024


def one_line(text: str) -> str:
    return " ".join(text.split())


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


@dataclass(frozen=True, slots=True)
class Caption:
    prompt: str  # as written
    prompt_en: str  # what the model got
    translator: str  # "none" | "offline" | "cache" | provider
    style: str  # style title in the reader's language, or the "no style" word
    seed: int
    cfg: float
    steps: int
    clip_score: float
    test_model: bool  # the tiny model: the score means nothing
    lang: str
    notice: str = ""  # e.g. the image check blurred it

    @property
    def translated(self) -> bool:
        return self.translator != "none" and self.prompt_en.strip() != self.prompt.strip()

    def fields(self) -> list[tuple[str, str]]:
        """(label, value) pairs in display order; front ends format and escape them."""
        lang = self.lang
        rows = [(t(lang, "cap_prompt"), one_line(self.prompt))]
        if self.translated:
            en = one_line(self.prompt_en)
            if self.translator == "offline":
                en += f" ({t(lang, 'cap_offline')})"
            rows.append((t(lang, "cap_english"), en))
        score = f"{self.clip_score:.1f}"
        if self.test_model:
            score += f" ({t(lang, 'cap_test_model')})"
        rows += [
            (t(lang, "cap_style"), one_line(self.style)),
            (t(lang, "cap_seed"), str(self.seed)),
            (t(lang, "cap_cfg"), f"{self.cfg:g}"),
            (t(lang, "cap_steps"), str(self.steps)),
            (t(lang, "cap_clip"), score),
        ]
        if self.notice:
            rows.append(("⚠️", self.notice))
        return rows

    def plain(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in self.fields())

    def html(self, limit: int = TELEGRAM_CAPTION_LIMIT) -> str:
        """Telegram HTML: every piece of user text escaped; the whole string (tags included)
        within ``limit`` UTF-16 units. The prompts are shortened, never the parameters."""
        rows = self.fields()
        n_text = 2 if self.translated else 1  # the prompt (and its English) may be shortened
        fixed = [f"<b>{html.escape(label)}:</b> {html.escape(value, quote=False)}"
                 for label, value in rows[n_text:]]
        texts = [one_line(self.prompt), one_line(self.prompt_en)][:n_text]
        tails = ["", f" ({t(self.lang, 'cap_offline')})" if self.translator == "offline" else ""]
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
