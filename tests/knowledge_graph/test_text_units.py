"""Quantities and units in titles: grocery sizes end the head phrase, counts drop out, a unit is never a head."""

from __future__ import annotations

import pytest

from knowledge_graph.entities import CATEGORY, TITLE, Extraction, Mention, build_dictionary, extract, unit_entities
from knowledge_graph.records import CatalogueItem
from knowledge_graph.text import head_candidates, head_words, is_unit, singular


@pytest.mark.parametrize("title, head", [
    ("Organic Whole Milk, 1 gal", ["milk", "whole milk"]),
    ("Greek Yogurt 5.3 oz", ["yogurt", "greek yogurt"]),
    ("Organic Apple Cider Vinegar 16 Fl Oz", ["vinegar", "cider vinegar", "apple cider vinegar"]),
    # Shelf words after the size ("Female Hair Care") are not the product.
    ("Moisture Conditioner 13.5 fl. oz. Female Hair Care", ["conditioner", "moisture conditioner"]),
    ("Keebler Sandies Pecan Cookies 17.2oz", ["cookie", "pecan cookie", "sandies pecan cookie"]),
    # Nothing before the size: the product follows it.
    ("3 lb Clementines", ["clementine"]),
    ("16 oz Cold Cups", ["cup", "cold cup"]),
    # A count stands anywhere and is dropped, a grade goes with the words before it.
    ("Hanes Men's 3 Pack Crew Socks", ["sock", "crew sock", "men's crew sock"]),
    ("Cheddar Cheese Slices 12 ct", ["slice", "cheese slice", "cheddar cheese slice"]),
    ("Black Cherry Natural Sparkling Water", ["water", "sparkling water"]),
    ("Tortilla Chips Organic", ["chip", "tortilla chip"]),
    # A size word or a single letter at the end is not the head.
    ("Wet Seal Women's Cascade Open Cardigan L Black", ["cardigan", "open cardigan", "cascade open cardigan"]),
])
def test_grocery_sizes_and_counts_leave_the_product_as_head(title, head):
    assert head_candidates(title) == head


def test_units_glued_to_model_names_are_not_quantities():
    # "4G", "64G", "2.8L" name products in electronics; only spelt-out measures cut the phrase.
    assert head_words("Samsung 64G MicroSD Card") == ["samsung", "microsd", "card"]
    assert head_words("Tablet PC 9 inch") == ["tablet", "pc"]
    assert head_words("Arctic Silver 5 Thermal Compound 3.5 Grams") == ["arctic", "silver", "thermal", "compound"]


def test_a_title_of_units_alone_has_no_head():
    assert head_words("12 oz") == [] and head_words("Variety Pack") == [] and head_words("Value 6-Pack") == []


def test_is_unit_names_amounts_not_products():
    assert all(is_unit(term) for term in ("oz", "fl oz", "count", "ounces", "gallon", "pack", "bagels count", "gb"))
    assert not any(is_unit(term) for term in ("milk", "snack pack", "battery pack", "mg softgel", ""))


@pytest.mark.parametrize("plural, one", [
    ("cookies", "cookie"), ("tomatoes", "tomato"), ("potatoes", "potato"), ("hoodies", "hoodie"),
    ("batteries", "battery"), ("shoes", "shoe"), ("cases", "case"), ("lens", "lens"),
    ("heroic", "heroic"), ("echoed", "echoed"), ("heroin", "heroin"),  # no plural: left as they are
])
def test_singular_merges_plurals_with_their_singular(plural, one):
    assert singular(plural) == one


def test_no_unit_becomes_an_entity_of_a_grocery_catalogue():
    titles = ["Greek Yogurt 5.3 oz", "Vanilla Greek Yogurt 32 oz", "Plain Greek Yogurt 5.3 Oz",
              "Keebler Sandies 12.8 Oz", "Fudge Stripes 11.5 Oz", "Wheat Thins 9 Oz", "Bagels 5 count",
              "Burger Buns 8 ct", "Tortillas 10 Count", "Hot Dog Buns 8 Pk", "Whole Milk, 1 gal",
              "Reduced Fat Milk 1 Gallon", "Organic Whole Milk"]
    items = [CatalogueItem(f"g:{i}", title, None) for i, title in enumerate(titles)]
    dictionary = build_dictionary(items, min_count=2)
    assert not [term for term in dictionary.terms if is_unit(term)]
    extraction = extract(items, dictionary)
    assert unit_entities(extraction) == {}
    assert extraction.entities_of("g:0") == ("greek yogurt",)
    assert extraction.entities_of("g:12") == ("whole milk",)


def test_unit_entities_reports_entities_named_by_a_unit():
    extraction = Extraction({"a": (Mention("fl oz", TITLE),), "b": (Mention("oz", TITLE), Mention("snack", CATEGORY)),
                             "c": (Mention("oz", TITLE),), "d": (Mention("snack pack", TITLE),)})
    assert unit_entities(extraction) == {"fl oz": 1, "oz": 2}
