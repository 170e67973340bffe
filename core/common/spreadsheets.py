"""The one way the platform writes cells that people open in a spreadsheet program (CSV injection, OWASP): a text
cell that a spreadsheet would run as a formula is written with a leading apostrophe in CSV, and every text cell of
an XLSX is a text cell, never a formula. Used by the degree downloads (core.grading.renderers) and by every
import-export download in the admin (core.common.admin)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# Spreadsheet programs run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_escaped(value: Any) -> Any:
    """A CSV cell: text that would start a formula gets a leading apostrophe; anything else is left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def xlsx_bytes(*, title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """One sheet: a header row, then the rows. Text stays text, even when it starts with "="; times are UTC
    (Excel has no time zones), as the API speaks."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append([_text_cell(sheet, WriteOnlyCell, str(name)) for name in columns])
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, datetime):
                value = value.astimezone(UTC).replace(tzinfo=None)
            cells.append(_text_cell(sheet, WriteOnlyCell, value) if isinstance(value, str) else value)
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _text_cell(sheet: Any, cell_class: Any, value: str) -> Any:
    cell = cell_class(sheet, value=value)
    cell.data_type = "s"
    return cell
