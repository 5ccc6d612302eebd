"""Scene composition: pasted faces land exactly on their labels, and scene faces never stay unlabelled."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.scenes import (
    FaceSample,
    compose_scene,
    face_alpha,
    lower_resolution,
    paste_face,
    random_free_box,
    tint_gray,
)


def _face(size: int = 100) -> np.ndarray:
    img = np.full((size, size, 3), 40, np.uint8)
    cv2.rectangle(img, (20, 20), (80, 80), (250, 250, 250), -1)
    return img


@pytest.mark.parametrize(("target", "expected"), [
    ((50, 50, 110, 110), [50, 50, 110, 110]),
    ((0, 0, 30, 30), [0, 0, 30, 30]),
    ((170, 170, 230, 230), None),  # more than half outside the 200x200 canvas
])
def test_paste_face_returns_the_placed_box(target: tuple, expected: list | None) -> None:
    canvas = np.zeros((200, 200, 3), np.uint8)
    placed = paste_face(canvas, _face(), np.array([20, 20, 80, 80.0]), np.array(target, float))
    assert (placed is None) == (expected is None)
    if expected is not None:
        assert placed.tolist() == expected


def test_paste_face_puts_the_face_pixels_inside_the_box() -> None:
    canvas = np.zeros((200, 200, 3), np.uint8)
    paste_face(canvas, _face(), np.array([20, 20, 80, 80.0]), np.array([50, 50, 110, 110.0]))
    assert canvas[80, 80].min() > 240          # centre of the face: opaque
    assert canvas[5, 5].max() == 0             # far away: untouched
    assert canvas[195, 195].max() == 0


def test_face_alpha_is_one_inside_and_zero_at_corners() -> None:
    a = face_alpha((120, 100), (30, 20, 90, 80))
    assert a[50, 60] == 1.0 and a[0, 0] == 0.0 and a.shape == (100, 120)


def test_tint_gray_colours_gray_and_keeps_colour() -> None:
    rng = np.random.default_rng(0)
    gray = np.full((8, 8, 3), 120, np.uint8)
    tinted = tint_gray(gray, rng)
    assert tinted[..., 2].mean() > tinted[..., 0].mean()   # red above blue: a skin tone
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 2] = 200
    assert tint_gray(colour, rng) is colour


def test_random_free_box_avoids_taken_boxes() -> None:
    rng = np.random.default_rng(1)
    taken = np.array([[0, 0, 320, 480.0]])
    for _ in range(20):
        box = random_free_box((640, 480), taken, (0.1, 0.2), 1.0, rng)
        assert box is None or box[0] > 320


def test_compose_scene_covers_every_scene_face_and_labels_it(tmp_path: Path) -> None:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), _face())
    samples = [FaceSample(path, (20.0, 20.0, 80.0, 80.0), i % 2, f"p{i}") for i in range(6)]
    background = np.full((300, 400, 3), 90, np.uint8)
    scene_faces = np.array([[50, 50, 110, 120.0], [250, 60, 330, 150.0]])
    before = background.copy()
    img, xyxy, cls = compose_scene(background, scene_faces, samples, lambda p: cv2.imread(str(p)),
                                   np.random.default_rng(0), extra=(0, 0), gray_prob=0.0)
    assert np.array_equal(background, before)          # the caller's image is not modified
    assert len(xyxy) == 2 and cls.tolist() == [0, 1]
    for face, placed in zip(scene_faces, xyxy, strict=True):
        # the pasted face box covers the scene face it replaces
        assert placed[0] <= face[0] + 1 and placed[1] <= face[1] + 1
        assert placed[2] >= face[2] - 1 and placed[3] >= face[3] - 1


@pytest.mark.parametrize(("hw", "short_side"), [((256, 256), 32), ((120, 200), 20), ((300, 90), 45)])
def test_lower_resolution_keeps_shape_and_loses_detail(hw: tuple[int, int], short_side: int) -> None:
    stripes = np.zeros((*hw, 3), np.uint8)
    stripes[::2] = 255   # one-pixel lines: detail no small picture can hold
    low = lower_resolution(stripes, short_side)
    assert low.shape == stripes.shape
    assert low.std() < 0.1 * stripes.std()
    assert abs(float(low.mean()) - float(stripes.mean())) < 10


def test_lower_resolution_leaves_small_pictures_alone() -> None:
    img = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    low = lower_resolution(img, 40)
    assert low is not img
    assert np.array_equal(low, img)


def test_lower_resolution_rejects_a_side_below_one_pixel() -> None:
    with pytest.raises(ValueError, match="at least 1 pixel"):
        lower_resolution(np.zeros((8, 8, 3), np.uint8), 0)
