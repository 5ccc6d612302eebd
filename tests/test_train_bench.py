from __future__ import annotations

from pathlib import Path

import pytest

from detector.cli import main
from detector.errors import DetectorError
from detector.train_bench import TrainBenchRow, batch_seconds, bench_training, format_train_bench_table


@pytest.mark.parametrize(("stamps", "warmup", "expected"), [
    ([0.0, 1.0, 3.0, 6.0], 0, [1.0, 2.0, 3.0]),
    ([0.0, 1.0, 3.0, 6.0], 2, [3.0]),
    ([0.0], 0, []),
    ([], 0, []),
])
def test_batch_seconds(stamps: list[float], warmup: int, expected: list[float]) -> None:
    assert batch_seconds(stamps, warmup) == pytest.approx(expected)


def test_batch_seconds_rejects_negative_warmup() -> None:
    with pytest.raises(ValueError, match="warmup"):
        batch_seconds([0.0, 1.0], -1)


def test_table_speed_up_is_relative_to_the_first_row() -> None:
    rows = [TrainBenchRow(1, 30, 2.0, 8.0, 600, 20.0), TrainBenchRow(2, 30, 1.6, 10.0, 600, 16.0)]
    table = format_train_bench_table(rows, {"cpu": "Test CPU", "logical_cores": 2, "load_avg_1m": 0.0})
    assert "Test CPU, 2 logical cores" in table
    assert table.splitlines()[-1] == "| 2 | 1.60 | 10.0 | 16.0 | 1.25x |"


@pytest.mark.slow
def test_bench_training_times_real_batches(tmp_path: Path, make_yolo_dataset,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = make_yolo_dataset(counts=(24, 4, 0), size=64)
    rows = bench_training(data, threads=(1,), batches=3, warmup=1, batch=4, imgsz=64)
    assert [r.threads for r in rows] == [1]
    row = rows[0]
    assert row.batches == 3 and row.batches_per_epoch == 6
    assert row.seconds_per_batch > 0 and row.images_per_second == pytest.approx(4 / row.seconds_per_batch)
    with pytest.raises(DetectorError, match="only"):
        bench_training(data, threads=(1,), batches=10, warmup=0, batch=8, imgsz=64)
    out = tmp_path / "bench.json"
    assert main(["bench-train", "--data", str(data), "--threads", "1", "--batches", "2", "--warmup", "0",
                 "--batch", "8", "--imgsz", "64", "--out", str(out), "mosaic=0.5"]) == 0
    assert "| 1 |" in capsys.readouterr().out and '"mosaic": 0.5' in out.read_text()
