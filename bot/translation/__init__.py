"""Offline translation for Pelukis: protect → detect → translate (no torch, no network).

    from bot.translation import detect_language, OfflineTranslator, split_protected
    detect_language("anime girl dengan rambut pink")   # Detection(lang="mixed", ...)
    OfflineTranslator().translate("kucing hitam besar")  # "big black cat"

Translate when ``lang`` is "id" or "mixed"; "en" and "none" go to the model as written.
"""

from .detect import Detection, detect_language
from .offline import OfflineTranslator, lexicon_size, load_lexicon
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
