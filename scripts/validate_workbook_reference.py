#!/usr/bin/env python3
"""The workbook benchmark's yardstick: a plain Python openpyxl (read-only mode) script
doing the mapping that `helpcrunch-import validate` does for an .xlsx under the
column-name conventions, with the checks of `validate_reference.py` (imported from beside
this file).

Cells are read as the importer reads them: text as it is, whole numbers without `.0`,
booleans as true/false, date cells as ISO 8601 text (which the date checks read as UTC).

    python3 scripts/validate_workbook_reference.py contacts.xlsx OUT_DIR
"""

import csv
import datetime
import json
import os
import re
import sys

import openpyxl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from validate_reference import map_row, plan  # noqa: E402


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
    os.makedirs(out_dir, exist_ok=True)
    counts = {"rows_read": 0, "valid": 0, "failed": 0, "repeated_emails": 0}
    kinds = {}
    seen_ids, seen_emails = {}, set()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [text(name).strip() for name in next(rows)]
    columns = plan(header)
    with open(os.path.join(out_dir, "failed.csv"), "w", newline="", encoding="utf-8") as out:
        failed = csv.writer(out)
        failed.writerow(["_file", "_line", "_status", "_errors"] + header)
        for line, cells in enumerate(rows, start=2):
            values = [text(cell) for cell in cells][: len(header)]
            values += [""] * (len(header) - len(values))
            if not any(values):
                continue
            counts["rows_read"] += 1
            payload, errors = map_row(columns, values)
            user_id = payload.get("userId")
            if not errors and user_id is not None:
                if user_id in seen_ids:
                    errors = [f"userId {json.dumps(user_id)} is a duplicate of {path}:{seen_ids[user_id]}"]
                else:
                    seen_ids[user_id] = line
            if not errors and "email" in payload:
                email = payload["email"].lower()
                if email in seen_emails:
                    counts["repeated_emails"] += 1
                seen_emails.add(email)
            if errors:
                counts["failed"] += 1
                for error in errors:
                    kind = re.sub(r'"[^"]*"', '"…"', error)
                    kinds[kind] = kinds.get(kind, 0) + 1
                failed.writerow([path, line, "invalid", "; ".join(errors)] + values)
            else:
                counts["valid"] += 1
    book.close()
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as summary:
        json.dump({**counts, "errors_by_kind": kinds}, summary, indent=2)
    print(f"{counts['rows_read']} rows read: {counts['valid']} valid, {counts['failed']} failed")


if __name__ == "__main__":
    main()
