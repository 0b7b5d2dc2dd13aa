"""Tables the offline translator's grammar reads: which English preposition a place takes,
possessive heads, demonyms, adjective forms of nouns, number words, and punctuation."""

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
