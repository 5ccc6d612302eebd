"""Sessions 25-33: validation table of several runs, and the rules written in their ``runs/<tag>/PLAN.md``.

Run from the project root after scoring each run with the validation sets of the model card's
section "Session 24" and, since session 27, the by-eye real-scene faces (folders
``runs/val/<tag>-<set>``):

    python docs/experiments/compare_runs.py v9 b25 b21 b22 b23 b24 b26 b28 b29 b30
    python docs/experiments/compare_runs.py --plot docs/experiments/margins_b37.png v9 b35 b36 b37

Prints the share of faces right per set and run, the per-class share on the photos shrunk to 64 px
and on the by-eye real scenes, and, when v9, b25, b21 and b22 are all scored, rule 1 (the mean of the
small-colour-crop arm's two seeds against the mean of the shipped recipe's two runs, with session
22's margins) and rule 2; when b28-b31 or b33-b37 is scored, the rule written for it (sessions 27-35).
The row
"photos, review-unusable faces" is the dataset-label validation photos that the by-eye review left out.
``--plot PATH`` also draws each run's margin to b34's thresholds (the rule of sessions 32-35) as a dot chart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from detector.fileio import atomic_file

SETS = ["photos", "small", "comps", "real", "shrunk64", "fer", "sceneval", "personval", "grid", "photosrev"]
# (set, quantity, margin): session 22's criteria (runs/b21/PLAN.md), applied to two-run means.
RULE_1 = [("photos", "right", -0.3), ("small", "right", 6.0), ("comps", "right", -1.5), ("real", "right", -2.0),
          ("shrunk64", "neutral", -2.0), ("shrunk64", "smile", -2.0)]
RULE_2 = {"photos": 93.0, "comps": 70.5, "real": 46.7, "small": 74.8, "fer": 47.4}
# Session 27 (runs/b28/PLAN.md): (set, quantity, threshold) with thresholds relative to the mean of the
# recipe's runs v9 and b25 ("+" entries) or absolute.
RULE_B28 = [("sceneval", "right", "+", 3.0), ("photos", "right", "+", -0.7), ("small", "right", "=", 73.5),
            ("comps", "right", "=", 70.35), ("shrunk64", "neutral", "=", 90.05), ("shrunk64", "smile", "=", 92.3),
            ("fer", "right", "=", 47.35)]
# Session 27/28 (runs/b29/PLAN.md): b28's thresholds on the other sets, and at least the recipe's mean on
# the person-disjoint real-scene val split (whose people v9 and b25 trained on; b29 did not).
RULE_B29 = [("personval", "right", "+", 0.0)] + [r for r in RULE_B28 if r[0] != "sceneval"]
# Session 28 (runs/b30/PLAN.md): b28's recipe judged two runs (b28, b30 = seed 1) against two (v9, b25).
RULE_B30 = RULE_B28[:1] + [("personval", "right", "+", -1.0)] + RULE_B28[1:]
# Session 29 (runs/b31/PLAN.md): b30's rule on b31 alone (by-eye scenes + small colour crops); if it passes,
# the same rule on the mean of b31 and b32 (seed 1) decides. Its thresholds as the plan wrote them down (the
# relative ones computed from v9 and b25's session-29 scores), all absolute: b25's weights were not kept, so
# a fresh checkout cannot rescore it.
RULE_B31 = [("sceneval", "right", "=", 78.24), ("personval", "right", "=", 86.22), ("photos", "right", "=", 92.29),
            ("small", "right", "=", 73.5), ("comps", "right", "=", 70.35), ("shrunk64", "neutral", "=", 90.05),
            ("shrunk64", "smile", "=", 92.3), ("fer", "right", "=", 47.35)]
# Session 31 (runs/b33/PLAN.md): v9's recipe on the reviewed training photos, one run, judged first on the two
# sets with by-eye labels (at least v9's 97.5 on the reviewed photos, at most 0.5 below its 95.5 on the grid),
# then b31's thresholds for not losing the other sets, except the real scenes, where b33 keeps v9's
# classifier-labelled training scenes: at most 2 points below v9's 74.8 (by eye) and 1 below its 86.7 (by person).
RULE_B33 = [("photosrev", "right", "=", 97.5), ("grid", "right", "=", 95.0), ("photos", "right", "=", 92.29),
            ("sceneval", "right", "=", 72.8), ("personval", "right", "=", 85.7), ("small", "right", "=", 73.5),
            ("comps", "right", "=", 70.35), ("shrunk64", "neutral", "=", 90.05), ("shrunk64", "smile", "=", 92.3),
            ("fer", "right", "=", 47.35)]

# Session 32's b34 (training close-ups drawn first from the photos the review calls unusable; every photo keeps
# the dataset's label): its point is the dataset-label validation photos, so it must beat v9's 93.3 by half a point
# (v9 was a good draw: its recipe's other runs scored 92.6 and 92.1), lose at most half a point of v9's 97.5 on
# the reviewed photos, and keep b33's thresholds elsewhere.
RULE_B34 = [("photos", "right", "=", 93.8), ("photosrev", "right", "=", 97.0), ("grid", "right", "=", 95.0),
            ("sceneval", "right", "=", 72.8), ("personval", "right", "=", 85.7), ("small", "right", "=", 73.5),
            ("comps", "right", "=", 70.35), ("shrunk64", "neutral", "=", 90.05), ("shrunk64", "smile", "=", 92.3),
            ("fer", "right", "=", 47.35)]
# Session 33's b35 (the classifier backbone trained at 160 px on 187 px crops, 14 epochs, instead of 96 px on 112,
# 24 epochs; the detector caps fitted to 2 hours by --budget-hours): b34's thresholds unchanged. One seed; if it
# passes, a second seed must pass too (mean of the two) before shipping.
RULE_B35 = RULE_B34
# Session 34, b36 (v9's recipe with both detector stages under bfloat16 autocast, `--precision bf16`: 1.46x the
# batches per second, so ~1.4x the epochs in the same caps; caps fitted to 2 hours by --budget-hours): b34's
# thresholds unchanged. One seed; if it passes, a second seed must pass too (mean of the two) before shipping.
RULE_B36 = RULE_B34
# Session 35, b37: b36's recipe with seed 1 (`exprdet ship --precision bf16 --budget-hours 2 --seed 1`). Shipping rule:
# the mean of b36 and b37 against b34's thresholds. Also read (not a shipping rule): whether b37 alone stays above v9
# on the grid faces, small colour crops and FER2013 train faces, as b36 did.
RULE_B37 = RULE_B34


def _load(tag: str, name: str) -> dict[str, float] | None:
    path = Path(f"runs/val/{tag}-{name}/report.json")
    if not path.exists():
        return None
    report = json.loads(path.read_text())
    # The confusion matrix's rows are true classes, normalised per row: the diagonal is each
    # class's share of faces right. Index by the report's own labels, not by position.
    confusion = report["confusion"]
    share = {name: 100 * confusion["normalized"][i][i] for i, name in enumerate(confusion["labels"])}
    return {"right": 100 * report["face"]["shares"]["right"], "neutral": share["neutral"], "smile": share["smile"],
            "faces": report["face"]["faces"], "right_n": report["face"]["right"]}


def unreviewed_share(photos: dict[str, float], reviewed: dict[str, float]) -> float:
    """Share of the validation photos' faces right among those the by-eye review left out (unusable).

    The reviewed set is the photos minus those faces, with the review's labels; it relabels 2 of the
    1,304 it keeps (session 30), so the difference is exact to about two faces.

    Example:
        >>> round(unreviewed_share({"faces": 1968, "right_n": 1837}, {"faces": 1304, "right_n": 1272}), 1)
        85.1
    """
    return 100 * (photos["right_n"] - reviewed["right_n"]) / (photos["faces"] - reviewed["faces"])


def rule_margins(scores: dict[str, dict[str, float] | None], rule: list[tuple[str, str, str, float]]
                 ) -> list[float | None]:
    """Points above (+) or below (-) each absolute threshold of ``rule``; ``None`` where the set is not scored.

    Example:
        >>> rule_margins({"photos": {"right": 92.9}, "fer": None}, [("photos", "right", "=", 93.8),
        ...                                                         ("fer", "right", "=", 47.35)])
        [-0.9, None]
    """
    return [None if scores.get(s) is None else round(scores[s][k] - value, 2) for s, k, _, value in rule]


def plot_margins(val: dict[str, dict[str, dict[str, float] | None]], rule: list[tuple[str, str, str, float]],
                 out: Path) -> Path:
    """Dot chart of each run's margin to each threshold of ``rule`` (right of the line: passes), to ``out``.

    Example:
        >>> # plot_margins({t: {s: _load(t, s) for s in SETS} for t in ["v9", "b36"]}, RULE_B34,
        >>> #              Path("docs/experiments/margins.png"))
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limit = 10.0
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rule) + 1.4))
    markers = "oDs^v<>Ph*X"
    for i, (tag, scores) in enumerate(val.items()):
        margins = rule_margins(scores, rule)
        # Runs sit on small vertical offsets so that equal margins stay visible.
        points = [(row + (i - (len(val) - 1) / 2) * 0.12, m) for row, m in enumerate(margins) if m is not None]
        # Margins past +-limit sit on the edge with their value written, so the thresholds stay readable.
        xs = [max(-limit, min(limit, m)) for _, m in points]
        ax.scatter(xs, [y for y, _ in points], marker=markers[i % len(markers)], s=36, label=tag, zorder=3)
        for x, (y, m) in zip(xs, points, strict=True):
            if x != m:
                ax.annotate(f"{m:+.1f}", (x, y), xytext=(-4 if x > 0 else 4, 0), textcoords="offset points",
                            ha="right" if x > 0 else "left", va="center", fontsize=7)
    ax.axvline(0, color="crimson", lw=1.2)
    ax.set_xlim(-limit - 0.5, limit + 0.5)
    ax.set_yticks(range(len(rule)), [f"{s if k == 'right' else f'{s} {k}'} (>= {value:g})" for s, k, _, value in rule])
    ax.invert_yaxis()
    ax.set_xlabel("points above the threshold (left of the red line: fails)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=len(val), frameon=False)
    fig.tight_layout()
    # The temporary file keeps the suffix: savefig picks the format from it.
    with atomic_file(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    plot = None
    if "--plot" in args:
        at = args.index("--plot")
        if at + 1 >= len(args):
            print("error: --plot needs a .png path", file=sys.stderr)
            return 2
        plot = Path(args[at + 1])
        del args[at:at + 2]
    tags = args or ["v9", "b25", "b21", "b22", "b23", "b24"]
    val = {t: {s: _load(t, s) for s in SETS} for t in tags}
    if plot is not None:
        print(f"margins to b34's thresholds: {plot_margins(val, RULE_B34, plot)}")
    print("| set | " + " | ".join(tags) + " |\n|---|" + "---|" * len(tags))
    rows = [(s, "right") for s in SETS] + [(s, k) for s in ("shrunk64", "sceneval", "personval", "grid", "photosrev")
                                            for k in ("neutral", "smile")]
    for s, k in rows:
        cells = [f"{val[t][s][k]:.1f}" if val[t][s] else "-" for t in tags]
        print(f"| {s} {k} % | " + " | ".join(cells) + " |")
    # Where a run gains or loses on the dataset-label photos: the faces the review could call, or the rest.
    cells = [f"{unreviewed_share(val[t]['photos'], val[t]['photosrev']):.1f}"
             if val[t]["photos"] and val[t]["photosrev"] else "-" for t in tags]
    print("| photos, review-unusable faces right % | " + " | ".join(cells) + " |")
    def mean(runs: list[str], s: str, k: str) -> float:
        return sum(val[t][s][k] for t in runs) / len(runs)

    # Each rule judges the mean of its candidate runs (one run, or two seeds) against v9 and b25's mean.
    for name, arm_runs, rule in [("session 27 rule", ["b28"], RULE_B28), ("session 28 rule", ["b29"], RULE_B29),
                                 ("session 28 rule for b30", ["b28", "b30"], RULE_B30),
                                 ("session 29 rule for b31", ["b31"], RULE_B31),
                                 ("session 29 rule for b31 and b32", ["b31", "b32"], RULE_B31),
                                 ("session 31 rule for b33", ["b33"], RULE_B33),
                                 ("session 32 rule for b34", ["b34"], RULE_B34),
                                 ("session 33 rule for b35", ["b35"], RULE_B35),
                                 ("session 34 rule for b36", ["b36"], RULE_B36),
                                 ("session 35 rule for b36 and b37", ["b36", "b37"], RULE_B37)]:
        # v9 and b25 are needed only where a threshold is relative to their mean ("+" entries).
        relative = any(kind == "+" for _, _, kind, _ in rule)
        needed = ["v9", "b25", *arm_runs] if relative else arm_runs
        if not all(t in val and all(val[t][s] for s, *_ in rule) for t in needed):
            continue
        passed_all = True
        print(f"\n{name} (mean of {', '.join(arm_runs)} against "
              f"{'the mean of v9 and b25' if relative else 'its written thresholds'}):")
        for s, k, kind, value in rule:
            need = mean(["v9", "b25"], s, k) + value if kind == "+" else value
            arm = mean(arm_runs, s, k)
            passed = arm >= need
            passed_all &= passed
            print(f"  {s} {k}: {arm:.2f} vs {need:.2f} -> {'pass' if passed else 'FAIL'}")
        if passed_all and len(arm_runs) > 1:
            best = max(arm_runs, key=lambda t: val[t]["photos"]["right"])
            print(f"{name}: PASS, ship {best} (higher validation photos)")
        else:
            print(f"{name}:", "PASS" if passed_all else "fails")
    if not all(t in val and all(val[t][s] for s, _, _ in RULE_1) for t in ["v9", "b25", "b21", "b22"]):
        return 0

    passed_all = True
    print("\nrule 1 (small-crop arm b21+b22 against the recipe's v9+b25, means):")
    for s, k, margin in RULE_1:
        arm, base = mean(["b21", "b22"], s, k), mean(["v9", "b25"], s, k)
        passed = arm >= base + margin
        passed_all &= passed
        print(f"  {s} {k}: {arm:.2f} vs {base:.2f} {margin:+} -> {'pass' if passed else 'FAIL'}")
    print("rule 1:", "PASS" if passed_all else "fails")
    rule_2 = {s: bool(val["b25"][s]) and val["b25"][s]["right"] >= need for s, need in RULE_2.items()}
    print("rule 2 (b25 ties v9):", rule_2, "PASS" if all(rule_2.values()) else "fails")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
