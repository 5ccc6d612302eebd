"""Face finders: YuNet's answer on a small photo must not depend on the images before it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.faces import YuNetFaceFinder, upscale_small


@pytest.mark.parametrize(("hw", "min_side", "out_hw", "scale"), [
    ((40, 30), 120, (160, 120), 4.0),       # the shorter side (width) reaches min_side
    ((30, 40), 120, (120, 160), 4.0),
    ((100, 100), 128, (128, 128), 1.28),
    ((200, 300), 120, (200, 300), 1.0),     # already large enough: the same array back
    ((50, 50), 0, (50, 50), 1.0),           # 0 turns it off
])
def test_upscale_small(hw: tuple[int, int], min_side: int, out_hw: tuple[int, int], scale: float) -> None:
    image = np.zeros((*hw, 3), np.uint8)
    out, factor = upscale_small(image, min_side)
    assert out.shape[:2] == out_hw
    assert factor == pytest.approx(scale)
    if factor == 1.0:
        assert out is image


# Photos of 18-75 px wide that OpenCV's YuNet, at their own size, boxed or not depending on the
# image it had been given before (session 21).
TINY = ["HrithikRoshan_101.jpg", "HrithikRoshan_131.jpg", "HrithikRoshan_140.jpg", "Dileep_12.jpg",
        "Dileep_67.jpg", "Jayamadhuri_113.jpg", "Jayamadhuri_130.jpg"]


def _boxes(finder: YuNetFaceFinder, images: list[np.ndarray]) -> list[np.ndarray]:
    return [finder.find(im)[0] for im in images]


@pytest.mark.parametrize("min_side", [128, 64])
def test_yunet_boxes_on_tiny_photos_do_not_depend_on_what_came_before(shared: Path, min_side: int) -> None:
    model = shared / "models" / "face_detection_yunet.onnx"
    root = shared / "data" / "smile-neutral-faces" / "images"
    tiny = [cv2.imread(str(root / name)) for name in TINY]
    assert all(im is not None and min(im.shape[:2]) < 80 for im in tiny)
    large = cv2.imread(str(root / sorted(p.name for p in root.glob("*.jpg"))[0]))

    alone = [YuNetFaceFinder(model, min_side=min_side).find(im)[0] for im in tiny]
    one_finder = _boxes(YuNetFaceFinder(model, min_side=min_side), tiny)
    interleaved_finder = YuNetFaceFinder(model, min_side=min_side)
    interleaved = []
    for im in tiny:
        interleaved_finder.find(large)
        interleaved.append(interleaved_finder.find(im)[0])
    for a, b, c in zip(alone, one_finder, interleaved, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    # and it finds more of them: a fresh finder at their own size boxes 2 of these 7
    assert sum(len(a) > 0 for a in alone) >= 5
    for a, im in zip(alone, tiny, strict=True):
        if len(a):
            h, w = im.shape[:2]
            assert (a[:, [0, 2]] <= w).all() and (a[:, [1, 3]] <= h).all()
