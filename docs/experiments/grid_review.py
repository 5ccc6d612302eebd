"""Session 29: models scored on the grid faces *as the export labels them*, re-read against the by-eye reviews.

    python docs/experiments/grid_review.py v9 b25 b28 b30

Reads each tag's runs/val/TAG-gridraw/mistakes.csv, written by
`exprdet eval --weights W --split val --imgsz 320 --data D --out runs/val/TAG-gridraw --no-plots`
where D is `build_grid_faces(..., reviews=None)`'s data.yaml (the export's labels: 466 "happy",
555 "neutral"), and the reviews in detector/assets (`GRID_REVIEWS`). A face is right when the
model's class (the export's label unless mistakes.csv lists the face as wrong or missed) equals
the reviewed label; unusable faces are left out. Per face this is what `exprdet eval` gives on
the reviewed build (`python docs/experiments/validate.py TAG WEIGHTS grid`), since a face's best
prediction does not depend on the other labels.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from detector.recipes import GRID_REVIEWS, read_image_review


def main(argv: list[str] | None = None) -> int:
    tags = (sys.argv[1:] if argv is None else argv) or ["v9"]
    happy, neutral = (read_image_review(path) for path in GRID_REVIEWS)
    export = {**{name: "smile" for name in happy}, **{name: "neutral" for name in neutral}}
    review = {**happy, **neutral}
    print("| model | reviewed faces right | reviewed smiles right | reviewed neutral right | export labels |")
    print("|---|---:|---:|---:|---:|")
    for tag in tags:
        path = Path(f"runs/val/{tag}-gridraw/mistakes.csv")
        if not path.is_file():
            print(f"error: {path} not found (see this script's docstring)", file=sys.stderr)
            return 2
        said = dict(export)
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                name = Path(row["image"]).name
                if row["kind"] in ("wrong", "missed") and name in said:
                    said[name] = row["predicted"] or "missed"
        counts = {label: [0, 0] for label in ("smile", "neutral")}
        for name, label in review.items():
            if label != "unusable":
                counts[label][0] += said[name] == label
                counts[label][1] += 1
        right = sum(r for r, _ in counts.values())
        total = sum(n for _, n in counts.values())
        raw = sum(said[name] == export[name] for name in export)
        cells = [f"{r} of {n} ({100 * r / n:.1f} %)" for r, n in counts.values()]
        print(f"| {tag} | {right} of {total} ({100 * right / total:.1f} %) | {cells[0]} | {cells[1]} | "
              f"{100 * raw / len(export):.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
