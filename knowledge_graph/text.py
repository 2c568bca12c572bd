"""Turning product titles and category names into concept terms.

A product title names what the item *is* in its head noun phrase: the words before the
first "for", "with", comma or bracket, minus model numbers ("EN-EL15 Battery Charger for
Nikon ..." → "battery charger"). Terms are lower case with the last word singular, so a
category leaf ("Batteries") and a title head ("Battery") meet as one entity.
"""

from __future__ import annotations

import html
import re

# Where the head noun phrase of a title ends.
_CUT = re.compile(
    r"\s(?:for|with|w/|compatible|by|fits|in|from|featuring|includes?|and|plus)\s"
    r"|\s[-|/–]\s|[,(\[:;|]"
)
_WORD = re.compile(r"[a-z][a-z&'+-]*")
_TRADEMARKS = re.compile(r"[®™©]|\(r\)|\(tm\)")
# Words that describe a variant, never what the item is.
_NOT_HEADS = frozenset({
    "black", "white", "red", "blue", "green", "pink", "grey", "gray", "silver", "gold", "brown",
    "purple", "yellow", "orange", "beige", "navy", "khaki", "clear", "multi", "multicolor",
    "new", "pack", "set", "pair", "piece", "pcs", "lot", "size", "small", "medium", "large",
    "women", "men", "womens", "mens", "girls", "boys", "kids", "unisex", "ladies", "adult",
    "inch", "feet", "foot", "ft", "mm", "cm", "meter", "edition", "version", "style", "color",
})
_KEEP_S = ("ss", "us", "is", "'s", "ics")
_INVARIANT = frozenset({"lens", "series", "news", "chassis"})


def singular(word: str) -> str:
    """A crude English singular, good enough to merge "batteries"/"battery", "cases"/"case"."""
    if word in _INVARIANT:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and len(word) > 3 and not word.endswith(_KEEP_S) and word not in _INVARIANT:
        return word[:-1]
    return word


def clean(text: str) -> str:
    return _TRADEMARKS.sub(" ", html.unescape(text).lower())


def normalise_term(text: str) -> str:
    """A concept term: lower case, single spaces, last word singular ("HDMI Cables" → "hdmi cable")."""
    words = clean(text).replace("&", " & ").split()
    if not words:
        return ""
    words[-1] = singular(words[-1])
    return " ".join(words)


def head_words(title: str) -> list[str]:
    """The words of a title's head noun phrase, model numbers and variant words dropped."""
    segment = _CUT.split(f" {clean(title)} ", maxsplit=1)[0]
    words = []
    for raw in segment.split():
        word = raw.strip("'-+&")
        if word and not any(ch.isdigit() for ch in raw) and _WORD.fullmatch(word):
            words.append(word)
    while words and words[-1] in _NOT_HEADS:
        words.pop()
    if words:
        words[-1] = singular(words[-1])
    return words


def head_candidates(title: str, longest: int = 3) -> list[str]:
    """Head terms of growing length that end at the head noun: ["charger", "battery charger", ...]."""
    words = head_words(title)
    return [" ".join(words[-n:]) for n in range(1, min(longest, len(words)) + 1)]
