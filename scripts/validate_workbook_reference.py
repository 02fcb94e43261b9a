#!/usr/bin/env python3
"""The workbook benchmark's yardstick: a plain Python openpyxl (read-only mode) script
doing the mapping that `helpcrunch-import validate` does for an .xlsx under the
column-name conventions, with the checks of `validate_reference.py` (imported from beside
this file).

Cells are read as the importer reads them: text as it is, whole numbers without `.0`,
booleans as true/false, date cells as ISO 8601 text (which the date checks read as UTC).

    python3 scripts/validate_workbook_reference.py contacts.xlsx OUT_DIR
"""

import datetime
import os
import sys

import openpyxl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from validate_reference import check_rows  # noqa: E402


def text(value):
    """A cell's value as the importer's text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def main():
    path, out_dir = sys.argv[1], sys.argv[2]
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    cells = book.worksheets[0].iter_rows(values_only=True)
    header = [text(name).strip() for name in next(cells)]

    def rows():
        for line, row in enumerate(cells, start=2):
            values = [text(cell) for cell in row][: len(header)]
            values += [""] * (len(header) - len(values))
            if any(values):
                yield line, values

    check_rows(path, header, rows(), out_dir)
    book.close()


if __name__ == "__main__":
    main()
