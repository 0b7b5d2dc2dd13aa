"""Tables the offline translator's grammar reads: which English preposition a place takes,
possessive heads, demonyms, adjective forms of nouns, number words, punctuation, and the tiny
world's words (positions in the picture, grounds, adjective order, colour and size markers)."""

from __future__ import annotations

# "di X" reads "on X" for these heads, "at X" for these, "in X" otherwise.
ON_HEADS = frozenset(
    "beach street road roadside sidewalk table desk sofa couch bed mattress roof rooftop grass "
    "lawn stage bridge hill island moon branch floor wall horse bicycle bike motorcycle boat "
    "raft shore seashore riverbank lakeside ice bench swing mat carpet rug shoulder shoulders "
    "back head lap platform highway path footpath porch terrace veranda balcony throne "
    "surfboard skateboard page cover poster canvas mountain peak slope cliff hillside field "
    "train ship deck ground earth rock stone planet surface".split()
)
AT_HEADS = frozenset(
    "station airport harbor port pier door gate window table desk counter bus stop party "
    "festival concert sunset sunrise dawn dusk night midnight noon school market".split()
) - {"table", "desk", "market"}
TIME_HEADS = frozenset("sunset sunrise dawn dusk night midnight noon twilight".split())
# "on top of X" reads "above X" for these heads, or after these verbs
SKY_HEADS = frozenset(
    "cloud clouds sky sea ocean city town lake water forest jungle river valley sea "
    "skyline rooftops village desert clouds waves".split()
)
FLY_VERBS = frozenset("fly float hover soar glide fly around".split())
# prepositions after which a bare noun takes "the"
ARTICLE_PREPS = frozenset(
    "in on at under above on top of in front of behind beside next to inside outside among "
    "in the middle of on the edge of at the edge of around across along near at the foot of "
    "in the corner of into out of from to toward over below during at the end of".split(" ")
) | {"on top of", "in front of", "next to", "in the middle of", "on the edge of",
     "at the edge of", "at the foot of", "in the corner of", "into", "out of",
     "at the end of"}
# heads that take a person noun as their owner ("rumah nenek" -> "grandmother's house")
KINSHIP_HEADS = frozenset(
    "child children wife husband mother father friend best friend sibling brother sister "
    "older sibling younger sibling grandchild son daughter partner lover student servant "
    "guard bodyguard pet toy house home room bedroom".split()
)
DEMONYM = {
    "Japan": "Japanese", "China": "Chinese", "Korea": "Korean", "Indonesia": "Indonesian",
    "Bali": "Balinese", "Java": "Javanese", "Sumatra": "Sumatran", "Egypt": "Egyptian",
    "Europe": "European", "America": "American", "England": "English", "France": "French",
    "Italy": "Italian", "Greece": "Greek", "India": "Indian", "Arabia": "Arabian",
    "Africa": "African", "Asia": "Asian", "the Netherlands": "Dutch", "Papua": "Papuan",
    "Borneo": "Bornean", "Yogyakarta": "Yogyakarta", "Jakarta": "Jakarta",
}
ADJ_FORM = {"wood": "wooden", "wool": "woolen", "gold": "golden"}
NUMBER_WORDS = {
    "one": 1, "a": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10,
}
YANG = frozenset({"yang", "yg"})
DI = frozenset({"di", "pada"})

# joining rendered pieces: no space after an opener or before a closer
OPENERS = frozenset("([{“‘«\"'")
CLOSERS = frozenset(",.;:!?)]}”’»…")

# ---------------------------------------------------------------------------------------------
# The tiny world's words (engine/world/scene.py): positions, grounds and adjective order.

# Direction words → position name ("kiri atas" and "atas kiri" are both the top left corner).
_DIRECTIONS = {
    "kiri": "left", "kanan": "right", "atas": "top", "bawah": "bottom", "tengah": "centre",
    "tengah-tengah": "centre",
    "kiri atas": "top left", "atas kiri": "top left", "kanan atas": "top right",
    "atas kanan": "top right", "kiri bawah": "bottom left", "bawah kiri": "bottom left",
    "kanan bawah": "bottom right", "bawah kanan": "bottom right",
}
_CORNERS = frozenset({"top left", "top right", "bottom left", "bottom right"})
# "di bagian kiri", "di sebelah kiri", "di pojok kiri atas": which positions each word takes
_SIDE_WORDS: dict[str, frozenset[str]] = {
    "": frozenset(_DIRECTIONS.values()),
    "bagian": frozenset(_DIRECTIONS.values()),
    "sebelah": frozenset({"left", "right"}) | _CORNERS,
    "samping": frozenset({"left", "right"}),
    "sisi": frozenset({"left", "right", "top", "bottom"}),
    "ujung": frozenset(_DIRECTIONS.values()) - {"centre"},
    "pojok": _CORNERS | {"left", "right"},
    "sudut": _CORNERS | {"left", "right"},
}
# "di tengah gambar" is just "in the middle": the picture itself is not a thing in it
POSITION_FRAMES = ("gambar", "foto", "layar", "kanvas", "bingkai")
POSITION_PREPS = ("di", "pada")
# "di" written joined to the word after it ("dikiri atas", "ditengah", "diatas latar biru")
DI_JOINED = frozenset({"atas", "bawah", "tengah", "tengah-tengah", "kiri", "kanan", "bagian",
                       "sebelah", "samping", "sisi", "pojok", "sudut", "ujung", "depan",
                       "belakang"})


def split_di(words: list[str]) -> list[str]:
    """["dikiri", "atas"] → ["di", "kiri", "atas"]; ["kiri-atas"] → ["kiri", "atas"]."""
    out: list[str] = []
    for word in words:
        left, _, right = word.partition("-")
        parts = [word] if not right or left == right else word.split("-")
        for part in parts:
            if part.startswith("di") and part[2:] in DI_JOINED:
                if out[-1:] != ["di"]:  # "dibagian" is lexed "di" + "dibagian"
                    out.append("di")
                part = part[2:]
            out.append(part)
    return out


def _position_keys() -> dict[tuple[str, ...], str]:
    keys: dict[tuple[str, ...], str] = {}
    for prep in ("", *POSITION_PREPS):
        for side, allowed in _SIDE_WORDS.items():
            for words, name in _DIRECTIONS.items():
                if name not in allowed:
                    continue
                key = tuple(w for w in (prep, side, *words.split()) if w)
                keys[key] = name
                for frame in POSITION_FRAMES:
                    keys[(*key, frame)] = name
    return keys


# Indonesian word sequence → position name: ("di", "bagian", "atas") → "top"
POSITIONS: dict[tuple[str, ...], str] = _position_keys()
POSITION_MAX_WORDS = max(len(k) for k in POSITIONS)
# A position at the end of a phrase, in the world grammar's words
POSITION_WORDS = {
    "top left": "at the top left", "top": "at the top", "top right": "at the top right",
    "left": "on the left", "centre": "in the middle", "right": "on the right",
    "bottom left": "at the bottom left", "bottom": "at the bottom",
    "bottom right": "at the bottom right",
}
# A position with a noun after it ("di bagian atas rumah" → "at the top of the house")
POSITION_OF = {
    "top left": "in the top left corner of", "top": "at the top of",
    "top right": "in the top right corner of", "left": "on the left of",
    "centre": "in the middle of", "right": "on the right of",
    "bottom left": "in the bottom left corner of", "bottom": "at the bottom of",
    "bottom right": "in the bottom right corner of",
}
# The English preposition (and article) a world ground takes after an Indonesian one:
# "di atas latar biru" → "on a blue background", "di atas laut" → "over the sea".
GROUND_PREPS: dict[str, dict[str, str]] = {
    "background": {"di": "on", "pada": "on", "di atas": "on", "dengan": "on"},
    "grass": {"di atas": "on"},
    "sea": {"di atas": "over"},
    "sky": {"di atas": "in"},
}
GROUND_ARTICLE = {"background": "a"}
# "di tepi laut" → "by the sea" (the world knows the sea, not the seaside)
GROUND_PHRASES = {"seaside": "by the sea", "seashore": "by the sea"}
# Words dropped before an adjective of their kind: "lingkaran berwarna merah" → "red circle",
# "latar warna biru" → "blue background", "lingkaran ukuran kecil" → "small circle"
COLOUR_MARKERS = frozenset({"warna", "berwarna", "bewarna", "warnanya"})
SIZE_MARKERS = frozenset({"ukuran", "berukuran", "ukurannya"})
# "ukuran sedang" / "lingkaran merah sedang": the world's medium size (it has no word)
MEDIUM_WORDS = frozenset({"sedang"})
# "latar belakang" split by an affix or a clitic ("berlatar belakang", "latar belakangnya")
BACKGROUND_TAILS = frozenset({"belakang", "belakangnya"})
# English adjective order: size before colour ("kucing kuning besar" → "big yellow cat",
# "bintang besar kuning" too)
SIZE_ADJS = frozenset("small little tiny big large huge giant enormous medium".split())
COLOUR_ADJS = frozenset(
    "red orange yellow green blue purple pink brown white black gray grey violet maroon "
    "turquoise indigo gold silver cream beige navy".split()
)
