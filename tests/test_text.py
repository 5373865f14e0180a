"""Counts in messages read as a person would write them."""

from config.text import plural


def test_one_is_singular_and_others_are_plural():
    assert plural(1, "lead") == "1 lead"
    assert plural(0, "lead") == "0 leads"
    assert plural(2, "lead") == "2 leads"


def test_irregular_plurals_are_given():
    assert plural(1, "criterion", "criteria") == "1 criterion"
    assert plural(3, "criterion", "criteria") == "3 criteria"
