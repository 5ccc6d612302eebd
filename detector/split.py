"""Stratified, grouped train/val/test split as a pure function.

Leakage comes from groups, not images: every frame of one video, every photo of one
person, every augmented copy of one picture must land in the same split. Within that
constraint the split is stratified by class so each class gets close to its target share
in every split.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SPLITS = ("train", "val", "test")
BACKGROUND = ""  # stratum of images without boxes, so background images are spread too


@dataclass(frozen=True)
class SplitItem:
    """One image to split.

    Attributes:
        key: Unique id of the image (e.g. ``"pool/images/a.jpg"``).
        group: Leakage group (video, person, original picture); items sharing it stay together.
        classes: Class names present in the image; empty for a background image.
    """

    key: str
    group: str
    classes: tuple[str, ...] = ()


def parse_ratios(text: str | Sequence[float], n: int = len(SPLITS)) -> tuple[float, ...]:
    """Parse ``"0.6,0.2,0.2"`` (or a sequence) into ``n`` non-negative ratios summing to 1.

    Ratios are normalised, so ``"3,1,1"`` works too. Raises ``ValueError`` otherwise.

    Example:
        >>> parse_ratios("0.6,0.2,0.2")
        (0.6, 0.2, 0.2)
        >>> parse_ratios("8,1,1")
        (0.8, 0.1, 0.1)
    """
    if isinstance(text, str):
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            msg = f"split ratios must be numbers like 0.6,0.2,0.2, got {text!r}"
            raise ValueError(msg) from None
    else:
        values = [float(v) for v in text]
    if len(values) != n:
        raise ValueError(f"expected {n} split ratios (train,val,test), got {len(values)}")
    if any(v < 0 or v != v for v in values) or sum(values) <= 0:
        raise ValueError(f"split ratios must be non-negative with a positive sum, got {values}")
    total = sum(values)
    return tuple(round(v / total, 12) for v in values)


def split_groups(items: Iterable[SplitItem], ratios: Sequence[float] = (0.6, 0.2, 0.2),
                 seed: int = 0, splits: Sequence[str] = SPLITS) -> dict[str, str]:
    """Assign every item to a split, keeping groups whole and classes stratified.

    Groups are visited largest first (ties in a seeded random order) and each goes to the
    split furthest below its target for the group's classes, measured as the *relative*
    shortfall ``(target - current) / target`` summed over the group's images per class.
    The relative measure makes the first three groups of a class go to train, val and
    test, so every class reaches every split whenever it has at least three groups.
    Splits with ratio 0 receive nothing. Deterministic for a given ``seed`` and independent
    of the input order; the input is not modified.

    Args:
        items: Images with a unique ``key``, a ``group`` and their ``classes``.
        ratios: Target fractions per split (normalised if they do not sum to 1).
        seed: Seed of the tie-breaking shuffle.
        splits: Split names, parallel to ``ratios``.

    Returns:
        ``{key: split_name}`` for every item.

    Raises:
        ValueError: Duplicate keys, or ratios that do not match ``splits``.

    Example:
        >>> items = [SplitItem(f"p{i}_{j}.jpg", f"p{i}", ("smile" if i % 2 else "neutral",))
        ...          for i in range(10) for j in range(2)]
        >>> out = split_groups(items, (0.6, 0.2, 0.2), seed=0)
        >>> sorted(Counter(out.values()).items())
        [('test', 4), ('train', 12), ('val', 4)]
        >>> len({out[f"p3_0.jpg"], out[f"p3_1.jpg"]})
        1
    """
    ratio_list = parse_ratios(list(ratios), len(splits))
    by_group: dict[str, list[SplitItem]] = defaultdict(list)
    seen: set[str] = set()
    for item in items:
        if item.key in seen:
            raise ValueError(f"duplicate item key {item.key!r}")
        seen.add(item.key)
        by_group[item.group].append(item)

    # Images per class per group; background images count in their own stratum.
    group_counts: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for group, members in by_group.items():
        counts: Counter[str] = Counter()
        for item in members:
            for cls in set(item.classes) or {BACKGROUND}:
                counts[cls] += 1
        group_counts[group] = counts
        totals.update(counts)

    active = [i for i, r in enumerate(ratio_list) if r > 0]
    targets = {(s, c): ratio_list[s] * totals[c] for s in active for c in totals}
    current: Counter[tuple[int, str]] = Counter()

    # Sorted first so the result does not depend on input order, then shuffled so equal-size
    # groups are visited in a seeded random order, then a stable sort puts big groups first
    # (big groups placed early are what makes greedy filling land near the targets).
    order = sorted(by_group)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -len(by_group[g]))

    assignment: dict[str, str] = {}
    for group in order:
        counts = group_counts[group]
        best, best_score = active[0], float("-inf")
        for s in active:  # ties go to the earlier split (train before val before test)
            score = sum(n * (targets[s, c] - current[s, c]) / targets[s, c]
                        for c, n in counts.items())
            if score > best_score + 1e-12:
                best, best_score = s, score
        for c, n in counts.items():
            current[best, c] += n
        for item in by_group[group]:
            assignment[item.key] = splits[best]
    return assignment


def split_summary(assignment: dict[str, str],
                  items: Iterable[SplitItem]) -> dict[str, dict[str, int]]:
    """Count images per split and class (``"images"``, ``"groups"`` and one entry per class).

    Example:
        >>> items = [SplitItem("a", "g1", ("smile",)), SplitItem("b", "g2", ())]
        >>> split_summary({"a": "train", "b": "val"}, items)["train"]
        {'images': 1, 'groups': 1, 'smile': 1}
    """
    out: dict[str, dict[str, int]] = {}
    groups: dict[str, set[str]] = defaultdict(set)
    for item in items:
        split = assignment[item.key]
        row = out.setdefault(split, {"images": 0, "groups": 0})
        row["images"] += 1
        groups[split].add(item.group)
        for cls in sorted(set(item.classes)):
            row[cls] = row.get(cls, 0) + 1
    for split, row in out.items():
        row["groups"] = len(groups[split])
    return out
