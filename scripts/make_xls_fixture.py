"""Writes fixtures/contacts.xls, the old binary Excel workbook (BIFF8) the tests read.

    pip install xlwt && python3 scripts/make_xls_fixture.py

Typed cells as Excel 97-2003 stores them: text (a zip with its leading zero), numbers,
booleans, a date and a date-time, a row with a bad email, and a second sheet that holds
data. (xlwt writes no formula results, so the error cells are in the xlsx and ods tests.)
"""

import datetime
import os

import xlwt

HERE = os.path.dirname(os.path.abspath(__file__))

book = xlwt.Workbook()
sheet = book.add_sheet("Contacts")
date = xlwt.easyxf(num_format_str="yyyy-mm-dd")
date_time = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm:ss")
header = ["userId", "name", "email", "customData.zip", "customData.seats:integer",
          "customData.paid:boolean", "firstSeen", "customData.renewal:date"]
for column, name in enumerate(header):
    sheet.write(0, column, name)
rows = [
    ["x1", "Xia Lin", "xia@example.com", "01234", 15, True,
     datetime.datetime(2021, 3, 4, 5, 6, 7), datetime.date(2021, 3, 4)],
    ["x2", "Yan", "yan@example.com", "00501", 3, False,
     datetime.datetime(2020, 10, 28, 11, 49, 6), datetime.date(2020, 10, 28)],
]
for row, values in enumerate(rows, start=1):
    for column, value in enumerate(values):
        if isinstance(value, datetime.datetime):
            sheet.write(row, column, value, date_time)
        elif isinstance(value, datetime.date):
            sheet.write(row, column, value, date)
        else:
            sheet.write(row, column, value)
sheet.write(3, 0, "x3")
sheet.write(3, 1, "Zed")
sheet.write(3, 2, "not an address")
notes = book.add_sheet("Notes")
notes.write(0, 0, "kept apart")
book.save(os.path.join(HERE, "..", "fixtures", "contacts.xls"))
