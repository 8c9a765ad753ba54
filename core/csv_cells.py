"""CSV cells that a spreadsheet program cannot take for a formula (CSV injection, OWASP).

Excel, LibreOffice and Google Sheets run a cell that starts with =, +, - or @ as a formula (and
a leading tab or carriage return can hide one), so a name or a reason a user typed could make
the spreadsheet of whoever opens the export fetch a URL or run a command. Every CSV the app
writes goes through csv_writer() (or neutralised()), which puts an apostrophe before such a
text cell, as OWASP advises: the spreadsheet then shows the text as typed. Numbers are written
as they are, so a negative number stays a number.
"""

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: Any) -> Any:
    """The cell as it goes into a CSV: a text starting like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _NeutralisingWriter:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def _cell(value: Any) -> Any:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value  # a number, even a negative one, is not a formula
    return neutralised(value if isinstance(value, str) else ("" if value is None else str(value)))


def csv_writer(stream, **kwargs) -> _NeutralisingWriter:
    """csv.writer(stream, **kwargs) whose rows are neutralised cell by cell."""
    return _NeutralisingWriter(csv.writer(stream, **kwargs))
