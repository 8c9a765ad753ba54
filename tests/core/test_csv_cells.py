"""core.csv_cells: a text cell that starts like a formula is neutralised; numbers stay numbers."""

import csv
import io
from decimal import Decimal

import pytest

from core.csv_cells import csv_writer, neutralised


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_text_starting_like_a_formula_gets_an_apostrophe(text):
    assert neutralised(text) == "'" + text


@pytest.mark.parametrize("text", ["Hangzhou 杭州", "a=b", "", "1-2", "'quoted"])
def test_other_texts_are_left_as_they_are(text):
    assert neutralised(text) == text


def test_the_writer_neutralises_text_but_not_numbers():
    stream = io.StringIO()
    csv_writer(stream).writerow(["=1+1", -12.5, -3, Decimal("-0.250"), None, "-x", True])
    assert next(csv.reader(io.StringIO(stream.getvalue()))) == ["'=1+1", "-12.5", "-3", "-0.250", "", "'-x", "True"]
