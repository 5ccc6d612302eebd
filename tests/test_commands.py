"""Shared argument types of the sub-commands: bad thresholds are usage errors, not tracebacks."""

from __future__ import annotations

import argparse

import pytest

from detector.cli import main
from detector.commands import fraction


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
