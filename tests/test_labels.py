"""Unit tables for detector/labels.py: row parsing, flips, letterbox and resize maths."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.build import resize_image
from detector.errors import DatasetError
from detector.labels import (
    LabelRow,
    LabelRowError,
    flip_xywhn,
    format_yolo_line,
    letterbox_params,
    parse_yolo_line,
    read_label_file,
    resize_xywhn,
    xywhn_to_xyxy,
    xyxy_to_xywhn,
)


@pytest.mark.parametrize(("line", "expected"), [
    ("0 0.5 0.5 0.2 0.4", LabelRow(0, (0.5, 0.5, 0.2, 0.4))),
    ("1 0.5 0.5 1 1", LabelRow(1, (0.5, 0.5, 1.0, 1.0))),            # whole-frame box
    ("  6\t0.25 0.75  0.5 0.5 \n", LabelRow(6, (0.25, 0.75, 0.5, 0.5))),  # odd whitespace
    ("2.0 0.1 0.1 0.2 0.2", LabelRow(2, (0.1, 0.1, 0.2, 0.2))),      # integer-valued float id
    ("0 0.0000005 0.5 0.000001 0.1", LabelRow(0, (0.0, 0.5, 0.000001, 0.1))),  # edge, tolerance
    ("", None),
    ("   \n", None),
])
def test_parse_good_rows(line: str, expected: LabelRow | None) -> None:
    assert parse_yolo_line(line, num_classes=7) == expected


@pytest.mark.parametrize(("line", "xywhn"), [
    ("0 0.1 0.1 0.3 0.1 0.3 0.5", (0.2, 0.3, 0.2, 0.4)),                    # triangle
    ("3 0.2 0.2 0.6 0.2 0.6 0.8 0.2 0.8", (0.4, 0.5, 0.4, 0.6)),            # rectangle
    ("1 0.5 0.0 1.0 0.5 0.5 1.0 0.0 0.5", (0.5, 0.5, 1.0, 1.0)),            # diamond, full frame
])
def test_parse_polygon_rows_become_their_bounding_box(line: str, xywhn: tuple) -> None:
    row = parse_yolo_line(line, num_classes=7)
    assert row is not None and row.polygon
    assert row.xywhn == pytest.approx(xywhn)


@pytest.mark.parametrize(("line", "message"), [
    ("0 0.5 0.5 0.2 0.2 0.1", "expected 5 numbers"),                  # 6 numbers
    ("0 0.5 0.5 0.2", "expected 5 numbers"),                          # 4 numbers
    ("9 0.5 0.5 0.2 0.2", "out of range"),                            # class 9 of 7
    ("7 0.5 0.5 0.2 0.2", "out of range"),                            # ids are 0..6
    ("-1 0.5 0.5 0.2 0.2", "non-negative integer"),
    ("1.5 0.5 0.5 0.2 0.2", "non-negative integer"),
    ("0 1.3 0.5 0.2 0.2", "outside [0, 1]"),                          # coordinate 1.3
    ("0 0.5 0.5 0 0.2", "must be positive"),                          # zero width
    ("0 0.5 0.5 0.2 0", "must be positive"),                          # zero height
    ("0 0.95 0.5 0.2 0.2", "extends outside"),
    ("0 0.5 nan 0.2 0.2", "non-finite"),
    ("smile 0.5 0.5 0.2 0.2", "not a number"),
    ("0 0.1 0.1 0.1 0.5 0.1 0.9", "degenerate polygon"),              # zero width polygon
    ("0 0.1 0.1 1.3 0.1 0.3 0.5", "polygon coordinate outside"),
])
def test_parse_bad_rows_say_why(line: str, message: str) -> None:
    with pytest.raises(LabelRowError, match=re.escape(message)):
        parse_yolo_line(line, num_classes=7)


def test_format_parse_round_trip() -> None:
    line = format_yolo_line(1, (0.623456789, 0.5, 0.25, 0.125))
    assert line == "1 0.623457 0.500000 0.250000 0.125000"
    assert parse_yolo_line(line) == LabelRow(1, (0.623457, 0.5, 0.25, 0.125))


def test_read_label_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("0 0.5 0.5 0.2 0.2\n\n1 1.3 0.5 0.2 0.2\n")
    with pytest.raises(DatasetError, match=r"a\.txt: line 3: coordinate outside") as err:
        read_label_file(path, num_classes=2)
    assert err.value.path == path
    path.write_text("")
    assert read_label_file(path) == []  # empty file = background image


@pytest.mark.parametrize(("boxes", "flipped"), [
    ([[0.2, 0.5, 0.1, 0.1]], [[0.8, 0.5, 0.1, 0.1]]),
    ([[0.5, 0.3, 1.0, 0.2]], [[0.5, 0.3, 1.0, 0.2]]),                 # centred: unchanged
    ([[0.05, 0.5, 0.1, 1.0], [0.9, 0.1, 0.2, 0.2]], [[0.95, 0.5, 0.1, 1.0], [0.1, 0.1, 0.2, 0.2]]),
    (np.zeros((0, 4)), np.zeros((0, 4))),
])
def test_flip_xywhn(boxes: list, flipped: list) -> None:
    original = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    before = original.copy()
    out = flip_xywhn(original)
    assert out == pytest.approx(np.array(flipped).reshape(-1, 4))
    assert flip_xywhn(out) == pytest.approx(original)      # flipping twice is the identity
    assert np.array_equal(original, before)                 # input untouched


def test_flip_matches_pixels() -> None:
    img = np.zeros((40, 100, 3), np.uint8)
    img[10:20, 5:25] = 255                                 # xyxy 5,10,25,20
    box = xyxy_to_xywhn(np.array([[5, 10, 25, 20]]), (100, 40))
    ys, xs = np.nonzero(cv2.flip(img, 1)[..., 0])
    got = xyxy_to_xywhn(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]), (100, 40))
    assert got == pytest.approx(flip_xywhn(box))


@pytest.mark.parametrize(("src", "dst", "expected"), [
    ((640, 640), (450, 650), (0.703125, 0, 100)),
    ((256, 256), (450, 650), (450 / 256, 0, 100)),
    ((1920, 1080), (450, 650), (450 / 1920, 0, 198)),     # 1080*0.234375 = 253.1 -> 253
    ((300, 600), (450, 650), (650 / 600, 62, 0)),         # tall source: pad left and right
    ((450, 650), (450, 650), (1.0, 0, 0)),
])
def test_letterbox_params(src: tuple, dst: tuple, expected: tuple) -> None:
    scale, px, py = letterbox_params(src, dst)
    assert (scale, px, py) == pytest.approx(expected)


@pytest.mark.parametrize(("mode", "src", "box", "expected"), [
    ("letterbox", (640, 640), [0.5, 0.5, 1.0, 1.0], [0.5, 0.5, 1.0, 450 / 650]),
    ("letterbox", (256, 256), [0.25, 0.25, 0.5, 0.5], [0.25, (112.5 + 100) / 650, 0.5, 225 / 650]),
    ("letterbox", (300, 600), [0.5, 0.75, 1.0, 0.5], [224.5 / 450, 0.75, 325 / 450, 0.5]),
    ("stretch", (640, 480), [0.3, 0.4, 0.2, 0.1], [0.3, 0.4, 0.2, 0.1]),
])
def test_resize_xywhn_values(mode: str, src: tuple, box: list, expected: list) -> None:
    out = resize_xywhn(np.array([box]), src, (450, 650), mode)
    assert out[0] == pytest.approx(expected, abs=1e-9)


def test_resize_xywhn_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown resize mode"):
        resize_xywhn(np.array([[0.5, 0.5, 0.1, 0.1]]), (10, 10), (20, 20), "crop")


@pytest.mark.parametrize("mode", ["letterbox", "stretch"])
@pytest.mark.parametrize(("src_wh", "box_xyxy"), [
    ((256, 256), (60, 40, 180, 220)),        # upscaled square photo
    ((640, 360), (100, 50, 300, 300)),       # wide frame, downscaled
    ((300, 600), (20, 400, 280, 590)),       # tall image near the bottom edge
    ((1000, 1400), (0, 0, 1000, 1400)),      # whole-frame box, downscaled
])
def test_box_drawn_on_image_lands_on_resized_box(mode: str, src_wh: tuple, box_xyxy: tuple) -> None:
    """Pixel-exact: a white rectangle, resized with the build's resizer, is where the maths says."""
    w, h = src_wh
    img = np.full((h, w, 3), 30, np.uint8)
    x1, y1, x2, y2 = box_xyxy
    img[y1:y2, x1:x2] = 255                  # pixels x1..x2-1: the box edge is at x2
    dst = (450, 650)
    out = resize_image(img, dst, mode)
    assert out.shape == (650, 450, 3)
    ys, xs = np.nonzero(out[..., 0] >= 143)  # half-way between 30 and 255 (pad 114 is below)
    found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    xywhn = xyxy_to_xywhn(np.array([box_xyxy]), src_wh)
    expected = xywhn_to_xyxy(resize_xywhn(xywhn, src_wh, dst, mode), dst)[0]
    assert found == pytest.approx(expected, abs=1.0)
    if mode == "letterbox":                  # padding is Ultralytics grey exactly
        scale, px, py = letterbox_params(src_wh, dst)
        if py:
            assert (out[0] == 114).all() and (out[-1] == 114).all()
        if px:
            assert (out[:, 0] == 114).all() and (out[:, -1] == 114).all()
