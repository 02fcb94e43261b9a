#!/usr/bin/env python3
"""Writes N generated HelpCrunch customers as NDJSON to stdout, one create body a line, for
`sandbox --seed-contacts FILE` (an account that already holds contacts).

Each has a userId, an email, a name, two customData properties as the documented array
(`[{"property": "plan", "value": "pro"}, ...]`) and one tag. Deterministic: the same N gives
the same file. The userIds and emails are those of `scripts/gen_contacts.py` rows with the same
number (`cust-0000042`), so the two can be combined.

    python3 scripts/gen_seed_contacts.py 200000 > seed.ndjson
"""

import json
import random
import sys

FIRST = ["Ann", "Bob", "Lucía", "Nadia", "Thandiwe", "José", "Mei", "Olu", "Zoë", "Ivan"]
LAST = ["Lee", "Silva", "Ivanova", "Moreau", "Johansson", "Müller", "Okafor", "Tanaka"]
TAGS = ["vip", "new", "churned", "trial", "newsletter"]
PLANS = ["free", "pro", "team", "enterprise"]


def main() -> None:
    contacts = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rng = random.Random(42)
    out = sys.stdout
    for i in range(1, contacts + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        customer = {
            "userId": f"cust-{i:07d}",
            "email": f"{first.lower()}.{last.lower()}{i}@example.com".encode("ascii", "ignore").decode(),
            "name": f"{first} {last}",
            "customData": [
                {"property": "plan", "value": rng.choice(PLANS)},
                {"property": "seats", "value": rng.randrange(1, 500)},
            ],
            "tags": [{"name": rng.choice(TAGS)}],
        }
        out.write(json.dumps(customer, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")


if __name__ == "__main__":
    main()
