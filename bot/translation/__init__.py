"""Offline translation for Pelukis: protect → detect → translate (no torch, no network).

    from bot.translation import detect_language, OfflineTranslator, split_protected
    detect_language("anime girl dengan rambut pink")   # Detection(lang="mixed", ...)
    OfflineTranslator().translate("kucing hitam besar")  # "big black cat"

Translate when ``lang`` is "id" or "mixed"; "en" and "none" go to the model as written.

The bot's full chain (SQLite cache → online providers → this offline translator) is
``bot.translation.chain.Translator``; it is not imported here, so importing this package
stays free of the bot's storage and config.
"""

from .detect import Detection, detect_language
from .lexicon import lexicon_size, load_lexicon
from .offline import OfflineTranslator
from .protect import Segment, split_protected

__all__ = [
    "Detection",
    "OfflineTranslator",
    "Segment",
    "detect_language",
    "lexicon_size",
    "load_lexicon",
    "split_protected",
]
