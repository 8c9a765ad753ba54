"""The tables of the dashboards, built once and written either as HTML or as CSV, so that a
downloaded file holds exactly the numbers of the table on the page.

A cell holds an int, a Decimal (kg CO2e, three decimals), a percentage already rounded to one
decimal (the column's header says "%"), a date or text; the HTML adds thousands separators
to whole numbers, the CSV writes them plain.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.http import HttpResponse

from core.csv_cells import csv_writer


@dataclass(frozen=True)
class Cell:
    value: Any
    href: str = ""

    @property
    def numeric(self) -> bool:
        return isinstance(self.value, int | float | Decimal) and not isinstance(self.value, bool)

    @property
    def is_int(self) -> bool:
        return isinstance(self.value, int) and not isinstance(self.value, bool)

    @property
    def csv(self) -> Any:
        """The cell in the CSV: numbers as they are (a negative one is no formula), the rest as text."""
        if self.value is None:
            return ""
        if self.numeric:
            return self.value
        if isinstance(self.value, date):
            return self.value.isoformat()
        return str(self.value)


@dataclass
class Table:
    slug: str  # also the CSV's name
    caption: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    row_headers: int = 1  # leading cells of a row that are <th scope="row">
    note: str = ""
    empty: str = ""  # what an empty table says (default: nothing to show for these days)

    def add(self, *values: Any, hrefs: dict[int, str] | None = None) -> None:
        hrefs = hrefs or {}
        self.rows.append([Cell(v, hrefs.get(n, "")) for n, v in enumerate(values)])

    def csv_response(self, filename: str) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response.write("\ufeff")  # a byte-order mark, so that spreadsheet programs read the Chinese as UTF-8
        writer = csv_writer(response)  # a cell starting like a formula is neutralised
        writer.writerow([str(c) for c in self.columns])
        for row in self.rows:
            writer.writerow([cell.csv for cell in row])
        return response


def percent(part: float | int | None, whole: float | int | None) -> float | None:
    """part / whole in %, one decimal; None when there is no whole."""
    if part is None or not whole:
        return None
    return round(100 * part / whole, 1)


def growth_percent(value: int | None, compared: int | None) -> float | None:
    if value is None or not compared:
        return None
    return round(100 * (value / compared - 1), 1)
