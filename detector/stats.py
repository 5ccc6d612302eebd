"""Dataset statistics: counts per split and class, groups, image and box sizes, and a chart."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)


@dataclass(frozen=True)
class ImageRecord:
    """One image file of a built dataset, as the statistics need it.

    Attributes:
        split: ``train``, ``val`` or ``test``.
        group: Leakage group of the source image.
        class_ids: Class id of every box.
        boxes_wh: Normalised ``(w, h)`` of every box, parallel to ``class_ids``.
        image_wh: Size of the written image in pixels.
        source_wh: Size of the source image in pixels.
        flipped: True for an augmented horizontal-flip copy.
    """

    split: str
    group: str
    class_ids: tuple[int, ...]
    boxes_wh: tuple[tuple[float, float], ...]
    image_wh: tuple[int, int]
    source_wh: tuple[int, int]
    flipped: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def quantiles(values: Iterable[float], qs: Sequence[float] = QUANTILES) -> dict[str, float]:
    """Named quantiles (``p0``, ``p10``, ``p50`` ...) rounded to 4 decimals; ``{}`` if no values.

    Example:
        >>> quantiles([1, 2, 3, 4, 5])
        {'p0': 1.0, 'p10': 1.4, 'p50': 3.0, 'p90': 4.6, 'p100': 5.0}
    """
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return {}
    return {f"p{round(q * 100)}": round(float(np.quantile(arr, q)), 4) for q in qs}


def dataset_stats(records: Iterable[ImageRecord], names: Sequence[str],
                  splits: Sequence[str] = ("train", "val", "test")) -> dict[str, Any]:
    """Counts per split and class (image files and boxes), groups per split, sizes.

    ``images`` counts files as the trainer sees them (flip copies included);
    ``source_images`` counts originals. Box sizes are fractions of the written image.

    Example:
        >>> r = ImageRecord("train", "p1", (1,), ((0.5, 0.25),), (450, 650), (256, 256))
        >>> s = dataset_stats([r], ["neutral", "smile"])
        >>> s["splits"]["train"]["per_class"]["smile"], s["splits"]["train"]["groups"]
        ({'images': 1, 'source_images': 1, 'boxes': 1}, 1)
    """
    recs = list(records)
    out: dict[str, Any] = {"names": list(names), "splits": {}}
    totals = {"images": 0, "source_images": 0, "boxes": 0, "groups": 0}
    for split in splits:
        mine = [r for r in recs if r.split == split]
        per_class = {n: {"images": 0, "source_images": 0, "boxes": 0} for n in names}
        for r in mine:
            for cid in set(r.class_ids):
                per_class[names[cid]]["images"] += 1
                per_class[names[cid]]["source_images"] += not r.flipped
            for cid in r.class_ids:
                per_class[names[cid]]["boxes"] += 1
        widths = [w for r in mine for w, _ in r.boxes_wh]
        heights = [h for r in mine for _, h in r.boxes_wh]
        row = {
            "images": len(mine),
            "source_images": sum(not r.flipped for r in mine),
            "flipped": sum(r.flipped for r in mine),
            "background": sum(not r.class_ids for r in mine),
            "boxes": sum(len(r.class_ids) for r in mine),
            "groups": len({r.group for r in mine}),
            "per_class": per_class,
            "box_width_frac": quantiles(widths),
            "box_height_frac": quantiles(heights),
            "boxes_per_image": quantiles([len(r.class_ids) for r in mine]),
        }
        out["splits"][split] = row
        for key in totals:
            totals[key] += row[key]
    out["totals"] = totals
    out["image_size"] = _sizes([r.image_wh for r in recs])
    out["source_image_size"] = _sizes([r.source_wh for r in recs if not r.flipped])
    return out


def _sizes(sizes: list[tuple[int, int]]) -> dict[str, Any]:
    uniq: dict[str, int] = {}
    for w, h in sizes:
        uniq[f"{w}x{h}"] = uniq.get(f"{w}x{h}", 0) + 1
    most = sorted(uniq.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {"width": quantiles([w for w, _ in sizes]), "height": quantiles([h for _, h in sizes]),
            "most_common": dict(most)}


def plot_stats(stats: dict[str, Any], path: str | Path) -> Path:
    """Bar charts of images and boxes per class and split, and box widths per split, as PNG.

    Uses the Agg backend so it works without a display.

    Example:
        >>> # plot_stats(dataset_stats(records, ["neutral", "smile"]), "datasets/x/stats.png")
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    names = stats["names"]
    splits = list(stats["splits"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), dpi=100, width_ratios=(2, 2, 1))
    width = 0.8 / max(len(splits), 1)
    x = np.arange(len(names))
    titles = {"images": "images per class (hatched: _flip copies)", "boxes": "boxes per class"}
    for ax, key in zip(axes[:2], ("images", "boxes"), strict=True):
        for k, split in enumerate(splits):
            per = stats["splits"][split]["per_class"]
            pos = x + (k - (len(splits) - 1) / 2) * width
            if key == "images":  # originals solid, flip copies stacked on top and hatched
                src = [per[n]["source_images"] for n in names]
                bars = ax.bar(pos, src, width, label=split, color=f"C{k}")
                flips = [per[n]["images"] - per[n]["source_images"] for n in names]
                if any(flips):
                    ax.bar(pos, flips, width, bottom=src, color=f"C{k}", alpha=0.35, hatch="//")
            else:
                bars = ax.bar(pos, [per[n][key] for n in names], width, label=split,
                              color=f"C{k}")
            ax.bar_label(bars, fontsize=7, label_type="center")
        ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0)
        ax.set_title(titles[key])
        ax.legend()
    ax = axes[2]
    for k, split in enumerate(splits):
        q = stats["splits"][split]["box_width_frac"]
        if q:  # median with a p10-p90 bar: is the face scale the same in every split?
            ax.errorbar([k], [q["p50"]], yerr=[[q["p50"] - q["p10"]], [q["p90"] - q["p50"]]],
                        fmt="o", capsize=6)
    ax.set_xticks(range(len(splits)), splits)
    ax.set_xlim(-0.5, len(splits) - 0.5)
    ax.set_title("box width / image width\n(p10, median, p90)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
