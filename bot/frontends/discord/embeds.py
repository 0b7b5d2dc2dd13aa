"""The embed under a finished image, and the text limits Discord enforces.

User text must never break a message: prompts are escaped and cut to fit (the parameters
never are): 256 characters for a title or field name, 1024 for a field, 2000 for content.
"""

from __future__ import annotations

import discord

from bot.caption import Caption

FIELD_MAX = 1024
NAME_MAX = 256
CONTENT_MAX = 2000
COLOUR = discord.Colour.from_rgb(224, 122, 95)  # terracotta, a painter's colour


def clip(text: str, limit: int = CONTENT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def user_text(text: str, limit: int = FIELD_MAX) -> str:
    """Markdown-escaped and cut to ``limit`` without leaving half an escape."""
    text = " ".join(text.split()) or "—"
    escaped = discord.utils.escape_markdown(text)
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - 1]
    if (len(cut) - len(cut.rstrip("\\"))) % 2:  # an odd run of backslashes: half an escape
        cut = cut[:-1]
    return cut + "…"


def image_embed(caption: Caption, filename: str) -> discord.Embed:
    """Prompt and English prompt as full-width fields, then style, seed, cfg, steps and the
    CLIP score inline; the image is the attachment ``filename``."""
    embed = discord.Embed(colour=COLOUR)
    rows = caption.fields()
    texts = 2 if caption.translated else 1  # the prompt (and its English) come first
    for i, (label, value) in enumerate(rows):
        if i < texts:
            embed.add_field(name=clip(label, NAME_MAX), value=user_text(value), inline=False)
        else:
            embed.add_field(name=clip(label, NAME_MAX), value=clip(value, FIELD_MAX) or "—",
                            inline=True)
    embed.set_image(url=f"attachment://{filename}")
    return embed
