#!/usr/bin/env python3
"""Writes N generated contact rows as CSV to stdout, for benchmarks.

Columns follow the importer's column-name conventions, so `validate` needs no config.
About 5% of the rows have one problem each (an invalid email, an impossible date, an
unknown locale, a non-integer seat count, a repeated userId), so both the valid and the
failure paths are measured. Deterministic: the same N gives the same file.

    python3 scripts/gen_contacts.py 200000 > contacts.csv
"""

import csv
import random
import sys

FIRST = ["Ann", "Bob", "Lucía", "Nadia", "Thandiwe", "José", "Mei", "Olu", "Zoë", "Ivan"]
LAST = ["Lee", "Silva", "Ivanova", "Moreau", "Johansson", "Müller", "Okafor", "Tanaka"]
COMPANIES = ["Harbor & Pine", "Cobalt Networks", "Wildflower Studio", "Acme, Inc.", ""]
LOCALES = ["en", "en-US", "pt_BR", "de", "fr-FR", "uk", "English", ""]
CITIES = ["São Paulo", "Berlin", "Lyon", "Kyiv", "Lagos", "Osaka", ""]
TAGS = ["vip", "new", "churned", "trial", "newsletter"]
PLANS = ["free", "pro", "team", "enterprise"]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rng = random.Random(42)
    out = csv.writer(sys.stdout, lineterminator="\r\n")
    out.writerow(
        [
            "userId", "email", "name", "company", "phone", "firstSeen", "locale", "tags",
            "customData.plan", "customData.seats:integer", "customData.paid:boolean",
            "customData.city",
        ]
    )
    for i in range(1, rows + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        row = [
            f"cust-{i:07d}",
            f"{first.lower()}.{last.lower()}{i}@example.com".encode("ascii", "ignore").decode(),
            f"{first} {last}",
            rng.choice(COMPANIES),
            f"+1 555 {rng.randrange(10**6, 10**7)}",
            f"20{rng.randrange(10, 25)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
            rng.choice(LOCALES),
            ";".join(rng.sample(TAGS, rng.randrange(0, 3))),
            rng.choice(PLANS),
            str(rng.randrange(1, 500)),
            rng.choice(["yes", "no", "true", "FALSE", "1", "0"]),
            rng.choice(CITIES),
        ]
        problem = rng.random()
        if problem < 0.01:
            row[1] = row[1].replace("@", "@@")
        elif problem < 0.02:
            row[5] = "2021-13-45"
        elif problem < 0.03:
            row[6] = "xx"
        elif problem < 0.04:
            row[9] = "many"
        elif problem < 0.05 and i > 10:
            row[0] = f"cust-{i - 7:07d}"
        out.writerow(row)


if __name__ == "__main__":
    main()
