"""The report of rejected lines: CSV, one row per line (line, type, field, code, detail)."""

from __future__ import annotations

import csv
from itertools import islice
from pathlib import Path
from typing import TextIO

from records.imports.outcome import Rejection

HEADER = ("line", "type", "field", "code", "detail")
# A cell a spreadsheet would run as a formula: the detail may quote the file's own text (an
# unknown field's name, a wrong value). OWASP "CSV Injection": prefix such cells with a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


class ReportWriter:
    """Writes the header at once, then each rejection it is called with."""

    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out)
        self._writer.writerow(HEADER)
        self.written = 0

    def __call__(self, rejection: Rejection) -> None:
        self._writer.writerow(
            (
                rejection.line,
                rejection.type or "",
                _cell(rejection.field),
                rejection.code,
                _cell(rejection.detail),
            )
        )
        self.written += 1


def first_rows(path: Path, limit: int) -> list[dict[str, str]]:
    """The first rejections of a report (for a page), without reading the rest."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(islice(csv.DictReader(handle), limit))
