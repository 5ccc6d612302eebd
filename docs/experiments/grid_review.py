"""Session 29: the grid faces labelled "happy", scored against a by-eye review of them.

    python docs/experiments/grid_review.py v9 b25 b28 b30

Reads docs/review/grid_happy_review.csv (smile / neutral / unusable for each of the 466 grid
faces the Roboflow export labels "happy") and each tag's runs/val/TAG-grid/mistakes.csv
(written by `python docs/experiments/validate.py TAG WEIGHTS grid`). A face the review calls
smile is right unless the model's mistakes list it as wrong or missed; one it calls neutral is
right only if the model called it neutral. Unusable faces are left out.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

REVIEW = Path("docs/review/grid_happy_review.csv")


def main(argv: list[str] | None = None) -> int:
    tags = (sys.argv[1:] if argv is None else argv) or ["v9"]
    with REVIEW.open(newline="") as f:
        review = {row["image"]: row["label"] for row in csv.DictReader(line for line in f if not line.startswith("#"))}
    print("| model | reviewed smiles right | reviewed neutral right | labelled 'happy' right (as scored) |")
    print("|---|---:|---:|---:|")
    for tag in tags:
        path = Path(f"runs/val/{tag}-grid/mistakes.csv")
        if not path.is_file():
            print(f"error: {path} not found; run docs/experiments/validate.py {tag} WEIGHTS grid", file=sys.stderr)
            return 2
        with path.open(newline="") as f:
            said: dict[str, str] = {}
            for row in csv.DictReader(f):
                name = Path(row["image"]).name
                if row["kind"] in ("wrong", "missed") and name in review:
                    said[name] = row["predicted"] or "missed"
        counts = {label: [0, 0] for label in ("smile", "neutral")}
        for name, label in review.items():
            if label == "unusable":
                continue
            predicted = said.get(name, "smile")          # not a mistake: the model said smile, the set's label
            counts[label][0] += predicted == label
            counts[label][1] += 1
        labelled_right = sum(name not in said for name in review)
        cells = [f"{r} of {n} ({100 * r / n:.1f} %)" for r, n in counts.values()]
        print(f"| {tag} | {cells[0]} | {cells[1]} | {labelled_right} of {len(review)} "
              f"({100 * labelled_right / len(review):.1f} %) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
