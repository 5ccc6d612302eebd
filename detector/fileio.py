"""Atomic outputs and small file helpers shared by every writer."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@contextlib.contextmanager
def atomic_dir(final: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it into place only on success.

    A failure leaves ``final`` as it was (absent or the previous complete version).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> with atomic_dir(root / "out") as tmp:
        ...     _ = (tmp / "a.txt").write_text("hi")
        >>> (root / "out" / "a.txt").read_text()
        'hi'
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not overwrite:
        raise FileExistsError(final)
    _remove_orphans(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def orphan_pid(name: str, final_name: str) -> int | None:
    """The process id in a leftover temporary name for ``final_name``, else None.

    Both :func:`atomic_dir` folders and :func:`temp_file_for` files carry it.

    Example:
        >>> orphan_pid(".data.tmp-4242-x1y2", "data"), orphan_pid(".data.old-7", "data"), orphan_pid("data", "data")
        (4242, 7, None)
    """
    for kind in ("tmp", "old"):
        prefix = f".{final_name}.{kind}-"
        if name.startswith(prefix):
            digits = name[len(prefix):].split("-", 1)[0]
            return int(digits) if digits.isdigit() else None
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _remove_orphans(final: Path) -> None:
    # A process killed outright (SIGKILL, a session's end) cannot clean up; its half-written folder
    # or file carries its pid, so the next writer of the same output removes it once that process is gone.
    for path in final.parent.glob(f".{final.name}.*-*"):
        pid = orphan_pid(path.name, final.name)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def default_file_mode() -> int:
    """``0o666`` minus the umask: what ``open()`` would give a new file.

    ``mkstemp`` creates ``0600`` files; outputs renamed into place should get the user's
    normal permissions instead.

    Example:
        >>> default_file_mode() & 0o600
        384
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_file_for(final: str | Path, suffix: str = "") -> tuple[int, Path]:
    """Open a new hidden temporary file beside ``final`` (same file system, so a rename is atomic).

    Its name, ``.NAME.tmp-PID-XXXX`` plus ``suffix``, carries this process's id, and leftovers of
    dead processes for the same ``final`` are removed first, as :func:`atomic_dir` does. Returns
    the open descriptor and the path; the caller renames it into place or unlinks it.

    Example:
        >>> import tempfile
        >>> fd, tmp = temp_file_for(Path(tempfile.mkdtemp()) / "out.mp4", suffix=".mp4")
        >>> os.close(fd); tmp.name.startswith(f".out.mp4.tmp-{os.getpid()}-"), tmp.suffix
        (True, '.mp4')
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(final)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.tmp-{os.getpid()}-", suffix=suffix, dir=final.parent)
    os.chmod(name, default_file_mode())
    return fd, Path(name)


@contextlib.contextmanager
def atomic_file(final: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``final`` (:func:`temp_file_for`); rename it into place on success.

    For writers that want a path rather than a descriptor (``shutil.copyfile``, ``torch.save``).
    A failure removes the temporary file and leaves ``final`` as it was.

    Example:
        >>> import tempfile
        >>> with atomic_file(Path(tempfile.mkdtemp()) / "w.txt") as tmp:
        ...     _ = tmp.write_text("ok")
        >>> tmp.with_name("w.txt").read_text()
        'ok'
    """
    final = Path(final)
    fd, tmp = temp_file_for(final, suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Example:
        >>> import tempfile
        >>> p = atomic_write_bytes(Path(tempfile.mkdtemp()) / "x.bin", b"1")
        >>> p.read_bytes()
        b'1'
    """
    path = Path(path)
    fd, tmp = temp_file_for(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` to ``dst`` through a temporary file and a rename, so ``dst`` is never half written.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> atomic_copy(atomic_write_text(d / "a.txt", "x"), d / "sub" / "b.txt").read_text()
        'x'
    """
    with atomic_file(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Text version of :func:`atomic_write_bytes`.

    Example:
        >>> import tempfile
        >>> atomic_write_text(Path(tempfile.mkdtemp()) / "x.txt", "ok").read_text()
        'ok'
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically.

    Example:
        >>> import tempfile
        >>> json.loads(atomic_write_json(Path(tempfile.mkdtemp()) / "r.json", {"a": 1}).read_text())
        {'a': 1}
    """
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name.

    Example:
        >>> list_images(tempfile.mkdtemp())
        []
    """
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
