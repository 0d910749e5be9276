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
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from nextword.errors import ModelError

# What a model directory may hold (modeldir/directory.py's files); anything else means it is not ours.
MODEL_FILES = {"config.json", "tokenizer.json", "weights.npz", "model.keras", "casing.json",
               "ngram.npz", "lexicon.json"}
# What file managers and network file systems drop into any directory.
_HARMLESS = re.compile(r"\.DS_Store|Thumbs\.db|desktop\.ini|\.nfs[0-9a-fA-F]+")
WORK_PREFIX = "nextword-"  # the trainer's work folders in the temporary directory
_PID_FILE = "nextword.pid"

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a second writer is not detected
    fcntl = None


def sibling(dest: Path, kind: str) -> str:
    """Name prefix of the hidden siblings nextword makes beside `dest` (tmp-, old-,
    probe-, cfg- followed by tempfile's 8 random characters, and lock)."""
    return f".{dest.name}.{kind}"


def _is_sibling(dest: Path, name: str, kinds: str) -> bool:
    """Exactly a name nextword made for `dest` (not another model's: `.m.old-1.tmp-x`)."""
    return re.fullmatch(rf"\.{re.escape(dest.name)}\.({kinds})-[a-z0-9_]{{8}}", name) is not None


def _model_names(names) -> bool:
    return all(n in MODEL_FILES or _HARMLESS.fullmatch(n) for n in names)


def is_model_dir(path: Path) -> bool:
    """True if `path` is a directory that holds a nextword model and nothing else (files
    of a model only, one of them config.json naming a format_version)."""
    from nextword import untrusted  # (config.json is read as the hostile input it may be)

    try:
        names = set(os.listdir(path))
        file = path / "config.json"
        config = untrusted.parse_json(file, untrusted.read_regular(file, untrusted.JSON_LIMITS[file.name]))
    except (OSError, ModelError):
        return False
    return (isinstance(config, dict) and "format_version" in config and "model" in config
            and _model_names(names))


def check_destination(dest: Path) -> None:
    """Refuse (before any work) a destination that is not a model, an empty directory or
    a new path: a user's directory is never replaced."""
    if not os.path.lexists(dest):
        return
    if not dest.is_dir():
        raise ModelError(f"cannot write the model to {dest}: it is a file, not a directory")
    if any(os.scandir(dest)) and not is_model_dir(dest):
        others = sorted(n for n in os.listdir(dest) if not _model_names([n])) or ["config.json"]
        raise ModelError(f"{dest} is a directory that is not a nextword model (it holds "
                         f"{', '.join(others[:3])}{' ...' if len(others) > 3 else ''}); nothing was "
                         f"changed: give --model a new or empty directory, or an existing model")
    if os.path.ismount(dest):
        raise ModelError(f"cannot write the model to {dest}: it is a mount point, which cannot "
                         f"be swapped; give a directory inside it")
    try:
        here = Path.cwd().resolve()
    except OSError:
        return
    if here == dest or dest in here.parents:
        raise ModelError(f"cannot write the model to {dest}: it is (or holds) the current "
                         f"directory; run from elsewhere or give another --model")


@contextlib.contextmanager
def writer_lock(dest: Path) -> Iterator[None]:
    """Hold the exclusive right to replace `dest`; a second writer gets a ModelError."""
    if fcntl is None:
        yield
        return
    path = dest.parent / (sibling(dest, "lock"))
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ModelError(f"another nextword process (pid {owner}) is writing the model "
                             f"{dest}; wait for it to end, or train into another --model") from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False  # the previous holder removed it as we opened it: take the new one
        if same:
            if not re.fullmatch(rb"(\d+\n)?", os.pread(fd, 64, 0)):
                os.close(fd)  # someone else's file of that name: never truncate or remove it
                raise ModelError(f"{path} exists and is not nextword's lock file; move it away "
                                 f"to train into {dest}")
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


def swap_in(new: Path, dest: Path, committed: Callable[[], None] = lambda: None) -> None:
    """Put the complete directory `new` at `dest`, atomically for readers where the file
    system allows; the old model (if any) is removed after. `dest` must be absent, an
    empty directory or a model (checked again here: the user may have changed it).
    `committed()` is called as soon as the new model is in place, with Ctrl-C and SIGTERM
    held back until it returns, so the caller always knows whether the swap happened."""
    if os.path.lexists(dest):
        check_destination(dest)
    old = None
    with _signals_held():
        if not os.path.lexists(dest):
            os.rename(new, dest)
        elif _exchange(new, dest):
            old = new  # now holds the old model
        else:
            old = Path(tempfile.mkdtemp(prefix=sibling(dest, "old-"), dir=dest.parent))
            os.rmdir(old)
            os.rename(dest, old)
            try:
                os.rename(new, dest)  # a kill before this line is repaired by recover()
            except BaseException:
                os.rename(old, dest)
                raise
        committed()
    sync_dir(dest.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait (Unix) while the body runs; delivered right after."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        before = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # Windows, or not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def readable_path(dest: Path) -> Path:
    """Where a reader finds the model `dest`: itself, or the old directory a writer set
    aside if it was killed between the two renames of a swap."""
    if is_model_dir(dest) or not _empty_or_absent(dest):
        return dest
    olds = [p for p in _ours(dest, "old") if is_model_dir(p)]
    return max(olds, key=_mtime) if olds else dest


def recover(dest: Path) -> list[str]:
    """Under the writer lock: put back a model a killed writer had set aside, and remove
    the half-written directories and files it left. Returns what was done, for the log."""
    done = []
    olds = sorted((p for p in _ours(dest, "old") if is_model_dir(p)), key=_mtime)
    if olds and _empty_or_absent(dest):
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(dest)  # an empty directory made meanwhile (`mkdir -p`): ours to fill
        os.rename(olds.pop(), dest)
        done.append(f"restored the model {dest} that an interrupted save had set aside")
    if not is_model_dir(dest):
        olds = []  # keep every set-aside model while there is no model at dest
    for leftover in olds + _ours(dest, "tmp|probe|cfg"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        done.append(f"removed {leftover.name}, left by an interrupted run")
    return done


def _empty_or_absent(path: Path) -> bool:
    if not os.path.lexists(path):
        return True
    try:
        return path.is_dir() and not path.is_symlink() and not any(os.scandir(path))
    except OSError:
        return False


def _ours(dest: Path, kinds: str) -> list[Path]:
    """Siblings of `dest` named by nextword (_is_sibling) that hold only model files."""
    try:
        entries = list(os.scandir(dest.parent))
    except OSError:
        return []
    found = []
    for entry in entries:
        if not _is_sibling(dest, entry.name, kinds):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) or (
                    entry.is_dir(follow_symlinks=False) and _model_names(os.listdir(entry.path))):
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
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    # Not supported by this kernel or file system, or refused by a sandbox (seccomp): the
    # two-rename fallback will report a real permission problem itself.
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def sync(path: Path) -> None:
    """Write `path` (a file, or a directory's entries) through to the disk, so that a
    power cut after this keeps it. Windows flushes only through a writable handle: skipped."""
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_dir(path: Path) -> None:
    """Make a rename in `path` durable where the file system can (some cannot sync a
    directory: the rename itself has happened, which is what matters most)."""
    with contextlib.suppress(OSError):
        sync(path)


@contextlib.contextmanager
def work_dir() -> Iterator[Path]:
    """A temporary work folder for the trainer, removed at the end. It holds a locked pid
    file while in use; folders of earlier runs that were killed (whose lock is free, so
    their process is gone, whatever PID namespace it ran in) are removed first."""
    root = Path(tempfile.gettempdir())
    _remove_stale_work_dirs(root)
    path = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=root))
    fd = os.open(path / _PID_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)


def _remove_stale_work_dirs(root: Path) -> None:
    if fcntl is None:
        return  # no way to tell a live run's folder from a dead one's: leave them
    try:
        entries = [e for e in os.scandir(root) if e.name.startswith(WORK_PREFIX) and e.is_dir()]
    except OSError:
        return
    for entry in entries:
        try:
            if time.time() - entry.stat().st_mtime < 60:
                continue  # may be a run that has not locked its pid file yet
            fd = os.open(os.path.join(entry.path, _PID_FILE), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue  # not one of ours, or still being created
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # in use by a live run
        finally:
            os.close(fd)
        shutil.rmtree(entry.path, ignore_errors=True)
