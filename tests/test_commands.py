"""Shared argument types of the sub-commands: bad thresholds are usage errors, not tracebacks."""

from __future__ import annotations

import argparse

import pytest

from detector.cli import main
from detector.commands import fraction, non_negative_float, non_negative_int, positive_float, positive_int


@pytest.mark.parametrize(("text", "expected"), [("0", 0.0), ("1", 1.0), ("0.25", 0.25), (".5", 0.5)])
def test_fraction_accepts_the_unit_interval(text: str, expected: float) -> None:
    assert fraction(text) == expected


@pytest.mark.parametrize("text", ["-0.1", "1.01", "2", "half", "", "nan"])
def test_fraction_refuses_the_rest(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="between 0 and 1"):
        fraction(text)


@pytest.mark.parametrize(("argv", "option"), [
    (["detect", "--source", "x.mp4", "--conf", "2"], "--conf"),
    (["detect", "--source", "x.mp4", "--iou", "-1"], "--iou"),
    (["eval", "--data", "d.yaml", "--face-conf", "1.5"], "--face-conf"),
    (["demo", "--conf", "7"], "--conf"),
])
def test_out_of_range_threshold_is_a_usage_error(argv: list[str], option: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "between 0 and 1" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("parse", "good", "bad"), [
    (positive_int, [("1", 1), ("640", 640)], ["0", "-2", "1.5", "x"]),
    (non_negative_int, [("0", 0), ("5", 5)], ["-1", "2.0", ""]),
    (positive_float, [("0.5", 0.5), ("15", 15.0)], ["0", "-1", "nan", "fast"]),
    (non_negative_float, [("0", 0.0), ("2.5", 2.5)], ["-0.1", "nan", "?"]),
])
def test_number_types(parse: object, good: list[tuple[str, float]], bad: list[str]) -> None:
    for text, value in good:
        assert parse(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            parse(text)


@pytest.mark.parametrize(("argv", "option"), [
    (["demo", "--seconds", "0"], "--seconds"),
    (["demo", "--fps", "-5"], "--fps"),
    (["detect", "--source", "x.mp4", "--threads", "0"], "--threads"),
    (["detect", "--source", "x.mp4", "--smooth", "-1"], "--smooth"),
    (["eval", "--data", "d.yaml", "--batch", "0"], "--batch"),
    (["bench", "--source", "x.mp4", "--imgsz", "320", "0"], "--imgsz"),
    (["bench-train", "--data", "d.yaml", "--batches", "0"], "--batches"),
    (["frames", "v.mp4", "--every", "0"], "--every"),
    (["ablate", "--data", "d.yaml", "--sizes", "5", "--epochs", "0"], "--epochs"),
])
def test_out_of_range_numbers_are_usage_errors(argv: list[str], option: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "expected" in err
