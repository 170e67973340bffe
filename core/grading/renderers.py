"""CSV and XLSX renderers for the degrees list: `?format=csv` and `?format=xlsx` pick them through DRF's
own format override, so the URL keeps the contract's shape and `Accept` headers work too."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from rest_framework.renderers import BaseRenderer

from core.common.spreadsheets import formula_escaped, xlsx_bytes


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return formula_escaped(value)  # CSV injection


class TableRenderer(BaseRenderer):
    """Renders {"columns": [...], "rows": [[...], ...]}, which the view builds."""

    charset: str | None = None

    def table(self, data: Any) -> tuple[list[str], list[list[Any]]]:
        return list(data["columns"]), [list(row) for row in data["rows"]]


class CSVRenderer(TableRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        columns, rows = self.table(data)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([_cell(value) for value in row] for row in rows)
        return out.getvalue().encode("utf-8")


class XLSXRenderer(TableRenderer):
    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    format = "xlsx"
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        columns, rows = self.table(data)
        return xlsx_bytes(title="degrees", columns=columns, rows=rows)
