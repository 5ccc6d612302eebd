"""Session 33: how long the recipe's crop classifier sits at chance, seed by seed.

Trains the shipped recipe's classifier (``CLASSIFIER_ARGS``, 96 px, 24 epochs) on a built dataset's
``classify/`` with each given seed, into ``runs/cls-seeds/seed<N>``, then prints per seed the first
epoch above 70 % validation accuracy and the final accuracy:

    python docs/experiments/classifier_seeds.py 1 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from detector.recipes import CLASSIFIER_ARGS
from detector.train import train_classifier


def first_epoch_above(results_csv: str, threshold: float = 0.7) -> tuple[int | None, float]:
    """First epoch whose top-1 accuracy exceeds ``threshold``, and the last epoch's accuracy.

    Example:
        >>> first_epoch_above("epoch,metrics/accuracy_top1\\n1,0.55\\n2,0.81\\n3,0.9\\n")
        (2, 0.9)
    """
    lines = [line.split(",") for line in results_csv.strip().splitlines()]
    col = [c.strip() for c in lines[0]].index("metrics/accuracy_top1")
    rows = [(int(float(r[0])), float(r[col])) for r in lines[1:]]
    first = next((epoch for epoch, acc in rows if acc > threshold), None)
    return first, rows[-1][1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--data", type=Path, default=Path("datasets/smile-neutral-scenes/classify"))
    parser.add_argument("--runs", type=Path, default=Path("runs/cls-seeds"))
    args = parser.parse_args(argv)
    print("| seed | first epoch above 70 % | final top-1 |\n|---:|---:|---:|")
    for seed in args.seeds:
        run = args.runs / f"seed{seed}"
        if not (run / "weights" / "best.pt").is_file():
            kw = {**CLASSIFIER_ARGS, "seed": seed}
            train_classifier(args.data, kw.pop("model"), project=args.runs, name=f"seed{seed}", **kw)
        first, final = first_epoch_above((run / "results.csv").read_text())
        print(f"| {seed} | {first} | {100 * final:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
