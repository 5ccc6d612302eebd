"""Shared argument types of the sub-commands: bad thresholds are usage errors, not tracebacks."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from detector.cli import main
from detector.commands import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    stride_size,
)
from detector.paths import DEFAULT_WEIGHTS


@pytest.mark.parametrize(("text", "expected"), [("0", 0.0), ("1", 1.0), ("0.25", 0.25), (".5", 0.5)])
def test_fraction_accepts_the_unit_interval(text: str, expected: float) -> None:
    assert fraction(text) == expected


@pytest.mark.parametrize("text", ["-0.1", "1.01", "2", "half", "", "nan"])
def test_fraction_refuses_the_rest(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="between 0 and 1"):
        fraction(text)


@pytest.mark.parametrize(("parse", "good", "bad"), [
    (positive_int, [("1", 1), ("640", 640)], ["0", "-2", "1.5", "x"]),
    (stride_size, [("32", 32), ("160", 160)], ["0", "16", "100", "-32", "96.0", "x"]),
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


THRESHOLD = "between 0 and 1"
COUNT_OR_AMOUNT = "expected"


@pytest.mark.parametrize(("argv", "option", "message"), [
    (["detect", "--source", "x.mp4", "--conf", "2"], "--conf", THRESHOLD),
    (["detect", "--source", "x.mp4", "--iou", "-1"], "--iou", THRESHOLD),
    (["eval", "--data", "d.yaml", "--face-conf", "1.5"], "--face-conf", THRESHOLD),
    (["demo", "--conf", "7"], "--conf", THRESHOLD),
    (["demo", "--seconds", "0"], "--seconds", COUNT_OR_AMOUNT),
    (["demo", "--fps", "-5"], "--fps", COUNT_OR_AMOUNT),
    (["detect", "--source", "x.mp4", "--threads", "0"], "--threads", COUNT_OR_AMOUNT),
    (["detect", "--source", "x.mp4", "--smooth", "-1"], "--smooth", COUNT_OR_AMOUNT),
    (["eval", "--data", "d.yaml", "--batch", "0"], "--batch", COUNT_OR_AMOUNT),
    (["bench", "--source", "x.mp4", "--imgsz", "320", "0"], "--imgsz", COUNT_OR_AMOUNT),
    (["bench-train", "--data", "d.yaml", "--batches", "0"], "--batches", COUNT_OR_AMOUNT),
    (["frames", "v.mp4", "--every", "0"], "--every", COUNT_OR_AMOUNT),
    (["ablate", "--data", "d.yaml", "--sizes", "5", "--epochs", "0"], "--epochs", COUNT_OR_AMOUNT),
])
def test_out_of_range_numbers_are_usage_errors(argv: list[str], option: str, message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and message in err
    assert "Traceback" not in err


def test_ship_passes_the_recipe_options_to_the_library(monkeypatch: pytest.MonkeyPatch, tmp_path: object,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import detector.recipes as recipes

    seen: dict = {}

    def fake(shared: object, out: object, **kw: object) -> dict:
        seen.update(kw)
        return {"seconds": {"total": 60.0}, "weights": str(out), "reports": {}}

    monkeypatch.setattr(recipes, "train_shipped_model", fake)
    assert main(["ship", "--shared", str(tmp_path), "--width", "0.1875", "--budget-hours", "2",
                 "--reviewed-scenes", "--seed", "1", "--extra-train", "a/images", "b/images", "--no-eval",
                 "--reviewed-photos"]) == 0
    assert (seen["width"], seen["budget_hours"], seen["reviewed_scenes"], seen["seed"]) == (0.1875, 2.0, True, 1)
    assert seen["reviewed_photos"] == "drop"                  # the bare option keeps session 31's meaning
    assert seen["extra_train"] == (Path("a/images"), Path("b/images")) and seen["evaluate"] is False
    assert seen["person_disjoint_scenes"] is False
    assert "training took 1 min" in capsys.readouterr().out
    assert main(["ship", "--shared", str(tmp_path)]) == 0
    assert seen["extra_train"] == () and seen["evaluate"] is True and seen["reviewed_photos"] is None
    assert main(["ship", "--shared", str(tmp_path), "--reviewed-photos", "closeups-first", "--no-eval"]) == 0
    assert seen["reviewed_photos"] == "closeups-first"
    assert seen["classifier_imgsz"] is None and seen["classifier_epochs"] is None
    assert main(["ship", "--shared", str(tmp_path), "--classifier-imgsz", "160", "--classifier-epochs", "14"]) == 0
    assert (seen["classifier_imgsz"], seen["classifier_epochs"]) == (160, 14)
    assert seen["precision"] is None
    assert main(["ship", "--shared", str(tmp_path), "--precision", "bf16", "--no-eval"]) == 0
    assert seen["precision"] == "bf16"


@pytest.mark.parametrize(("argv", "message"), [
    (["--classifier-imgsz", "100"], "expected a multiple of 32, got '100'"),
    (["--classifier-imgsz", "0"], "expected a multiple of 32, got '0'"),
    (["--classifier-imgsz", "big"], "expected a whole number, got 'big'"),
    (["--classifier-epochs", "0"], "expected at least 1, got '0'"),
])
def test_ship_refuses_bad_classifier_options(argv: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ship", *argv, "--data-only"])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expected"), [
    ([], DEFAULT_WEIGHTS),  # the shipped recipe reproduces the shipped file
    (["--eval-only"], DEFAULT_WEIGHTS),
    (["--eval-only", "--reviewed-photos"], DEFAULT_WEIGHTS),
    (["--no-eval"], Path("runs/x/out/smile-neutral-yolo11n.pt")),  # candidates never overwrite weights/
    (["--seed", "1"], Path("runs/x/out/smile-neutral-yolo11n.pt")),
    (["--reviewed-photos"], Path("runs/x/out/smile-neutral-yolo11n.pt")),
    (["--reviewed-photos", "closeups-first"], Path("runs/x/out/smile-neutral-yolo11n.pt")),
    (["--extra-train", "a/images"], Path("runs/x/out/smile-neutral-yolo11n.pt")),
    (["--classifier-imgsz", "160"], Path("runs/x/out/smile-neutral-yolo11n.pt")),
    (["--seed", "1", "--out", "w/best.pt"], Path("w/best.pt")),
])
def test_ship_default_out_keeps_candidates_out_of_weights(argv: list[str], expected: Path) -> None:
    from detector.commands import ship

    parser = argparse.ArgumentParser()
    ship.add_arguments(parser)
    assert ship.default_out(parser.parse_args(["--runs", "runs/x", *argv])) == expected


def test_ship_options_are_each_recipe_or_run_options() -> None:
    from detector.commands import ship

    parser = argparse.ArgumentParser()
    ship.add_arguments(parser)
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    # A new option must be classified: a recipe option makes a candidate that never overwrites weights/.
    assert dests == set(ship.RECIPE_OPTIONS) | set(ship.RUN_OPTIONS)
    assert not set(ship.RECIPE_OPTIONS) & set(ship.RUN_OPTIONS)
    for dest in ship.RECIPE_OPTIONS:                           # and none defaults to a value that counts as changed
        assert parser.get_default(dest) in (None, False, ()), dest
    from detector.recipes import PRECISIONS, REVIEW_USES

    # ship.py spells the choices out so that parsing does not import the recipe (cv2, yaml, ...).
    assert next(a for a in parser._actions if a.dest == "reviewed_photos").choices == REVIEW_USES
    assert next(a for a in parser._actions if a.dest == "precision").choices == PRECISIONS


@pytest.mark.parametrize("argv", [["--width", "2"], ["--budget-hours", "0"],
                                  ["--reviewed-scenes", "--person-disjoint-scenes"]])
def test_ship_refuses_bad_recipe_options(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["ship", *argv])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
