"""Replacing a model directory safely: one writer at a time, an atomic swap, and recovery
of what a killed writer left behind. Stdlib only.

A new model is written complete into a hidden sibling (`.NAME.tmp-*`) and swapped with the
old one in one step (Linux `renameat2(RENAME_EXCHANGE)`); where the file system cannot do
that, the old directory is first renamed to `.NAME.old-*` and the next writer puts it back
if a crash came between the two renames (readers look there meanwhile). A writer holds an
exclusive lock on `.NAME.lock` beside the directory, so two trainings into one place cannot
both report success. Nothing here deletes or replaces a directory that is not a nextword
model, or anything whose name nextword did not make.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelError

# What a model directory may hold (artifact.py's files); anything else means it is not ours.
MODEL_FILES = {"config.json", "tokenizer.json", "weights.npz", "model.keras", "casing.json"}
WORK_PREFIX = "nextword-"  # the trainer's work folders in the temporary directory
_PID_FILE = "nextword.pid"

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a second writer is not detected
    fcntl = None


def sibling(dest: Path, kind: str) -> str:
    """Name prefix of the hidden siblings nextword makes beside `dest` (tmp, old, lock)."""
    return f".{dest.name}.{kind}"


def is_model_dir(path: Path) -> bool:
    """True if `path` is a directory that holds a nextword model and nothing else (files
    of a model only, one of them config.json naming a format_version)."""
    import json

    try:
        names = set(os.listdir(path))
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return (isinstance(config, dict) and "format_version" in config and "model" in config
            and names <= MODEL_FILES)


def check_destination(dest: Path) -> None:
    """Refuse (before any work) a destination that is not a model, an empty directory or
    a new path: a user's directory is never replaced."""
    if not os.path.lexists(dest):
        return
    if not dest.is_dir():
        raise ModelError(f"cannot write the model to {dest}: it is a file, not a directory")
    if not any(os.scandir(dest)) or is_model_dir(dest):
        return
    others = sorted(set(os.listdir(dest)) - MODEL_FILES) or ["config.json"]
    raise ModelError(f"{dest} is a directory that is not a nextword model (it holds "
                     f"{', '.join(others[:3])}{' ...' if len(others) > 3 else ''}); nothing was "
                     f"changed: give --model a new or empty directory, or an existing model")


@contextlib.contextmanager
def writer_lock(dest: Path) -> Iterator[None]:
    """Hold the exclusive right to replace `dest`; a second writer gets a ModelError."""
    if fcntl is None:
        yield
        return
    path = dest.parent / (sibling(dest, "lock"))
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ModelError(f"another nextword process (pid {owner}) is writing the model "
                             f"{dest}; wait for it to end, or train into another --model") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False  # the previous holder removed it as we opened it: take the new one
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def swap_in(new: Path, dest: Path) -> None:
    """Put the complete directory `new` at `dest`, atomically for readers where the file
    system allows; the old model (if any) is removed after. `dest` must be absent, an
    empty directory or a model (checked again here: the user may have changed it)."""
    if not os.path.lexists(dest):
        os.rename(new, dest)
        _sync_dir(dest.parent)
        return
    check_destination(dest)
    if _exchange(new, dest):
        _sync_dir(dest.parent)
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old model
        return
    old = Path(tempfile.mkdtemp(prefix=sibling(dest, "old-"), dir=dest.parent))
    os.rmdir(old)
    os.rename(dest, old)
    os.rename(new, dest)  # a crash before this line is repaired by recover()
    _sync_dir(dest.parent)
    shutil.rmtree(old, ignore_errors=True)


def readable_path(dest: Path) -> Path:
    """Where a reader finds the model `dest`: itself, or the old directory a writer set
    aside if it was killed between the two renames of a swap."""
    if os.path.lexists(dest):
        return dest
    olds = _ours(dest, "old-")
    return max(olds, key=_mtime) if olds else dest


def recover(dest: Path) -> list[str]:
    """Under the writer lock: put back a model a killed writer had set aside, and remove
    the half-written directories it left. Returns what was done, for the log."""
    done = []
    olds = sorted(_ours(dest, "old-"), key=_mtime)
    if olds and not os.path.lexists(dest):
        os.rename(olds.pop(), dest)
        done.append(f"restored the model {dest} that an interrupted save had set aside")
    for leftover in olds + _ours(dest, "tmp-"):
        shutil.rmtree(leftover, ignore_errors=True)
        done.append(f"removed {leftover.name}, left by an interrupted save")
    return done


def _ours(dest: Path, kind: str) -> list[Path]:
    """Hidden siblings of `dest` with nextword's prefix that hold only model files."""
    try:
        entries = list(os.scandir(dest.parent))
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.name.startswith(sibling(dest, kind)) and entry.is_dir(follow_symlinks=False):
            with contextlib.suppress(OSError):
                if set(os.listdir(entry.path)) <= MODEL_FILES:
                    found.append(Path(entry.path))
    return found


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2). False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _sync_dir(path: Path) -> None:
    """Make a rename in `path` durable (a power cut after it keeps it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def work_dir() -> Iterator[Path]:
    """A temporary work folder for the trainer, removed at the end; folders of earlier
    runs that were killed (their process is gone) are removed first."""
    root = Path(tempfile.gettempdir())
    _remove_stale_work_dirs(root)
    path = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=root))
    try:
        (path / _PID_FILE).write_text(f"{os.getpid()}\n")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _remove_stale_work_dirs(root: Path) -> None:
    try:
        entries = [e for e in os.scandir(root) if e.name.startswith(WORK_PREFIX)]
    except OSError:
        return
    for entry in entries:
        try:
            pid = int((Path(entry.path) / _PID_FILE).read_text().strip())
        except (OSError, ValueError):
            continue  # not one of ours, or still being created
        if not _alive(pid):
            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
