"""Dataset-size ablation: nested deterministic subsets, flips follow their source, resume without
retraining (fake trainer), bad input through the CLI, the leaky frame-level build option, and a
real two-epoch micro-ablation."""

from __future__ import annotations

import csv
import json
import shutil
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from detector.ablation import (
    AblationSettings,
    dataset_label,
    mean_spread,
    nested_subsets,
    parse_sizes,
    resolve_sizes,
    run_ablation,
    summarize,
    table_markdown,
    train_sources,
)
from detector.build import build_dataset
from detector.cli import main
from detector.errors import DatasetError, DetectorError

# --------------------------------------------------------------------------- helpers


def write_pool(root: Path, groups: dict[str, int], seed: int = 0) -> Path:
    """A 2-class pool: ``groups`` maps group -> number of images (class alternates by group)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rows = []
    for k, (group, n) in enumerate(groups.items()):
        cls = k % 2
        for i in range(n):
            name = f"{group}_{i:03d}.png"
            small = rng.integers(0, 120, (5, 7, 3), dtype=np.uint8)  # own dHash per image
            img = cv2.resize(small, (80, 60), interpolation=cv2.INTER_CUBIC)
            bw, bh = int(rng.integers(10, 30)), int(rng.integers(10, 25))
            x, y = int(rng.integers(0, 80 - bw)), int(rng.integers(0, 60 - bh))
            img[y:y + bh, x:x + bw] = 250
            cv2.imwrite(str(root / "images" / name), img)
            (root / "labels" / f"{Path(name).stem}.txt").write_text(
                f"{cls} {(x + bw / 2) / 80:.6f} {(y + bh / 2) / 60:.6f} {bw / 80:.6f} {bh / 60:.6f}\n")
            rows.append([name, group, "", ("neutral", "smile")[cls]])
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["image", "group", "source_split", "class_names"])
        writer.writerows(rows)
    (root / "pool.yaml").write_text(yaml.safe_dump(
        {"names": ["neutral", "smile"], "source": "test", "kind": "frames"}))
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built dataset (flip copies in train, manifest with groups): 24 'videos' of 5 frames."""
    root = tmp_path_factory.mktemp("abl")
    pool = write_pool(root / "pool", {f"v{i:02d}": 5 for i in range(24)})
    return build_dataset([pool], "ds", root / "out", size=(64, 64), progress=False).data_yaml


class FakeTrainer:
    """Counts calls; 'trains' by writing weights/last.pt and best.pt; can die once."""

    def __init__(self, die_on: str | None = None) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.die_on = die_on

    def __call__(self, data: Any, model: Any, **kw: Any) -> Any:
        run = Path(kw["project"]).name
        self.calls.append((run, kw["resume"]))
        self.backbones = [*getattr(self, "backbones", []), kw.get("backbone")]
        weights = Path(kw["project"]) / kw["name"] / "weights"
        weights.mkdir(parents=True, exist_ok=True)
        (weights / "last.pt").write_text("x")
        if run == self.die_on:
            self.die_on = None
            raise KeyboardInterrupt  # a killed job: last.pt exists, no result
        (weights / "best.pt").write_text("x")
        return types.SimpleNamespace(best=weights / "best.pt", seconds=1.0)


class FakeEval:
    """Counts calls; mAP50 = train images / 1000 so tables are predictable."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, weights: Any, data: Any, split: str, **kw: Any) -> Any:
        self.calls.append(Path(data).parent.name)
        n = len((Path(data).parent / "train.txt").read_text().split())
        metrics = {"map50": n / 1000, "map50_95": 0.5, "precision": 0.9, "recall": 0.8,
                   "f1": 0.85, "face_accuracy": 0.7, "ece": 0.1}
        return types.SimpleNamespace(to_dict=lambda: {"metrics": metrics})


def listed(out: Path, run: str) -> list[str]:
    return (out / "runs" / run / "train.txt").read_text().split()


# --------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(("text", "sizes"), [
    ("569,899", [569, 899]),
    ("899, 569", [569, 899]),
    ("100,250,569,899,2000", [100, 250, 569, 899, 2000]),
    ("10,10", [10]),
    ("all,5", [5, "all"]),
])
def test_parse_sizes(text: str, sizes: list) -> None:
    assert parse_sizes(text) == sizes


@pytest.mark.parametrize(("text", "match"), [
    ("5.5", "whole numbers"), ("569,abc", "whole numbers"), ("0", "at least 1"),
    ("-3", "at least 1"), ("", "no dataset size"),
])
def test_parse_sizes_rejects(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_sizes(text)


def test_resolve_sizes() -> None:
    assert resolve_sizes([5, "all"], 12) == [5, 12]
    with pytest.raises(DatasetError, match="size 13 is larger than the 12 source images"):
        resolve_sizes([5, 13], 12, "d.yaml")


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
@pytest.mark.parametrize("sizes", [[1, 5, 20], [569, 899], [3, 900]])
def test_subsets_are_nested_and_deterministic(seed: int, sizes: list[int]) -> None:
    keys = [f"img{i:04d}" for i in range(900)]
    subs = nested_subsets(keys, sizes, seed)
    assert sorted(subs) == sorted(sizes)
    for small, big in zip(sorted(sizes), sorted(sizes)[1:], strict=False):
        assert subs[big][:small] == subs[small]  # the 569 are inside the 899
        assert set(subs[small]) <= set(subs[big])
    for size in sizes:
        assert len(subs[size]) == len(set(subs[size])) == size
    assert nested_subsets(keys, sizes, seed) == subs
    assert nested_subsets(keys[::-1], sizes, seed) == subs  # input order does not matter


def test_subsets_differ_by_seed_and_leave_input_alone() -> None:
    keys = [f"k{i}" for i in range(50)]
    before = list(keys)
    a, b = nested_subsets(keys, [10], 0)[10], nested_subsets(keys, [10], 1)[10]
    assert a != b and keys == before


def test_grouped_subsets_take_whole_groups() -> None:
    keys = [f"v{g}_{i}" for g in range(30) for i in range(5)]
    groups = [k.split("_")[0] for k in keys]
    for seed in range(5):
        subs = nested_subsets(keys, [12, 50, 100], seed, groups)
        assert subs[50][:12] == subs[12]
        for size, chosen in subs.items():
            counts: dict[str, int] = {}
            for k in chosen:
                counts[k.split("_")[0]] = counts.get(k.split("_")[0], 0) + 1
            partial = [g for g, n in counts.items() if n < 5]
            assert len(partial) <= 1, (size, partial)  # only the boundary group is cut
            assert len(counts) == -(-size // 5)  # as few groups as possible


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"keys": ["a", "a"], "sizes": [1]}, "unique"),
    ({"keys": ["a", "b"], "sizes": [3]}, "outside 1..2"),
    ({"keys": ["a", "b"], "sizes": [0]}, "outside"),
    ({"keys": ["a", "b"], "sizes": [1], "groups": ["g"]}, "parallel"),
])
def test_nested_subsets_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        nested_subsets(**kwargs)


def test_mean_spread_and_table() -> None:
    assert mean_spread([None]) == {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    assert mean_spread([0.8])["std"] is None
    from detector.ablation import RunRecord

    recs = [RunRecord("d", 10, s, "", 20, 4, {"map50": v, "recall": 0.5})
            for s, v in ((0, 0.90), (1, 0.94))]
    rows = summarize(recs)
    md = table_markdown(rows)
    assert "| d | 10 | 20 | 2 | 92.0 ± 2.8 | - | - | 50.0 ± 0.0 | - | - |" in md
    assert "| reference | 569 | 99.0 | 93.8 | 97.9 |" in md
    assert "| reference | 899 | 99.6 | 97.2 | 99.0 |" in md


def test_dataset_label() -> None:
    assert dataset_label("datasets/expressions/data.yaml")[0] == "expressions"
    assert dataset_label("leaky=x/data.yaml") == ("leaky", Path("x/data.yaml"))
    with pytest.raises(DetectorError, match="label"):
        dataset_label("bad name=x/data.yaml")


# --------------------------------------------------------------------------- train sources


def test_train_sources_follow_flips_and_groups(built: Path) -> None:
    sources = train_sources(built)
    files = [f for s in sources for f in s.files]
    train_dir = built.parent / "train" / "images"
    assert sorted(files) == sorted(str(p.resolve()) for p in train_dir.iterdir())
    for s in sources:
        assert len(s.files) == 2 and s.files[1] == s.files[0].replace(".jpg", "_flip.jpg")
        assert s.group.startswith("v")
    assert len({s.group for s in sources}) < len(sources)  # 5 frames per video


def test_train_sources_without_manifest(make_yolo_dataset: Callable[..., Path]) -> None:
    data = make_yolo_dataset(counts=(6, 2, 2))
    images = data.parent / "train" / "images"
    for p in sorted(images.iterdir())[:3]:  # flip copies named the exprdet build way
        (images / f"{p.stem}_flip{p.suffix}").write_bytes(p.read_bytes())
        (data.parent / "train" / "labels" / f"{p.stem}_flip.txt").write_text(
            (data.parent / "train" / "labels" / f"{p.stem}.txt").read_text())
    sources = train_sources(data)
    assert len(sources) == 6
    assert sorted(len(s.files) for s in sources) == [1, 1, 1, 2, 2, 2]


def test_balanced_list_is_refused(built: Path, tmp_path: Path) -> None:
    listing = tmp_path / "twice.txt"
    img = next((built.parent / "train" / "images").iterdir())
    listing.write_text(f"{img}\n{img}\n")
    data = tmp_path / "data.yaml"
    data.write_text(f"train: {listing}\nval: {built.parent / 'val' / 'images'}\nnames: [a, b]\n")
    with pytest.raises(DatasetError, match="more than once"):
        train_sources(data)


# --------------------------------------------------------------------------- run_ablation (fakes)


def test_ablation_writes_nested_lists_and_resumes_without_retraining(built: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "abl"
    settings = AblationSettings(epochs=2, imgsz=64, overrides={"mosaic": 0.5})
    trainer, evaluator = FakeTrainer(), FakeEval()
    result = run_ablation({"ds": built}, [10, 25], seeds=[0, 1], out=out, settings=settings,
                          train_fn=trainer, eval_fn=evaluator, progress=False)
    assert len(trainer.calls) == 4 and len(evaluator.calls) == 4
    assert all(not resume for _, resume in trainer.calls)
    assert len(result.records) == 4 and len(result.rows) == 2
    for seed in (0, 1):
        small, big = listed(out, f"ds-n10-s{seed}"), listed(out, f"ds-n25-s{seed}")
        assert len(small) == 20 and len(big) == 50  # N sources -> N + N flip copies
        assert set(small) <= set(big)
        assert sum(f.endswith("_flip.jpg") for f in small) == 10
    assert listed(out, "ds-n10-s0") != listed(out, "ds-n10-s1")
    # one fixed val/test for every run
    yamls = [yaml.safe_load((out / "runs" / r.run / "data.yaml").read_text())
             for r in result.records]
    assert len({(y["val"], y["test"]) for y in yamls}) == 1
    assert all(y["train"].endswith("train.txt") for y in yamls)
    for name in ("ablation.md", "ablation.csv", "ablation.png", "ablation.json"):
        assert (out / name).is_file()
    assert "| ds | 10 | 20 | 2 | 2.0 ± 0.0 |" in (out / "ablation.md").read_text()

    # Second call: everything is read back, nothing trains or evaluates.
    again = run_ablation({"ds": built}, [10, 25], seeds=[0, 1], out=out, settings=settings,
                         train_fn=trainer, eval_fn=evaluator, progress=False)
    assert len(trainer.calls) == 4 and len(evaluator.calls) == 4
    assert again.trained == [] and len(again.records) == 4

    # More seeds later: only the new runs train, old subsets are unchanged.
    before = listed(out, "ds-n10-s0")
    more = run_ablation({"ds": built}, [10, 25], seeds=[0, 1, 2], out=out, settings=settings,
                        train_fn=trainer, eval_fn=evaluator, progress=False)
    assert sorted(more.trained) == ["ds-n10-s2", "ds-n25-s2"]
    assert listed(out, "ds-n10-s0") == before
    assert more.rows[0]["seeds"] == [0, 1, 2]


def test_interrupted_run_is_continued_with_resume(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    trainer, evaluator = FakeTrainer(die_on="ds-n25-s0"), FakeEval()
    with pytest.raises(KeyboardInterrupt):
        run_ablation({"ds": built}, [10, 25], out=out, train_fn=trainer, eval_fn=evaluator,
                     progress=False)
    assert (out / "runs" / "ds-n10-s0" / "result.json").is_file()
    assert not (out / "runs" / "ds-n25-s0" / "result.json").exists()
    result = run_ablation({"ds": built}, [10, 25], out=out, train_fn=trainer, eval_fn=evaluator,
                          progress=False)
    assert trainer.calls == [("ds-n10-s0", False), ("ds-n25-s0", False), ("ds-n25-s0", True)]
    assert result.trained == ["ds-n25-s0"] and len(result.records) == 2


def test_changed_settings_or_dataset_are_refused(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    kw: dict[str, Any] = {"out": out, "train_fn": FakeTrainer(), "eval_fn": FakeEval(),
                          "progress": False}
    run_ablation({"ds": built}, [10], settings=AblationSettings(epochs=2), **kw)
    with pytest.raises(DetectorError, match="epochs: 2 before, 3 now"):
        run_ablation({"ds": built}, [10], settings=AblationSettings(epochs=3), **kw)
    other = shutil.copytree(built.parent, tmp_path / "other")
    with pytest.raises(DetectorError, match="label 'ds' was .* before"):
        run_ablation({"ds": other / "data.yaml"}, [10], settings=AblationSettings(epochs=2), **kw)


def test_dataset_changed_under_a_started_run(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    run_ablation({"ds": built}, [10], out=out, dry_run=True, progress=False)
    listing = out / "runs" / "ds-n10-s0" / "train.txt"
    listing.write_text("/elsewhere/a.jpg\n")
    with pytest.raises(DatasetError, match="dataset changed"):
        run_ablation({"ds": built}, [10], out=out, train_fn=FakeTrainer(), eval_fn=FakeEval(),
                     progress=False)


def test_dry_run_trains_nothing(built: Path, tmp_path: Path) -> None:
    trainer = FakeTrainer()
    result = run_ablation({"ds": built}, [5, "all"], out=tmp_path / "abl", dry_run=True,
                          train_fn=trainer, eval_fn=FakeEval(), progress=False)
    n_all = len(train_sources(built))
    assert trainer.calls == [] and result.pending == ["ds-n5-s0", f"ds-n{n_all}-s0"]
    assert len(listed(tmp_path / "abl", f"ds-n{n_all}-s0")) == 2 * n_all


def test_grouped_ablation_uses_manifest_groups(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    run_ablation({"ds": built}, [13], out=out, settings=AblationSettings(grouped=True),
                 dry_run=True, progress=False)
    sources = {f: s.group for s in train_sources(built) for f in s.files}
    groups = [sources[f] for f in listed(out, "ds-n13-s0") if not f.endswith("_flip.jpg")]
    per = {g: groups.count(g) for g in groups}
    full = {g: sum(1 for s in train_sources(built) if s.group == g) for g in per}
    assert sum(per[g] < full[g] for g in per) <= 1


# --------------------------------------------------------------------------- CLI errors


def test_cli_rejects_non_integer_sizes(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["ablate", "--data", str(built), "--sizes", "569,8.5"])
    assert info.value.code == 2
    assert "whole numbers" in capsys.readouterr().err


def test_cli_rejects_sizes_larger_than_the_pool(built: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    n = len(train_sources(built))
    out = tmp_path / "abl"
    code = main(["ablate", "--data", str(built), "--sizes", f"10,{n + 1}", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {built.resolve()}: size {n + 1} is larger than the {n} source images" in err
    assert not out.exists()  # checked before anything is written or trained


def test_cli_dry_run_and_bad_model(built: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "abl"
    assert main(["ablate", "--data", f"grouped={built}", "--sizes", "4,8", "--seeds", "2",
                 "--out", str(out), "--dry-run", "--no-progress", "mosaic=0.5"]) == 0
    text = capsys.readouterr().out
    assert "4 run(s) to do" in text and "grouped-n8-s1" in text
    assert main(["ablate", "--data", str(built), "--sizes", "4", "--model", "yolo11n.pt",
                 "--out", str(tmp_path / "x")]) == 2
    assert "nothing is downloaded" in capsys.readouterr().err
    assert main(["ablate", "--data", str(built), "--sizes", "4", "--out", str(tmp_path / "y"),
                 "mosiac=0.5"]) == 2
    assert "did you mean mosaic" in capsys.readouterr().err


# --------------------------------------------------------------------------- leaky build option


def test_frame_level_split_is_leaky_and_counted(tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "pool", {f"v{i:02d}": 6 for i in range(10)})
    grouped = build_dataset([pool], "grouped", tmp_path / "out", size=(64, 64), progress=False)
    leaky = build_dataset([pool], "leaky", tmp_path / "out", size=(64, 64), progress=False,
                          frame_level_split=True)
    assert grouped.report["groups_across_splits"] == 0
    assert leaky.report["groups_across_splits"] > 0
    assert leaky.report["arguments"]["frame_level_split"] is True
    by_group: dict[str, set[str]] = {}
    for row in csv.DictReader((leaky.dataset / "manifest.csv").open()):
        by_group.setdefault(row["group"], set()).add(row["split"])
    assert sum(len(s) > 1 for s in by_group.values()) == leaky.report["groups_across_splits"]
    # Same pool, same images: the two datasets differ only in where frames went.
    assert (grouped.stats["totals"]["source_images"] == leaky.stats["totals"]["source_images"]
            == 60)
    with pytest.raises(ValueError, match="one or the other"):
        build_dataset([pool], "x", tmp_path / "out", frame_level_split=True,
                      merge_near_duplicates=True, progress=False)


def test_cli_frame_level_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = write_pool(tmp_path / "pool", {f"v{i:02d}": 4 for i in range(10)})
    assert main(["build", str(pool), "--name", "leaky", "--out", str(tmp_path / "out"),
                 "--size", "64x64", "--frame-level-split", "--no-progress"]) == 0
    assert "leaky (--frame-level-split)" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "leaky" / "build_report.json").read_text())
    assert "--frame-level-split" in report["command"]
    assert main(["build", str(pool), "--name", "x", "--out", str(tmp_path / "out"),
                 "--frame-level-split", "--merge-near-duplicates", "--no-progress"]) == 2
    assert "use one or the other" in capsys.readouterr().err


# --------------------------------------------------------------------------- slow: real training


@pytest.mark.slow
def test_micro_ablation_trains_and_writes_table_and_plot(tmp_path: Path,
                                                         make_yolo_dataset: Callable[..., Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = make_yolo_dataset(counts=(16, 6, 6), size=64)
    out = tmp_path / "abl"
    argv = ["ablate", "--data", f"synth={data}", "--sizes", "8,16", "--epochs", "2", "--batch", "8",
            "--imgsz", "64", "--threads", "1", "--out", str(out), "--no-progress", "plots=false"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "this call trained 2 and evaluated 2" in text
    md = (out / "ablation.md").read_text()
    assert "| synth | 8 | 8 | 1 |" in md and "| synth | 16 | 16 | 1 |" in md
    rows = list(csv.DictReader((out / "ablation.csv").open()))
    assert [r["train_sources"] for r in rows] == ["8", "16"]
    for r in rows:
        for key in ("map50", "map50_95", "precision", "recall", "f1", "face_accuracy"):
            assert 0.0 <= float(r[f"{key}_mean"]) <= 1.0
    assert cv2.imread(str(out / "ablation.png")) is not None
    for run in ("synth-n8-s0", "synth-n16-s0"):
        result = json.loads((out / "runs" / run / "result.json").read_text())
        assert Path(result["record"]["weights"]).is_file()
        assert (out / "runs" / run / "eval" / "report.json").is_file()
    # Re-running the same command trains nothing.
    assert main(argv) == 0
    assert "this call trained 0 and evaluated 0" in capsys.readouterr().out


def test_backbone_starts_every_run_and_is_a_stored_setting(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "abl"
    trainer = FakeTrainer()
    run_ablation({"ds": built}, [10], out=out, settings=AblationSettings(epochs=2, backbone="/m/cls.pt"),
                 train_fn=trainer, eval_fn=FakeEval(), progress=False)
    assert trainer.backbones == ["/m/cls.pt"]
    assert json.loads((out / "ablation.json").read_text())["settings"]["backbone"] == "/m/cls.pt"
    with pytest.raises(DetectorError, match="backbone: '/m/cls.pt' before, None now"):
        run_ablation({"ds": built}, [10], out=out, settings=AblationSettings(epochs=2),
                     train_fn=FakeTrainer(), eval_fn=FakeEval(), progress=False)
    assert "backbone" not in AblationSettings().to_dict()   # older ablation.json files still match
