"""Training: offline model/data checks, overrides, resume, and tiny end-to-end trainings."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detector.cli import main
from detector.errors import DatasetError, DetectorError, ModelError
from detector.train import (
    CLASSIFIER_AUGMENT,
    build_detector,
    check_classify_folder,
    check_model_source,
    count_matching_layers,
    cpu_bf16_autocast,
    cpu_supports_bf16,
    keep_time_budget,
    label_path_for,
    load_data_yaml,
    load_yolo,
    offline_ultralytics,
    parse_overrides,
    read_box_convention,
    seconds_at_epoch,
    tag_box_convention,
    train,
    train_classifier,
    unfreeze_callback,
)

# Audit events that mean "about to use the network". A hook cannot be removed, so it records
# only while a test has switched it on.
_NET_EVENTS = ("socket.getaddrinfo", "socket.connect", "socket.gethostbyname")
_net_log: list[tuple[str, str]] = []
_net_on = [False]


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _net_on[0] and event in _NET_EVENTS:
        _net_log.append((event, repr(args[:2])))


sys.addaudithook(_audit)


@pytest.fixture
def no_network() -> Iterator[list[tuple[str, str]]]:
    """Record every DNS lookup / connect during the test; the test asserts the list is empty."""
    _net_log.clear()
    _net_on[0] = True
    try:
        yield _net_log
    finally:
        _net_on[0] = False


# --------------------------------------------------------------------------- models


def test_bare_weight_name_is_a_model_error_without_network(no_network: list) -> None:
    with pytest.raises(ModelError, match="nothing is downloaded") as info:
        check_model_source("yolo11n.pt")
    assert "yolo11n.yaml" in str(info.value)  # says what to do instead
    with pytest.raises(ModelError):
        load_yolo("yolov8n.pt")
    assert no_network == []


@pytest.mark.parametrize("bad", ["yolo11n", "https://example.com/yolo11n.pt", "nosuch-model.yaml",
                                 "weights.onnx"])
def test_other_bad_model_names(bad: str) -> None:
    with pytest.raises(ModelError):
        check_model_source(bad)


@pytest.mark.parametrize("cfg", ["yolo11n.yaml", "yolov8n.yaml", "yolov5n.yaml"])
def test_builtin_configs_build_offline(cfg: str, no_network: list) -> None:
    yolo = load_yolo(cfg)
    assert yolo.task == "detect"
    assert no_network == []


def test_build_detector_is_seeded_with_a_backbone(tmp_path: Path) -> None:
    import torch

    cls_pt = tmp_path / "cls.pt"
    load_yolo("yolo11n-cls.yaml", task="classify").save(cls_pt)
    cls_state = torch.load(cls_pt, weights_only=False)["model"].state_dict()
    before = torch.random.get_rng_state()
    a, b, c = (build_detector("yolo11n.yaml", cls_pt, seed=s).model.state_dict() for s in (0, 0, 1))
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's random stream is untouched
    assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same start, head included
    head = [k for k in a if k.startswith("model.23.") and a[k].is_floating_point() and a[k].numel() > 1]
    assert head and any(not torch.equal(a[k], c[k]) for k in head)
    # The backbone came from the classifier, whatever the seed.
    shared = [k for k in cls_state if k in a and cls_state[k].shape == a[k].shape and k.startswith("model.0.")]
    assert shared and all(torch.equal(a[k].float(), cls_state[k].float()) for k in shared)
    assert all(torch.equal(a[k], c[k]) for k in shared)


def test_local_pt_and_backbone_layers(tmp_path: Path) -> None:
    cls = load_yolo("yolo11n-cls.yaml", task="classify")
    cls_pt = tmp_path / "cls.pt"
    cls.save(cls_pt)
    assert check_model_source(cls_pt) == str(cls_pt.resolve())
    with pytest.raises(ModelError, match="classify model.*--backbone"):
        load_yolo(cls_pt)  # a classifier is not a detector to fine-tune
    matching, total = count_matching_layers(load_yolo("yolo11n.yaml"), cls_pt)
    assert 0 < matching < total  # the shared backbone, not the classification head
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot be loaded"):
        load_yolo(broken)


def test_box_convention_tag_round_trip(tmp_path: Path, untrained_weights: Path) -> None:
    pt = tmp_path / "det.pt"
    pt.write_bytes(untrained_weights.read_bytes())
    assert read_box_convention(load_yolo(pt)) is None          # untagged: nothing assumed
    assert tag_box_convention(pt, "human") == pt
    assert read_box_convention(load_yolo(pt)) == "human"
    tag_box_convention(pt, "yunet")                             # re-tagging replaces
    assert read_box_convention(load_yolo(pt)) == "yunet"
    assert [p.name for p in tmp_path.iterdir()] == ["det.pt"]   # no temp file left beside it
    with pytest.raises(ValueError, match="convention"):
        tag_box_convention(pt, "haar")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="broken.pt"):
        tag_box_convention(broken, "human")


# --------------------------------------------------------------------------- data.yaml


def test_missing_data_yaml_is_a_dataset_error_before_ultralytics(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data.yaml"
    with pytest.raises(DatasetError, match="data.yaml not found") as info:
        train(missing, epochs=1, project=tmp_path / "runs")
    assert info.value.path == missing
    assert not (tmp_path / "runs").exists()  # nothing started


def test_data_yaml_problems_name_the_file(tmp_path: Path, make_yolo_dataset) -> None:
    data = make_yolo_dataset(counts=(2, 2, 0))
    text = data.read_text()
    cases = {
        "wrong path": (text.replace("val: val/images", "val: nope/images"), "'val:' path"),
        "no names": ("train: train/images\nval: val/images\n", "names"),
        "no val": (text.replace("val: val/images\n", ""), "no 'val:' split"),
        "nc mismatch": (text + "nc: 3\n", "does not match"),
        "not a mapping": ("- a\n- b\n", "YAML mapping"),
        "bad yaml": ("names: [a, b\n", "not valid YAML"),
    }
    for label, (content, message) in cases.items():
        bad = tmp_path / f"{label.replace(' ', '_')}.yaml"
        bad.write_text(content)
        with pytest.raises(DatasetError, match=message) as info:
            load_data_yaml(bad)
        assert info.value.path == bad, label
    empty = data.parent / "val" / "images"
    for f in empty.iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="has no images"):
        load_data_yaml(data)
    with pytest.raises(DatasetError, match="expected a data.yaml"):
        load_data_yaml(data.parent)


def test_roboflow_style_paths_resolve(tmp_path: Path, make_yolo_dataset) -> None:
    # Roboflow exports write "../train/images" relative to a folder one level up.
    data = make_yolo_dataset(counts=(2, 1, 1))
    root = data.parent
    (root / "data.yaml").write_text("train: ../train/images\nval: ../val/images\n"
                                    "test: ../test/images\nnc: 2\nnames: ['neutral', 'smile']\n")
    spec = load_data_yaml(root / "data.yaml", require=("train", "val", "test"))
    assert spec.splits["val"] == [(root / "val" / "images").resolve()]
    assert len(spec.images("train")) == 2 and spec.names == {0: "neutral", 1: "smile"}
    with pytest.raises(DatasetError, match="no 'extra' split"):
        spec.images("extra")


def test_list_file_split_and_label_paths(tmp_path: Path, make_yolo_dataset) -> None:
    data = make_yolo_dataset(counts=(3, 1, 0))
    root = data.parent
    (root / "few.txt").write_text("./train/images/train_000.png\n./train/images/train_002.png\n")
    data.write_text(data.read_text().replace("train: train/images", "train: few.txt"))
    spec = load_data_yaml(data)
    assert [p.name for p in spec.images("train")] == ["train_000.png", "train_002.png"]
    assert label_path_for(spec.images("train")[0]) == root / "train" / "labels" / "train_000.txt"


# --------------------------------------------------------------------------- overrides


def test_parse_overrides() -> None:
    assert parse_overrides(["mosaic=0.5", "fliplr=0.5", "hsv_h=0.0", "erasing=0",
                            "optimizer=SGD", "cos_lr=true"]) == {
        "mosaic": 0.5, "fliplr": 0.5, "hsv_h": 0.0, "erasing": 0, "optimizer": "SGD",
        "cos_lr": True}
    with pytest.raises(DetectorError, match="did you mean mosaic"):
        parse_overrides(["mosiac=0.5"])
    with pytest.raises(DetectorError, match="own argument"):
        parse_overrides(["epochs=3"])
    with pytest.raises(DetectorError, match="key=value"):
        parse_overrides(["mosaic"])
    with pytest.raises(ModelError, match="nothing is downloaded"):
        parse_overrides(["pretrained=yolo11n.pt"])
    assert parse_overrides(["pretrained=false"]) == {"pretrained": False}
    # As with the `yolo` command, none/None/null and an empty value all mean None, not the string.
    for value in ("None", "none", "null", ""):
        assert parse_overrides([f"auto_augment={value}"]) == {"auto_augment": None}
    assert parse_overrides(["optimizer=Nonesuch"]) == {"optimizer": "Nonesuch"}
    with pytest.raises(DetectorError, match="mosaic"):
        parse_overrides(["mosaic=lots"])
    with pytest.raises(DetectorError, match="fliplr"):
        parse_overrides(["fliplr=1.5"])


def test_resume_without_checkpoint(tmp_path: Path, make_yolo_dataset) -> None:
    with pytest.raises(ModelError, match="no checkpoint to resume"):
        train(make_yolo_dataset(counts=(2, 2, 0)), resume=True, name="x", project=tmp_path)


def test_classify_folder_checks(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="must be a folder"):
        check_classify_folder(tmp_path / "fer2013")  # a bare name would be downloaded
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DatasetError, match="val/"):
        check_classify_folder(tmp_path)  # Ultralytics would split the folder in place
    (tmp_path / "test").mkdir()
    assert check_classify_folder(tmp_path) == tmp_path.resolve()


def test_offline_guard_restores_state() -> None:
    import ultralytics.data.utils as data_utils
    import ultralytics.utils.checks as checks

    before = (data_utils.check_font, checks.ONLINE)
    with offline_ultralytics():
        font = data_utils.check_font("Arial.ttf")
        assert Path(font).is_file() and checks.ONLINE is False
    assert (data_utils.check_font, checks.ONLINE) == before


def test_cpu_bf16_autocast_patches_only_the_trainer_and_only_cpu_bf16() -> None:
    import torch
    import ultralytics.engine.trainer as trainer_module
    import ultralytics.utils.torch_utils as torch_utils

    before = trainer_module.autocast
    with pytest.raises(RuntimeError, match="bfloat16"):      # why the patch exists: Ultralytics refuses CPU bf16
        before(torch.bfloat16, device="cpu")
    with cpu_bf16_autocast():
        with trainer_module.autocast(torch.bfloat16, device="cpu"):
            product = torch.ones(3, 3) @ torch.ones(3, 3)
        assert product.dtype == torch.bfloat16
        with trainer_module.autocast(False, device="cpu"):   # float32 training goes through unchanged
            assert (torch.ones(3, 3) @ torch.ones(3, 3)).dtype == torch.float32
        assert torch_utils.autocast is before                # nothing else in Ultralytics sees the patch
    assert trainer_module.autocast is before


# --------------------------------------------------------------------------- CLI


def test_cli_errors_are_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "data.yaml"
    assert main(["train", "--data", str(missing)]) == 2
    assert f"error: {missing}: data.yaml not found" in capsys.readouterr().err
    assert main(["train", "--data", str(missing), "--model", "yolo11n.pt"]) == 2
    assert "nothing is downloaded" in capsys.readouterr().err
    assert main(["eval", "--weights", "yolo11n.pt", "--data", str(missing)]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(("after", "epochs", "first_unfrozen_epoch"), [
    (0.5, 10, 5), (0.5, 9, 5), (0.0, 10, 0), (1.0, 10, None), (0.75, 4, 3)])
def test_unfreeze_callback_timing(after: float, epochs: int, first_unfrozen_epoch: int | None,
                                  fake_trainer) -> None:
    trainer = fake_trainer(freeze=9, epochs=epochs)
    cb = unfreeze_callback(after, keep_frozen=3)
    seen = None
    for epoch in range(epochs):
        trainer.epoch = epoch
        cb(trainer)
        if seen is None and "5" in trainer.trainable_layers():
            seen = epoch
    assert seen == first_unfrozen_epoch


def test_unfreeze_callback_keeps_the_stem_and_dfl_frozen(fake_trainer) -> None:
    trainer = fake_trainer(freeze=9, epochs=10)
    assert not {str(i) for i in range(9)} & trainer.trainable_layers()
    cb = unfreeze_callback(0.5, keep_frozen=3)
    trainer.epoch = 5
    cb(trainer)
    layers = trainer.trainable_layers()
    assert {"3", "4", "5", "6", "7", "8", "23"} <= layers and not {"0", "1", "2"} & layers
    assert trainer.freeze_layer_names == ["model.0.", "model.1.", "model.2.", ".dfl"]
    assert not any(v.requires_grad for k, v in trainer.model.named_parameters() if ".dfl" in k)
    cb(trainer)  # a second call (every later epoch) changes nothing
    assert trainer.trainable_layers() == layers


@pytest.mark.parametrize(("after", "keep", "message"), [(1.5, 0, "fraction"), (-0.1, 0, "fraction"),
                                                         (0.5, -1, "keep_frozen")])
def test_unfreeze_callback_bad_arguments(after: float, keep: int, message: str) -> None:
    with pytest.raises(DetectorError, match=message):
        unfreeze_callback(after, keep_frozen=keep)


def test_cli_unfreeze_needs_a_frozen_backbone(tmp_path: Path, make_yolo_dataset,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    data = make_yolo_dataset(counts=(2, 2, 0))
    assert main(["train", "--data", str(data), "--unfreeze-after", "0.5", "--project", str(tmp_path)]) == 2
    assert "freeze=N" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--data", str(data), "--unfreeze-after", "2", "freeze=9"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--keep-frozen", "3", "freeze=9"], "only applies with --unfreeze-after"),
    (["--unfreeze-after", "0.5", "--keep-frozen", "9", "freeze=9"], "leaves nothing to unfreeze"),
    (["--unfreeze-after", "0.5", "--keep-frozen", "12", "freeze=9"], "leaves nothing to unfreeze"),
])
def test_cli_keep_frozen_refuses_what_would_do_nothing(argv: list[str], message: str, tmp_path: Path,
                                                      make_yolo_dataset,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data = make_yolo_dataset(counts=(2, 2, 0))
    runs = tmp_path / "runs"
    assert main(["train", "--data", str(data), "--project", str(runs), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not runs.exists()  # refused before a run folder was made


# --------------------------------------------------------------------------- slow: training


@pytest.mark.slow
def test_bf16_training_runs_under_autocast_and_saves_a_float_model(tmp_path: Path, make_yolo_dataset) -> None:
    import torch
    from ultralytics import YOLO

    if not cpu_supports_bf16():
        pytest.skip("this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
    dtypes: set[torch.dtype] = set()

    def hook_first_conv(trainer: Any) -> None:
        # Training batches run under autocast (bf16 out); the final validation runs in float32.
        trainer.model.model[0].register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))

    result = train(make_yolo_dataset(), "yolo11n.yaml", epochs=1, batch=8, imgsz=64, threads=1,
                   project=tmp_path, name="bf16", overrides={"amp": "bf16", "plots": False},
                   callbacks={"on_train_start": hook_first_conv})
    assert torch.bfloat16 in dtypes
    model = YOLO(str(result.best))
    assert next(model.model.parameters()).dtype in (torch.float16, torch.float32)
    assert len(model.predict(np.zeros((64, 64, 3), np.uint8), imgsz=64, verbose=False)) == 1


@pytest.mark.slow
def test_tiny_training_end_to_end(tmp_path: Path, make_yolo_dataset, no_network: list,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = make_yolo_dataset(counts=(16, 6, 6))
    code = main(["train", "--data", str(data), "--model", "yolo11n.yaml", "--epochs", "1",
                 "--batch", "8", "--imgsz", "64", "--threads", "1", "--name", "tiny",
                 "--project", str(tmp_path / "runs"), "plots=false", "mosaic=0.5"])
    assert code == 0
    out = capsys.readouterr().out
    best = tmp_path / "runs" / "tiny" / "weights" / "best.pt"
    assert f"best: {best}" in out
    assert best.is_file() and (best.parent / "last.pt").is_file()
    assert no_network == []  # no font, update check or telemetry request

    from ultralytics import YOLO

    assert YOLO(str(best)).names == {0: "neutral", 1: "smile"}

    code = main(["eval", "--weights", str(best), "--data", str(data), "--split", "test",
                 "--imgsz", "64", "--out", str(tmp_path / "eval")])
    assert code == 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["images"] == 6 and report["split"] == "test"
    assert report["weights"] == str(best)
    assert 0.0 <= report["metrics"]["map50"] <= 1.0
    assert (tmp_path / "eval" / "confusion_matrix.png").is_file()
    assert no_network == []

    # A finished run: --resume reports it instead of training again.
    code = main(["train", "--data", str(data), "--resume", "--name", "tiny",
                 "--project", str(tmp_path / "runs")])
    assert code == 0 and "already finished" in capsys.readouterr().out


@pytest.mark.slow
def test_warm_restart_stage_starts_from_the_first_stage(tmp_path: Path, make_yolo_dataset) -> None:
    # The shipped recipe's second stage (detector.recipes.FINETUNE_ARGS) on a tiny dataset.
    import torch

    from detector.recipes import FINETUNE_ARGS
    from detector.train import train

    data = make_yolo_dataset(counts=(8, 4, 0), size=64)
    first = train(data, "yolo11n.yaml", epochs=1, batch=4, imgsz=64, threads=1, project=tmp_path, name="one",
                  overrides={"plots": False})
    # time=None: Ultralytics' time cap would re-plan the tiny run to fill the recipe's 35 minutes.
    overrides = {**FINETUNE_ARGS["overrides"], "cache": False, "plots": False, "time": None}
    second = train(data, first.best, epochs=1, batch=4, imgsz=64, threads=1, project=tmp_path, name="two",
                   overrides=overrides)
    ckpt = torch.load(second.best, map_location="cpu", weights_only=False)
    args = ckpt["train_args"]
    assert Path(args["model"]).resolve() == Path(first.best).resolve()
    assert (args["optimizer"], args["lr0"], args["freeze"]) == ("AdamW", 0.0005, 3)


def _killed_after_epoch(n: int) -> Any:
    # An on_fit_epoch_end callback: the job dies once epoch n (1-based) is saved, as a killed job.
    def kill(trainer: Any) -> None:
        if trainer.epoch == n - 1:
            raise KeyboardInterrupt

    return kill


CSV = "epoch,time,train/box_loss\n1,200.5,2.6\n2,400,1.9\n2,410.25,1.8\n"


@pytest.mark.parametrize(("text", "epoch", "expected"), [
    (CSV, 1, 200.5),
    (CSV, 2, 410.25),  # an epoch redone after an interruption: its last row counts
    (CSV, 3, None),
    ("", 1, None),
    ("epoch,train/box_loss\n1,2.6\n", 1, None),  # no time column (older Ultralytics)
    ("  epoch,  time\n  1,  7\n", 1, 7.0),  # padded columns
    ("epoch,time\nx,1\n1,oops\n1,3\n", 1, 3.0),  # unreadable rows are skipped
])
def test_seconds_at_epoch(text: str, epoch: int, expected: float | None) -> None:
    assert seconds_at_epoch(text, epoch) == expected


def _fake_trainer(tmp_path: Path, *, hours: float | None, start_epoch: int, csv_text: str | None,
                  epoch: int | None = None) -> Any:
    from types import SimpleNamespace

    csv_path = tmp_path / "results.csv"
    if csv_text is not None:
        csv_path.write_text(csv_text)
    return SimpleNamespace(args=SimpleNamespace(time=hours), start_epoch=start_epoch, csv=csv_path,
                           train_time_start=10_000.0, epoch=start_epoch if epoch is None else epoch)


def test_keep_time_budget_counts_the_seconds_before_a_resume(tmp_path: Path) -> None:
    trainer = _fake_trainer(tmp_path, hours=1.0, start_epoch=2, csv_text=CSV)
    keep_time_budget(trainer)
    assert trainer.train_time_start == 10_000.0 - 410.25
    assert trainer.start_epoch == 0  # Ultralytics' mean epoch time now spans the whole run
    for epoch in (2, 3):  # the same first epoch redone, then the next one
        trainer.epoch = epoch
        keep_time_budget(trainer)  # only the first epoch of the resumed run
        assert (trainer.train_time_start, trainer.start_epoch) == (10_000.0 - 410.25, 0)


@pytest.mark.parametrize(("hours", "start_epoch", "csv_text", "epoch"), [
    (None, 2, CSV, None),  # no time cap
    (1.0, 0, CSV, None),  # not a resume
    (1.0, 3, CSV, None),  # no row for the checkpoint's epoch
    (1.0, 2, None, None),  # no results.csv
    (1.0, 2, CSV, 3),  # a later epoch of the resumed run
])
def test_keep_time_budget_leaves_other_epochs_alone(tmp_path: Path, hours: float | None, start_epoch: int,
                                                    csv_text: str | None, epoch: int | None) -> None:
    trainer = _fake_trainer(tmp_path, hours=hours, start_epoch=start_epoch, csv_text=csv_text, epoch=epoch)
    keep_time_budget(trainer)
    assert (trainer.train_time_start, trainer.start_epoch) == (10_000.0, start_epoch)


@pytest.mark.slow
def test_resumed_time_capped_run_keeps_its_clock(tmp_path: Path, make_yolo_dataset) -> None:
    # A run capped by time=, interrupted after its second epoch, then resumed for one epoch.
    data = make_yolo_dataset(counts=(8, 4, 0), size=64)

    with pytest.raises(KeyboardInterrupt):
        train(data, epochs=3, batch=8, imgsz=64, threads=1, name="cut", project=tmp_path,
              overrides={"plots": False, "val": False, "time": 1.0},
              callbacks={"on_fit_epoch_end": _killed_after_epoch(2)})
    planned: list[int] = []

    def stop_after_one_more(trainer: Any) -> None:
        planned.append(trainer.epochs)
        trainer.stop = True

    train(data, resume=True, threads=1, name="cut", project=tmp_path,
          callbacks={"on_fit_epoch_end": stop_after_one_more})
    text = (tmp_path / "cut" / "results.csv").read_text()
    before, after = seconds_at_epoch(text, 2), seconds_at_epoch(text, 3)
    assert before is not None and after is not None
    # Ultralytics alone restarts the clock at the resume: epoch 3's time would be one epoch's.
    assert after > before
    # Epochs are planned as an absolute count for the whole hour, not as the epochs left.
    assert planned and planned[-1] > 3


@pytest.mark.slow
def test_interrupted_training_resumes(tmp_path: Path, make_yolo_dataset) -> None:
    data = make_yolo_dataset(counts=(8, 4, 0), size=64)

    with pytest.raises(KeyboardInterrupt):
        train(data, epochs=2, batch=8, imgsz=64, threads=1, name="cut", project=tmp_path,
              overrides={"plots": False, "val": False},
              callbacks={"on_fit_epoch_end": _killed_after_epoch(1)})
    last = tmp_path / "cut" / "weights" / "last.pt"
    assert last.is_file()
    result = train(data, resume=True, threads=1, name="cut", project=tmp_path)
    assert result.run_dir == tmp_path / "cut" and result.best.is_file()
    rows = (result.run_dir / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # header + both epochs, in the same run folder
    assert result.threads == 1


@pytest.mark.slow
def test_interrupted_classifier_resumes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    root = tmp_path / "crops"
    for split in ("train", "val"):
        for cls, value in (("neutral", 60), ("smile", 200)):
            (root / split / cls).mkdir(parents=True)
            for i in range(4):
                img = rng.normal(value, 10, (32, 32, 3)).clip(0, 255).astype(np.uint8)
                cv2.imwrite(str(root / split / cls / f"{i}.png"), img)

    with pytest.raises(KeyboardInterrupt):
        train_classifier(root, epochs=2, batch=8, imgsz=32, threads=1, name="cut", project=tmp_path,
                         overrides={"plots": False}, callbacks={"on_fit_epoch_end": _killed_after_epoch(1)})
    resumed = train_classifier(root, threads=1, name="cut", project=tmp_path, resume=True)
    rows = (tmp_path / "cut" / "results.csv").read_text().strip().splitlines()
    assert resumed.best.is_file() and len(rows) == 1 + 2  # both epochs in the same run folder
    assert resumed.run_dir == tmp_path / "cut" and resumed.seconds > 0 and resumed.threads == 1
    # Finished: resuming again returns the run without training.
    again = train_classifier(root, name="cut", project=tmp_path, resume=True)
    assert again.best == resumed.best and again.seconds == 0.0
    with pytest.raises(ModelError, match="no checkpoint"):
        train_classifier(root, name="absent", project=tmp_path, resume=True)


@pytest.mark.slow
def test_backbone_and_classifier(tmp_path: Path, make_yolo_dataset) -> None:
    rng = np.random.default_rng(0)
    root = tmp_path / "crops"
    for split, n in (("train", 8), ("val", 4)):
        for cls, value in (("neutral", 60), ("smile", 200)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.normal(value, 10, (32, 32, 3)).clip(0, 255).astype(np.uint8)
                cv2.imwrite(str(folder / f"{i}.png"), img)
    best = train_classifier(root, epochs=1, batch=8, imgsz=32, threads=1, name="cls",
                            project=tmp_path / "runs", overrides={"plots": False}).best
    assert best.is_file()
    args = (best.parent.parent / "args.yaml").read_text()
    for key, value in CLASSIFIER_AUGMENT.items():
        assert f"{key}: {'null' if value is None else value}" in args
    matching, _ = count_matching_layers(load_yolo("yolo11n.yaml"), best)
    assert matching > 0
    # The classifier's backbone starts a detector (YOLO(yaml).load(cls.pt)), then it trains.
    data = make_yolo_dataset(counts=(8, 4, 0))
    result = train(data, "yolo11n.yaml", backbone=best, epochs=1,
                   batch=8, imgsz=64, threads=1, name="det", project=tmp_path / "runs",
                   overrides={"plots": False})
    assert result.best.is_file()
    # Same command, same seed, same weights: the head's initial weights are seeded too.
    again = train(data, "yolo11n.yaml", backbone=best, epochs=1,
                  batch=8, imgsz=64, threads=1, name="det-again", project=tmp_path / "runs",
                  overrides={"plots": False})
    import torch

    first, second = (torch.load(r.last, map_location="cpu", weights_only=False)["model"].float().state_dict()
                     for r in (result, again))
    assert all(torch.equal(first[k], second[k]) for k in first)

    # Frozen for the first epoch, layers 3-8 trained in the second: the stem stays the
    # classifier's, the unfrozen layers move away from it.
    unfrozen = train(make_yolo_dataset("ds3", counts=(16, 4, 0)), "yolo11n.yaml", backbone=best, epochs=2,
                     batch=8, imgsz=64, threads=1, name="det-unfreeze", project=tmp_path / "runs",
                     overrides={"plots": False, "val": False, "freeze": 9, "warmup_epochs": 0,
                                "nbs": 8},  # one optimizer step per batch, not one per 64 images
                     callbacks={"on_train_epoch_start": unfreeze_callback(0.5, keep_frozen=3)})
    before = torch.load(best, map_location="cpu", weights_only=False)["model"].float().state_dict()
    after = torch.load(unfrozen.last, map_location="cpu", weights_only=False)["model"].float().state_dict()
    for key in ("model.0.conv.weight", "model.2.cv1.conv.weight"):
        assert torch.allclose(before[key], after[key], atol=1e-3), key
    for key in ("model.5.conv.weight", "model.8.cv2.conv.weight"):
        assert not torch.allclose(before[key], after[key], atol=1e-3), key
    with pytest.raises(ModelError, match="not a local file"):
        train(make_yolo_dataset("ds2", counts=(2, 2, 0)), backbone="yolo11n-cls.pt")


class _RacedYolo:
    """Fails in train() the way Ultralytics does when another run deletes its label cache."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def add_callback(self, event: str, func: Any) -> None:
        pass

    def train(self, **_: Any) -> None:
        raise FileNotFoundError(2, "No such file or directory", self.filename)


def test_a_vanished_label_cache_is_a_dataset_error() -> None:
    from detector.train import _fit

    with pytest.raises(DatasetError, match=r"labels\.cache: .*another training run"):
        _fit(_RacedYolo("/data/train/labels.cache"), {}, None, None)
    with pytest.raises(FileNotFoundError):  # any other missing file is not ours to explain
        _fit(_RacedYolo("/data/train/images/a.jpg"), {}, None, None)
