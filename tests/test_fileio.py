"""Atomic outputs: leftovers of killed writers are removed, SIGTERM unwinds like Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from detector import cli
from detector.fileio import atomic_copy, atomic_dir, atomic_write_text, orphan_pid, temp_file_for


@pytest.mark.parametrize(
    ("name", "final", "expected"),
    [
        (".data.tmp-4242-abc123", "data", 4242),
        (".data.old-77", "data", 77),
        (".data.tmp-abc123", "data", None),  # written before the pid was in the name: cannot tell, keep
        (".data.tmp.tmp-5-x", "data", None),  # belongs to the output "data.tmp"
        (".other.tmp-5-x", "data", None),
        ("data", "data", None),
    ],
)
def test_orphan_pid(name: str, final: str, expected: int | None) -> None:
    assert orphan_pid(name, final) == expected


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_dir_removes_leftovers_of_dead_writers_only(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getppid()
    leftovers = {
        f".out.tmp-{dead}-abcd": False,  # killed writer: removed
        f".out.old-{dead}": False,
        f".out.tmp-{alive}-efgh": True,  # another process still writing: kept
        ".out.tmp-ijkl": True,  # no pid in the name: kept
        f".other.tmp-{dead}-mnop": True,  # another output's: kept
    }
    for name in leftovers:
        (tmp_path / name).mkdir()
        (tmp_path / name / "half.txt").write_text("x")
    with atomic_dir(tmp_path / "out") as tmp:
        assert tmp.name.startswith(f".out.tmp-{os.getpid()}-")
        (tmp / "a.txt").write_text("done")
    assert (tmp_path / "out" / "a.txt").read_text() == "done"
    for name, kept in leftovers.items():
        assert (tmp_path / name).exists() == kept, name


def test_file_writers_remove_leftover_files_of_dead_writers_only(tmp_path: Path) -> None:
    from detector.live import DetectionLog
    from detector.sources import VideoWriter

    dead, alive = _dead_pid(), os.getppid()
    for final in ("r.json", "log.csv", "out.mp4", "w.pt"):
        for name in (f".{final}.tmp-{dead}-ab12", f".{final}.tmp-{alive}-cd34", f".{final}.x1y2"):
            (tmp_path / name).write_text("half")
    atomic_write_text(tmp_path / "r.json", "{}")
    with DetectionLog(tmp_path / "log.csv") as log:
        log.write([{"frame": 0}])
    with VideoWriter(tmp_path / "out.mp4", fps=5.0) as writer:
        writer.write(np.zeros((32, 48, 3), np.uint8))
    atomic_copy(tmp_path / "r.json", tmp_path / "w.pt")
    # The killed writer's temporary file is gone; a live writer's and an old-style name (no pid) stay.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == sorted(
        f".{final}.{rest}" for final in ("r.json", "log.csv", "out.mp4", "w.pt")
        for rest in (f"tmp-{alive}-cd34", "x1y2"))
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {"r.json", "log.csv", "out.mp4",
                                                                                 "w.pt"}


def test_temp_file_for_names_the_output_and_pid(tmp_path: Path) -> None:
    fd, tmp = temp_file_for(tmp_path / "sub" / "clip.mp4", suffix=".mp4")
    os.close(fd)
    assert tmp.parent == tmp_path / "sub" and tmp.suffix == ".mp4"
    assert orphan_pid(tmp.name, "clip.mp4") == os.getpid()
    umask = os.umask(0)
    os.umask(umask)
    # Not mkstemp's 0600: outputs renamed into place (weights, logs, videos) get a plain open()'s mode.
    assert tmp.stat().st_mode & 0o777 == 0o666 & ~umask
    assert atomic_copy(tmp, tmp_path / "w.pt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_copy_failure_leaves_nothing(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "dst.pt", "previous")
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing.pt", tmp_path / "dst.pt")
    assert (tmp_path / "dst.pt").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.pt"]


def test_atomic_dir_failure_keeps_previous_output(tmp_path: Path) -> None:
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("second")
        raise RuntimeError("boom")
    assert (tmp_path / "out" / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


FAKE_COMMAND = """
    import os, signal, time
    from pathlib import Path
    from detector.fileio import atomic_dir

    HELP = "write a folder, get SIGTERM half way"

    def add_arguments(parser):
        parser.add_argument("out")

    def run(args):
        with atomic_dir(args.out) as tmp:
            (Path(tmp) / "half.txt").write_text("x")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        return 0
"""


def test_sigterm_unwinds_and_exits_143(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fake_sigterm_command.py").write_text(textwrap.dedent(FAKE_COMMAND))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "fake", ("fake_sigterm_command", "fake"))
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "work" / "out"

    assert cli.main(["fake", str(out)]) == 143

    assert "terminated" in capsys.readouterr().err
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # the temporary folder went with the unwinding
    assert signal.getsignal(signal.SIGTERM) == before
    # Places that finish their outputs on Ctrl-C (a webcam session's video, log and report) do so on SIGTERM.
    assert issubclass(cli.Terminated, KeyboardInterrupt)
