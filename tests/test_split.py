"""Invariants of the stratified grouped split (detector/split.py)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest

from detector.split import SplitItem, parse_ratios, split_groups, split_summary


def realistic_table(seed: int = 0, n_people: int = 1500) -> list[SplitItem]:
    """Like the shared smile/neutral photos: most people have one photo, a few have hundreds."""
    rng = random.Random(seed)
    items = []
    for p in range(n_people):
        # Pareto-like group sizes: 1 (most), 2-10 (some), one or two with 100+.
        size = min(int(rng.paretovariate(1.6)), 150) if p else 200
        smile_rate = rng.choice([0.1, 0.45, 0.9])   # people differ in how often they smile
        for k in range(size):
            cls = "smile" if rng.random() < smile_rate else "neutral"
            items.append(SplitItem(f"person{p}_{k:04d}.jpg", f"person{p}", (cls,)))
    return items


def fractions(assignment: dict[str, str], items: list[SplitItem], cls: str | None = None
              ) -> dict[str, float]:
    chosen = [i for i in items if cls is None or cls in i.classes]
    counts = Counter(assignment[i.key] for i in chosen)
    return {s: counts[s] / len(chosen) for s in ("train", "val", "test")}


def test_ratios_within_two_points_overall_and_per_class() -> None:
    items = realistic_table()
    assert len(items) > 3000 and max(Counter(i.group for i in items).values()) == 200
    out = split_groups(items, (0.6, 0.2, 0.2), seed=0)
    for cls in (None, "smile", "neutral"):
        got = fractions(out, items, cls)
        for split, target in zip(("train", "val", "test"), (0.6, 0.2, 0.2), strict=True):
            assert abs(got[split] - target) <= 0.02, (cls, split, got)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_group_in_two_splits(seed: int) -> None:
    items = realistic_table(seed, n_people=400)
    out = split_groups(items, (0.7, 0.15, 0.15), seed=seed)
    splits_of_group: dict[str, set[str]] = defaultdict(set)
    for item in items:
        splits_of_group[item.group].add(out[item.key])
    assert all(len(s) == 1 for s in splits_of_group.values())
    assert set(out) == {i.key for i in items}


def test_every_class_in_every_split_when_possible() -> None:
    # A rare class with exactly three groups (of different sizes) beside a common one.
    items = [SplitItem(f"c{g}_{k}", f"c{g}", ("neutral",)) for g in range(30) for k in range(3)]
    items += [SplitItem(f"r{g}_{k}", f"r{g}", ("disgust",)) for g in range(3) for k in range(g + 1)]
    for seed in range(10):
        summary = split_summary(split_groups(items, (0.6, 0.2, 0.2), seed), items)
        for split in ("train", "val", "test"):
            assert summary[split].get("disgust", 0) > 0, (seed, summary)
            assert summary[split].get("neutral", 0) > 0


def test_multi_class_groups_and_background_are_spread() -> None:
    rng = random.Random(5)
    items = []
    for g in range(300):
        for k in range(rng.randint(1, 4)):
            classes = tuple(sorted(rng.sample(["angry", "happy", "sad"], rng.randint(0, 2))))
            items.append(SplitItem(f"g{g}_{k}", f"g{g}", classes))
    out = split_groups(items, (0.6, 0.2, 0.2), seed=1)
    background = [i for i in items if not i.classes]
    assert len(background) > 50
    got = fractions(out, background)
    assert got["val"] > 0.1 and got["test"] > 0.1


def test_deterministic_and_independent_of_input_order() -> None:
    items = realistic_table(3, n_people=300)
    first = split_groups(items, (0.6, 0.2, 0.2), seed=7)
    assert split_groups(items, (0.6, 0.2, 0.2), seed=7) == first
    shuffled = list(items)
    random.Random(1).shuffle(shuffled)
    assert split_groups(shuffled, (0.6, 0.2, 0.2), seed=7) == first
    assert split_groups(items, (0.6, 0.2, 0.2), seed=8) != first


def test_input_not_mutated() -> None:
    items = realistic_table(4, n_people=100)
    before = list(items)
    ratios = [0.6, 0.2, 0.2]
    split_groups(items, ratios, seed=0)
    assert items == before and ratios == [0.6, 0.2, 0.2]
    # a generator works too (consumed once)
    assert len(split_groups((i for i in before), ratios)) == len(before)


def test_zero_ratio_split_gets_nothing() -> None:
    items = realistic_table(5, n_people=100)
    out = split_groups(items, (0.8, 0.2, 0.0), seed=0)
    assert set(out.values()) == {"train", "val"}


def test_duplicate_keys_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate item key"):
        split_groups([SplitItem("a", "g1"), SplitItem("a", "g2")])


@pytest.mark.parametrize(("text", "expected"), [
    ("0.6,0.2,0.2", (0.6, 0.2, 0.2)),
    ("3,1,1", (0.6, 0.2, 0.2)),
    ("1,0,0", (1.0, 0.0, 0.0)),
    ([0.7, 0.15, 0.15], (0.7, 0.15, 0.15)),
])
def test_parse_ratios(text: str | list, expected: tuple) -> None:
    assert parse_ratios(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["0.6,0.4", "a,b,c", "-1,1,1", "0,0,0", "0.6,0.2,nan"])
def test_parse_ratios_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ratios(text)
