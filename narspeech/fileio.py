"""Atomic writes and Kaldi-style tables (`key value…` per line, sorted, unique keys).

Every writer goes through :func:`atomic_write`: the output appears under its final
name only when complete, so an interrupted stage never leaves a file a later stage
would trust.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterable, Iterator, Mapping

from narspeech.errors import NarspeechError, unwritable_message
from narspeech.signals import pid_alive

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success only."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as e:
        msg = unwritable_message(e)
        if msg is None:
            raise
        raise NarspeechError(msg, path=e.filename or path.parent) from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing; it replaces `path` only if the block succeeds."""
    with atomic_path(path) as tmp:
        kw = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kw) as f:
            yield f


_BOM = b"\xef\xbb\xbf"


def read_text_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, line ends stripped; a leading UTF-8 BOM is dropped.

    Bytes that are not UTF-8 raise :class:`NarspeechError` naming the file, line and byte
    (not a ``UnicodeDecodeError`` traceback). Lines end at ``\\n`` (``\\r\\n`` too), as Kaldi reads them.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NarspeechError("file not found", path=path) from None
    except IsADirectoryError:
        raise NarspeechError("is a directory, expected a text file", path=path) from None
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        n = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise NarspeechError(f"line {n}: not UTF-8 text (byte 0x{data[e.start]:02x} at column {col}); "
                             "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)", path=path) from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_table(path: str | Path, *, allow_empty_value: bool = False, check_sorted: bool = True) -> dict[str, str]:
    """Read a Kaldi table into an (insertion-ordered) dict ``key -> rest of line``.

    Raises :class:`NarspeechError` naming the file and line for a duplicated or
    unsorted key, or an empty value unless `allow_empty_value`.
    """
    path = Path(path)
    if not path.is_file():
        raise NarspeechError("file not found", path=path)
    table: dict[str, str] = {}
    prev = None
    for n, line in enumerate(read_text_lines(path), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)  # Kaldi: any whitespace separates the id from the rest
        key, value = parts[0], parts[1].strip() if len(parts) > 1 else ""
        if key in table:
            raise NarspeechError(f"line {n}: duplicated id", utt=key, path=path)
        if check_sorted and prev is not None and key < prev:
            raise NarspeechError(f"line {n}: ids not sorted ({key} after {prev}); run `narspeech data fix` or sort it with LC_ALL=C sort", utt=key, path=path)
        if not value and not allow_empty_value:
            raise NarspeechError(f"line {n}: empty value", utt=key, path=path)
        table[key] = value
        prev = key
    return table


def write_table(path: str | Path, table: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """Write ``key value`` lines sorted by key (C-locale order), atomically."""
    items = table.items() if isinstance(table, Mapping) else table
    with atomic_write(path) as f:
        for key, value in sorted(items, key=lambda kv: kv[0]):
            f.write(f"{key} {value}\n")


def spk2utt_from_utt2spk(utt2spk: Mapping[str, str]) -> dict[str, str]:
    """Invert utt2spk into spk2utt values (space-joined utterance ids, sorted)."""
    out: dict[str, list[str]] = {}
    for utt, spk in sorted(utt2spk.items()):
        out.setdefault(spk, []).append(utt)
    return {spk: " ".join(utts) for spk, utts in out.items()}


def lock_path_for(target: str | Path) -> Path:
    """The lock file of an output folder: ``.NAME.lock`` beside it (it survives a swap of the folder)."""
    target = Path(target).absolute()
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def dir_lock(target: str | Path, what: str = "another run") -> Iterator[Path]:
    """Hold an exclusive lock on the output folder `target` for the block; fail fast if taken.

    The lock is an ``flock`` on ``.NAME.lock`` beside `target`, which holds the owner's pid
    and command: the kernel drops it when its process dies (even by SIGKILL), so a lock
    file left by a dead process is simply taken over. A live holder gives a
    :class:`NarspeechError` naming its pid. A lock whose recorded owner is dead but whose file is
    still held (children that inherited it outlived their parent) is taken over too: the file is
    replaced by a new one.
    """
    import fcntl

    lock = lock_path_for(target)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        except OSError as e:
            msg = unwritable_message(e)
            if msg is None:
                raise
            raise NarspeechError(msg, path=lock.parent) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").split("\n", 1)[0].strip()
            os.close(fd)
            if _holder_dead(holder):  # held only by processes that outlived it (inherited fd): take it over
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(lock)
                continue
            raise NarspeechError(f"locked by {what} ({holder or 'pid unknown'}); wait for it to finish or stop it "
                                 f"(lock file {lock})", path=Path(target)) from None
        try:  # the file we locked may have been removed by its previous owner meanwhile: retry then
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}\n".encode(), 0)
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def _holder_dead(holder: str) -> bool:
    """Whether the ``pid N: …`` line of a lock file names a process that no longer exists."""
    head = holder.split(":", 1)[0].split()
    if len(head) != 2 or head[0] != "pid" or not head[1].isdigit():
        return False
    pid = int(head[1])
    return pid != os.getpid() and not pid_alive(pid)
