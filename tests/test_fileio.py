"""Atomic outputs: leftovers of killed writers are removed, SIGTERM unwinds like Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from detector import cli
from detector.fileio import atomic_dir, orphan_pid


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
