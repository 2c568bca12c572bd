"""Turning product titles and category names into concept terms.

A product title names what the item *is* in its head noun phrase: the words before the
first "for", "with", comma or bracket, minus model numbers ("EN-EL15 Battery Charger for
Nikon ..." → "battery charger"). Terms are lower case with the last word singular, so a
category leaf ("Batteries") and a title head ("Battery") meet as one entity.

A measure ("5.3 oz", "1 Gal", "16 Fl Oz", "20oz") ends the head phrase too: grocery titles put
it after the product and trail shelf words after it ("Conditioner 13.5 Fl Oz Female Hair Care" →
"conditioner"); when no word is before it, the words after it are the head ("3 lb Clementines" →
"clementine"). A count ("12-Pack", "24 ct", "32 GB") is dropped where it stands ("Hanes 3 Pack
Crew Socks" → "crew sock"). A unit word is never a head, and a word that grades a product
("organic", "natural") starts its name afresh: "Organic Whole Milk" and "Whole Milk" meet as
"whole milk".
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
# Units that follow a number: measures of weight and volume, and counts and storage sizes. Single
# letters ("4G", "2.8L") and "pc" are left out: in electronics and jewellery titles they name models.
_MEASURES = (
    "fl oz", "floz", "oz", "ounce", "lb", "lbs", "pound", "kg", "gram", "mg", "mcg", "iu", "ml", "liter", "litre",
    "gal", "gallon", "qt", "quart", "pint",
)
_COUNTS = ("ct", "count", "pk", "pack", "multipack", "each", "mb", "gb", "tb")


def _amount(units: tuple[str, ...]) -> re.Pattern[str]:
    """A number with one of ``units``: "12.8 oz", "1/3 Lb", "6.7 fl. oz.", "1,000 mg", "20oz", "12-Pack"."""
    names = "|".join(u.replace(" ", r"\.?\s*") for u in sorted(units, key=len, reverse=True))
    return re.compile(rf"(?<![\w.])\d+(?:[.,/]\d+)*\s*-?\s*(?:{names})s?\b\.?")


# A measure ends the head phrase ("Greek Yogurt 5.3 oz ..."); a count stands anywhere and is
# dropped ("Hanes 3 Pack Crew Socks", "SanDisk 32 GB microSD Card").
_MEASURE = _amount(_MEASURES)
_COUNT = _amount(_COUNTS)
# Units of weight, volume and count: never what an item is.
UNITS = frozenset(w for unit in _MEASURES + _COUNTS for w in unit.split()) | {"g", "l", "ea"}
_PRODUCT_UNITS = frozenset({"pack", "multipack"})
# Words that describe a variant, never what the item is.
_NOT_HEADS = UNITS | frozenset({
    "black", "white", "red", "blue", "green", "pink", "grey", "gray", "silver", "gold", "brown",
    "purple", "yellow", "orange", "beige", "navy", "khaki", "clear", "multi", "multicolor",
    "new", "set", "pair", "lot", "size", "small", "medium", "large", "value", "variety",
    "xs", "xl", "xxl", "sz", "women", "men", "womens", "mens", "girls", "boys", "kids", "unisex", "ladies", "adult",
    "inch", "feet", "foot", "ft", "mm", "cm", "meter", "edition", "version", "style", "color",
    "flavor", "flavour", "scent", "made", "men's", "women's", "pcs", "piece",
})
# Words that grade a product: the product's name starts after them ("Black Cherry Natural
# Sparkling Water" → "sparkling water", "Organic Whole Milk" → "whole milk").
_GRADES = frozenset({"organic", "natural", "all-natural", "original", "classic", "premium", "assorted"})
_KEEP_S = ("ss", "us", "is", "'s", "ics")
_INVARIANT = frozenset({"lens", "series", "news", "chassis"})
# Singulars that the plural rules below would get wrong ("cookies" is no "cooky").
_IE_SINGULARS = frozenset({
    "cookie", "brownie", "smoothie", "veggie", "calorie", "hoodie", "beanie", "onesie", "necktie", "bowtie",
    "lingerie", "movie", "zombie", "rookie", "goalie", "selfie", "birdie", "genie",
})
_OES_SINGULARS = frozenset({"tomato", "potato", "mango", "hero", "echo", "volcano", "torpedo"})


def singular(word: str) -> str:
    """A crude English singular, good enough to merge "batteries"/"battery", "cases"/"case"."""
    if word in _INVARIANT:
        return word
    if word.endswith("ies") and word[:-1] in _IE_SINGULARS:
        return word[:-1]
    if word.endswith("oes") and word[:-2] in _OES_SINGULARS:
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and len(word) > 3 and not word.endswith(_KEEP_S) and word not in _INVARIANT:
        return word[:-1]
    return word


def is_unit(term: str) -> bool:
    """Whether a term names an amount, not a product: its head is a unit ("fl oz", "bagels count"),
    or, for "pack", which also names products ("battery pack"), it has no other word."""
    words = [singular(w) for w in term.split()]
    if not words or words[-1] not in UNITS:
        return False
    return words[-1] not in _PRODUCT_UNITS or all(w in UNITS for w in words)


def clean(text: str) -> str:
    return _TRADEMARKS.sub(" ", html.unescape(text).lower())


def normalise_term(text: str) -> str:
    """A concept term: lower case, single spaces, last word singular ("HDMI Cables" → "hdmi cable")."""
    words = clean(text).replace("&", " & ").split()
    if not words:
        return ""
    words[-1] = singular(words[-1])
    return " ".join(words)


def _phrase_words(phrase: str) -> list[str]:
    """The words of a phrase after its last grade, model numbers dropped, trailing variant words
    and single letters (sizes: "Ash S") popped."""
    raws = phrase.split()
    words: list[str] = []
    for i, raw in enumerate(raws):
        word = raw.strip("'-+&")
        if word in _GRADES:
            words = words if i == len(raws) - 1 else []  # a grade at the end only drops itself
        elif word and not any(ch.isdigit() for ch in raw) and _WORD.fullmatch(word):
            words.append(word)
    while words and (len(words[-1]) == 1 or words[-1] in _NOT_HEADS or singular(words[-1]) in UNITS):
        words.pop()
    return words


def head_words(title: str) -> list[str]:
    """The words of a title's head noun phrase: before its first measure, or after it when none is before."""
    segment = _CUT.split(f" {clean(title)} ", maxsplit=1)[0]
    parts = _MEASURE.split(_COUNT.sub(" ", segment))
    words = next((found for part in parts if (found := _phrase_words(part))), [])
    if words:
        words[-1] = singular(words[-1])
    return words


def head_candidates(title: str, longest: int = 3) -> list[str]:
    """Head terms of growing length that end at the head noun: ["charger", "battery charger", ...]."""
    words = head_words(title)
    return [" ".join(words[-n:]) for n in range(1, min(longest, len(words)) + 1)]
