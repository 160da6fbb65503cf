"""Write an items CSV for the batch job from the Upworthy A/B archive's ledes.

    python scripts/upworthy_items.py --count 20 --out items.csv

One row per experiment (its first package): item_id is the experiment id,
description the article's lede with HTML removed. The archive is CC BY 4.0
(Matias et al., Scientific Data 8, 195, 2021); keep the output out of the repository.
"""

from __future__ import annotations

import argparse
import csv
import html
import os
import re
import sys
from pathlib import Path

DEFAULT_SOURCE = Path(
    os.environ.get(
        "PUSHGEN_AB_DATA",
        Path(__file__).resolve().parents[2]
        / "shared"
        / "data"
        / "upworthy-archive-exploratory-dev.csv",
    )
)
TAG = re.compile(r"<[^>]+>")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--min-chars", type=int, default=120, help="skip short ledes")
    parser.add_argument("--category", default="news")
    parser.add_argument("--style", default="curiosity;emotional")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not args.source.exists():
        print(
            f"error: {args.source} not found; pass --source FILE or set "
            "PUSHGEN_AB_DATA to the Upworthy CSV",
            file=sys.stderr,
        )
        return 2
    csv.field_size_limit(sys.maxsize)
    seen, items = set(), []
    with open(args.source, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            lede = " ".join(html.unescape(TAG.sub(" ", row["lede"])).split())
            experiment = row["clickability_test_id"]
            if experiment in seen or len(lede) < args.min_chars:
                continue
            seen.add(experiment)
            items.append((experiment, lede))
            if len(items) == args.count:
                break
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "description", "category", "style"])
        for experiment, lede in items:
            writer.writerow([experiment, lede, args.category, args.style])
    print(f"{len(items)} items written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
