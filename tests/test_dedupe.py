"""Difference hashes and the cross-label near-duplicate search (detector/dedupe.py)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from detector import dedupe
from detector.dedupe import (
    DEFAULT_CONFIRM_BITS,
    NearDuplicate,
    dhash64,
    dhash256,
    hamming,
    near_duplicate_pairs,
)


def texture(seed: int, wh: tuple[int, int] = (160, 120)) -> np.ndarray:
    """A smooth random picture: distinct layouts, like different photos."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, wh, interpolation=cv2.INTER_CUBIC)


def noisy_copy(image: np.ndarray, seed: int) -> np.ndarray:
    """Small noise, a JPEG round trip and a slight resize: the same picture re-exported."""
    rng = np.random.default_rng(seed)
    noisy = (image.astype(np.int16) + rng.normal(0, 4, image.shape)).clip(0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return cv2.resize(decoded, (image.shape[1] + 6, image.shape[0] + 4))


def test_hash_sizes_and_colour_independence() -> None:
    img = texture(0)
    assert 0 <= dhash64(img) < 2**64 and 0 <= dhash256(img) < 2**256
    assert dhash64(img) == dhash64(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))


@pytest.mark.parametrize("seed", range(5))
def test_noisy_copy_is_caught(seed: int) -> None:
    a, b = texture(seed), noisy_copy(texture(seed), seed)
    assert hamming(dhash64(a), dhash64(b)) <= 4
    assert hamming(dhash256(a), dhash256(b)) <= DEFAULT_CONFIRM_BITS
    pairs = near_duplicate_pairs([dhash64(a), dhash64(b)], ["train", "test"], max_bits=4,
                                 fine=[dhash256(a), dhash256(b)])
    assert [(p.i, p.j) for p in pairs] == [(0, 1)]


def test_different_images_are_not_paired() -> None:
    images = [texture(s) for s in range(40)]
    h64 = [dhash64(i) for i in images]
    distances = [hamming(a, b) for a, b in itertools.combinations(h64, 2)]
    assert min(distances) > 6
    labels = ["train", "val"] * 20
    assert near_duplicate_pairs(h64, labels, max_bits=6) == []


def test_confirmation_rejects_a_64_bit_collision() -> None:
    # Same 64-bit hash, very different 256-bit hash: only the coarse hash agrees.
    pairs = near_duplicate_pairs([5, 5], ["a", "b"], max_bits=0, fine=[0, 2**256 - 1])
    assert pairs == []
    assert near_duplicate_pairs([5, 5], ["a", "b"], max_bits=0, fine=[0, 1]) == [
        NearDuplicate(0, 1, 0, 1)]


def test_matches_brute_force_in_small_chunks() -> None:
    rng = np.random.default_rng(3)
    base = [int(v) for v in rng.integers(0, 2**63, 30, dtype=np.int64)]
    # near copies of some hashes (flip 1-3 bits), so there is something to find
    hashes = base + [h ^ (1 << int(b)) ^ (1 << int(c)) for h, b, c in
                     zip(base[:15], rng.integers(0, 64, 15), rng.integers(0, 64, 15), strict=True)]
    labels = [str(v) for v in rng.integers(0, 3, len(hashes))]
    expected = [(i, j) for i, j in itertools.combinations(range(len(hashes)), 2)
                if labels[i] != labels[j] and hamming(hashes[i], hashes[j]) <= 3]
    got = near_duplicate_pairs(hashes, labels, max_bits=3, chunk=4)
    assert [(p.i, p.j) for p in got] == expected
    assert all(p.bits64 == hamming(hashes[p.i], hashes[p.j]) for p in got)


def test_same_label_pairs_are_ignored() -> None:
    assert near_duplicate_pairs([1, 1, 1], ["train", "train", "train"]) == []


def test_popcount_fallback_without_numpy_bitwise_count(monkeypatch: pytest.MonkeyPatch) -> None:
    words = np.array([0, 1, 2**64 - 1, 0xF0F0], dtype=np.uint64)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert dedupe._popcount(words).tolist() == [0, 1, 64, 8]


def test_length_mismatch_rejected() -> None:
    with pytest.raises(ValueError, match="same length"):
        near_duplicate_pairs([1, 2], ["a"])
