"""Score a model on every validation set the experiments since session 22 are judged on.

Run from the project root after `exprdet ship --data-only` (which builds
datasets/smile-neutral-scenes):

    python docs/experiments/validate.py TAG WEIGHTS                # every set
    python docs/experiments/validate.py TAG WEIGHTS photos grid    # some of them

Each set that is missing is built first (from ../shared, or $EXPRDET_SHARED); then one
`exprdet eval --split val --imgsz 320 --threads 2 --no-plots` per set writes
runs/val/TAG-SET, the folders `compare_runs.py` reads. Replaces the uncommitted
`runs/b23/val.sh` of sessions 23-29 (same sets, same eval options). `--threads 1 --nice`
scores beside a running training with little effect on it.

Sets (validation people only; none is a test set):
  photos     the 1,968 validation photos (datasets/smile-neutral-scenes/data_crops.yaml)
  comps      the 267 validation composites (runs/sel/val_scenes.yaml)
  real       faces-in-scenes valid/ labelled by the shipped classifier (datasets/real-scenes)
  small      one actress's 64 small colour crops, all smiles (runs/sel/colour_val_crops.yaml)
  shrunk64   the other 1,904 validation photos shrunk to a 64 px side (runs/sel/val_shrunk64.yaml)
  fer        2,000 FER2013 *train* happy/neutral faces, blurred (datasets/other-people-val)
  sceneval   faces-in-scenes valid/ labelled by eye (datasets/scene-val)
  personval  the person-disjoint real-scene split's val (datasets/real-scenes-by-person)
  grid       the Roboflow export's 4x4 grid faces, one per image, labels reviewed by eye
             (datasets/grid-faces; session 29)
  photosrev  the validation photos with their labels reviewed by eye, unusable ones left out
             (datasets/photos-reviewed: 1,304 of the 1,968; session 30)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from detector.paths import shared_dir as _shared

DATASET = Path("datasets/smile-neutral-scenes")
SEL = Path("runs/sel")


def _list_yaml(name: str, images: list[Path]) -> Path:
    # A data.yaml whose val is a text file of image paths: a subset of the dataset's folders.
    SEL.mkdir(parents=True, exist_ok=True)
    (SEL / f"{name}.txt").write_text("".join(f"{p.resolve()}\n" for p in sorted(images)))
    yaml_path = SEL / f"{name}.yaml"
    lst = (SEL / f"{name}.txt").resolve()
    yaml_path.write_text(f"path: {DATASET.resolve()}\ntrain: {lst}\nval: {lst}\nnames: {{0: neutral, 1: smile}}\n")
    return yaml_path


def _comps() -> Path:
    return _list_yaml("val_scenes", list((DATASET / "val" / "images").glob("scene_*")))


def _small() -> Path:
    return _list_yaml("colour_val_crops", list((DATASET / "val_crops" / "images").glob("photo_SharmilaTagore_*")))


def _shrunk() -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from small_crops import shrunk_val

    shrunk_val()
    return SEL / "val_shrunk64.yaml"


def _fer() -> Path:
    from detector.recipes import build_other_people_test

    return build_other_people_test(_shared() / "data" / "fer2013", Path("datasets/other-people-val"),
                                   split="train", per_class=1000)


def _real() -> Path:
    from detector.recipes import build_real_scenes

    build_real_scenes(_shared() / "data" / "faces-in-scenes", Path("weights/smile-neutral-cls.pt"),
                      Path("datasets/real-scenes"))
    return Path("datasets/real-scenes/data.yaml")


def _sceneval() -> Path:
    from detector.recipes import SCENE_VAL_REVIEW_CSV, build_scene_test

    build_scene_test(_shared() / "data" / "faces-in-scenes" / "valid", Path("datasets/scene-val"),
                     SCENE_VAL_REVIEW_CSV)
    return Path("datasets/scene-val/data.yaml")


def _personval() -> Path:
    from detector.recipes import build_person_disjoint_scenes

    build_person_disjoint_scenes(_shared() / "data" / "faces-in-scenes", Path("datasets/real-scenes-by-person"),
                                 reuse=True)
    return Path("datasets/real-scenes-by-person/data.yaml")


def _grid() -> Path:
    from detector.recipes import build_grid_faces

    build_grid_faces(_shared() / "data" / "roboflow-facial-emotion-7", Path("datasets/grid-faces"))
    return Path("datasets/grid-faces/data.yaml")


def _photosrev() -> Path:
    from detector.recipes import build_reviewed_photos

    build_reviewed_photos(DATASET / "val_crops", Path("datasets/photos-reviewed"))
    return Path("datasets/photos-reviewed/data.yaml")


# name -> (its data.yaml, how to build it when missing)
SETS: dict[str, tuple[Path, Callable[[], Path] | None]] = {
    "photos": (DATASET / "data_crops.yaml", None),
    "comps": (SEL / "val_scenes.yaml", _comps),
    "real": (Path("datasets/real-scenes/data.yaml"), _real),
    "small": (SEL / "colour_val_crops.yaml", _small),
    "shrunk64": (SEL / "val_shrunk64.yaml", _shrunk),
    "fer": (Path("datasets/other-people-val/data.yaml"), _fer),
    "sceneval": (Path("datasets/scene-val/data.yaml"), _sceneval),
    "personval": (Path("datasets/real-scenes-by-person/data.yaml"), _personval),
    "grid": (Path("datasets/grid-faces/data.yaml"), _grid),
    "photosrev": (Path("datasets/photos-reviewed/data.yaml"), _photosrev),
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    threads, nice = "2", False
    if "--nice" in args:
        args.remove("--nice")
        nice = True
    if "--threads" in args:
        k = args.index("--threads")
        threads = args[k + 1]
        del args[k:k + 2]
    if len(args) < 2 or any(name not in SETS for name in args[2:]):
        print(f"usage: python docs/experiments/validate.py TAG WEIGHTS [{'|'.join(SETS)} ...] "
              "[--threads N] [--nice]", file=sys.stderr)
        return 2
    tag, weights, names = args[0], Path(args[1]), args[2:] or list(SETS)
    if not weights.is_file():
        print(f"error: {weights}: weights not found", file=sys.stderr)
        return 2
    if not (DATASET / "data_crops.yaml").is_file():
        print(f"error: {DATASET}: not built; run `exprdet ship --data-only` first", file=sys.stderr)
        return 2
    exprdet = Path(sys.executable).with_name("exprdet")
    for name in names:
        data, build = SETS[name]
        if not data.is_file() and build is not None:
            data = build()
        cmd = [str(exprdet), "eval", "--weights", str(weights), "--split", "val", "--imgsz", "320",
               "--threads", threads, "--data", str(data), "--out", f"runs/val/{tag}-{name}", "--no-plots"]
        if nice:
            cmd = ["nice", "-n", "19", *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr.strip() or out.stdout.strip(), file=sys.stderr)
            return out.returncode
        for line in (out.stdout + out.stderr).splitlines():
            if "right" in line or "mAP50 " in line:
                print(f"{tag} {name}: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
