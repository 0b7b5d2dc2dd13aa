"""The caption under a finished image: what was asked, what the model got, and how."""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import t


def one_line(text: str) -> str:
    return " ".join(text.split())


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
