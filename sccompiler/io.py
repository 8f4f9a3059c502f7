"""Safe file handling at the project's boundary (the promises are listed in docs/reliability.md).

Outputs: :func:`atomic_dir` / :func:`atomic_file` write into a temporary sibling and publish it
with one rename; a failure, ``KeyboardInterrupt`` or (under the CLI) SIGTERM removes the
temporary and leaves the destination untouched.  Without ``force`` the destination is claimed
atomically (exclusive ``mkdir`` / hard link), so a path that appears while the body runs is never
replaced: the loser gets :class:`OutputExistsError`.  Symlink policy: an output path that is a
symlink (even a dangling one) counts as existing; with ``force`` the link itself is replaced,
never the file or directory it points to.  Parent directories may be symlinks.

Inputs: :func:`regular_file`, :func:`read_json`, :func:`load_npy` and :class:`SafeNpz` refuse
non-regular files (FIFOs, devices), oversized files, undecodable text, deeply nested JSON and
NPZ/NPY headers that declare more data than the file holds; NPZ members are read lazily, so a
member nobody references is never decompressed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import stat
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import InputFileError, LimitError, OutputExistsError, OutputPathError, SCCError

#: the largest JSON/text file read (bytes)
MAX_TEXT_BYTES = 256 << 20
#: the largest single array read from an .npy/.npz (bytes); SCC_MAX_ARRAY_BYTES overrides it
MAX_ARRAY_BYTES = 4 << 30


def max_array_bytes() -> int:
    env = os.environ.get("SCC_MAX_ARRAY_BYTES")
    return int(env) if env and env.isdigit() else MAX_ARRAY_BYTES


def _exists(p: Path) -> bool:
    return os.path.lexists(p)


def _output_error(p: Path, exc: OSError) -> OutputPathError:
    return OutputPathError(f"{p}: cannot write the output here ({exc.strerror or exc})")


def check_writable(path: str | os.PathLike, force: bool) -> Path:
    """Raise :class:`OutputExistsError` if ``path`` exists (a symlink counts) and ``force`` is
    false, :class:`OutputPathError` if a parent is not a directory."""
    p = Path(path)
    if _exists(p) and not force:
        raise OutputExistsError(f"{p} already exists; use --force to overwrite it")
    for parent in Path(os.path.abspath(p)).parents:
        if _exists(parent):
            if not parent.is_dir():
                raise OutputPathError(f"{p}: cannot write the output here ({parent} is not a directory)")
            break
    return p


def _prepare(path: str | os.PathLike, force: bool) -> Path:
    target = Path(os.path.abspath(check_writable(path, force)))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _output_error(target, exc) from None
    return target


#: signals whose Python handlers are held back while a temporary is created or an output published
_DEFERRED = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP pending (at the OS level) during a step that must not be cut in
    two: creating a temporary (else its name is lost and it outlives the run) and publishing an
    output (else ``--force`` could leave the old one moved aside and no new one).  The handler
    runs right after the block."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")


def _appeared(target: Path) -> OutputExistsError:
    return OutputExistsError(f"{target} appeared while this output was being written; "
                             "it was left untouched (use --force to overwrite it)")


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            p.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; on success it is renamed to ``path``.

    Without ``force`` the destination is reserved only when the body has finished, with an
    exclusive ``mkdir`` (fails if anything appeared at ``path`` meanwhile), and the temporary is
    renamed onto that empty reservation (fails if something was put inside it): an output that
    appeared while the body ran is never replaced.  If the body raises (KeyboardInterrupt and
    SystemExit included), the temporary directory is removed and ``path`` is untouched.
    """
    target = _prepare(path, force)
    tmp: Path | None = None
    try:
        # the try encloses the deferred blocks: a signal handled as they end still finds ``tmp``
        with _signals_deferred():
            # the name is chosen (and held in ``tmp``) before the directory exists, so a signal
            # handled at any point (another thread may take it despite the mask) finds it
            for _ in range(100):
                tmp = _temp_name(target)
                try:
                    os.mkdir(tmp, 0o700)
                    break
                except FileExistsError:
                    continue
                except OSError as exc:
                    tmp = None
                    raise _output_error(target, exc) from None
        yield tmp
        with _signals_deferred():
            _publish_dir(tmp, target, force)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish_dir(tmp: Path, target: Path, force: bool) -> None:
    """Rename ``tmp`` to ``target`` (see :func:`atomic_dir`) or raise, leaving nothing of ours
    at ``target``."""
    if not force:
        try:
            os.mkdir(target)
        except FileExistsError:
            raise _appeared(target) from None
        except OSError as exc:
            raise _output_error(target, exc) from None
        try:
            os.rename(tmp, target)              # onto our own empty reservation only
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise _appeared(target) from None   # somebody wrote into it: leave it alone
            with contextlib.suppress(OSError):
                os.rmdir(target)
            raise _output_error(target, exc) from None
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")    # this process's own name
    try:
        if _exists(target):
            os.replace(target, old)
        os.replace(tmp, target)
    except BaseException:
        if _exists(old) and not _exists(target):
            os.replace(old, target)             # put the previous output back
        raise
    if _exists(old):
        _remove(old)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, force: bool = False, mode: str = "w") -> Iterator:
    """Open a temporary file next to ``path`` for writing; publish it as ``path`` on success.

    Without ``force`` it is published with a hard link, which fails if ``path`` appeared
    meanwhile (nothing is replaced); with ``force`` it is renamed over ``path``.
    """
    target = _prepare(path, force)
    tmp: Path | None = None
    try:
        with _signals_deferred():
            for _ in range(100):
                tmp = _temp_name(target)
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    break
                except FileExistsError:
                    continue
                except OSError as exc:
                    tmp = None
                    raise _output_error(target, exc) from None
        with os.fdopen(fd, mode) as fh:
            yield fh
        with _signals_deferred():
            if force:
                os.replace(tmp, target)
            else:
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    raise _appeared(target) from None
                except OSError as exc:
                    raise _output_error(target, exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


# ----------------------------------------------------------------------------------- inputs


def regular_file(path: str | os.PathLike, what: str, error: type[SCCError] = InputFileError,
                 max_bytes: int | None = None) -> Path:
    """``path`` as a Path if it is a regular file (symlinks followed) of at most ``max_bytes``;
    else ``error`` naming ``what``.  FIFOs, devices and directories are refused without opening."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        raise error(f"{what} {p}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {p}: not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(f"{what} {p}: {st.st_size:,} bytes exceeds the limit of {max_bytes:,} bytes")
    return p


def read_range_inside(base: str | os.PathLike, relative: str, offset: int, length: int | None, what: str,
                      error: type[SCCError] = InputFileError, max_bytes: int | None = None) -> bytes:
    """``length`` bytes at ``offset`` of the file ``relative`` to the directory ``base`` (to its end
    when ``length`` is None).  The path must be relative, without ``..`` components, and resolve
    (symlinks followed) to a regular file inside ``base``; the range must lie within the file and
    hold at most ``max_bytes`` (default :func:`max_array_bytes`).  Used for ONNX external data."""
    limit = max_array_bytes() if max_bytes is None else max_bytes
    rel = str(relative)
    parts = rel.replace("\\", "/").split("/")
    if (not rel or "\x00" in rel or os.path.isabs(rel) or rel.startswith(("/", "\\")) or ":" in parts[0]
            or ".." in parts):
        raise error(f"{what}: location {rel!r} must be a relative path inside {base} (no '..', not absolute)")
    root = os.path.realpath(base)
    target = os.path.realpath(os.path.join(root, rel))
    if os.path.commonpath([root, target]) != root:
        raise error(f"{what}: location {rel!r} resolves to {target}, outside {root}")
    p = regular_file(target, what, error)
    size = os.stat(p).st_size
    bad_length = length is not None and (not isinstance(length, int) or length < 0)
    if not isinstance(offset, int) or offset < 0 or bad_length:
        raise error(f"{what}: offset {offset!r} / length {length!r} must be non-negative integers")
    want = size - offset if length is None else length
    if offset > size or offset + want > size:
        raise error(f"{what}: {rel} holds {size:,} bytes; the range {offset:,}+{want:,} lies beyond its end")
    if want > limit:
        raise error(f"{what}: {want:,} bytes exceeds the limit of {limit:,} bytes")
    with open(p, "rb") as fh:
        fh.seek(offset)
        data = fh.read(want)
    if len(data) != want:  # pragma: no cover - the file shrank while being read
        raise error(f"{what}: {rel} changed while being read")
    return data


def read_text(path: str | os.PathLike, what: str, error: type[SCCError] = InputFileError) -> str:
    """A regular UTF-8 text file of at most :data:`MAX_TEXT_BYTES`."""
    p = regular_file(path, what, error, MAX_TEXT_BYTES)
    try:
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {p}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise error(f"{what} {p}: cannot read ({exc.strerror or exc})") from None


def parse_json(text: str, where: str, error: type[SCCError] = InputFileError, finite: bool = True) -> Any:
    """``json.loads`` with one-line errors (malformed, too deeply nested; with ``finite`` the
    constants NaN/Infinity are refused too)."""
    def no_constants(name: str):
        raise ValueError(f"non-finite number {name}")
    try:
        return json.loads(text, parse_constant=no_constants if finite else None)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply") from None
    except ValueError as exc:
        raise error(f"{where}: {exc}") from None


def read_json(path: str | os.PathLike, what: str, error: type[SCCError] = InputFileError,
              kind: type | None = None, finite: bool = True) -> Any:
    """A JSON file (see :func:`read_text`, :func:`parse_json`); ``kind``: the required top-level type."""
    data = parse_json(read_text(path, what, error), f"{what} {path}", error, finite)
    if kind is not None and not isinstance(data, kind):
        raise error(f"{what} {path}: top level must be a JSON {'object' if kind is dict else kind.__name__}, "
                    f"got {type(data).__name__}")
    return data


def _check_header(fh, name: str, available: int, error: type[SCCError], where: str,
                  label: str = ".npy array") -> None:
    """Read an .npy header from ``fh``; refuse object dtypes and sizes beyond the file or the limit."""
    try:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(fh)
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises ValueError, SyntaxError, TokenError, ...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{where}: {name}: unreadable {label} ({msg})") from None
    if dtype.hasobject:
        raise error(f"{where}: {name}: object arrays (pickles) are refused")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if nbytes > max_array_bytes():
        raise LimitError(f"{where}: {name}", nbytes, max_array_bytes(), "bytes")
    if nbytes > available:
        raise error(f"{where}: {name}: header declares {nbytes:,} bytes but only {available:,} are stored")


def load_npy(path: str | os.PathLike, what: str, error: type[SCCError] = InputFileError) -> np.ndarray:
    """An .npy array (no pickles), its header checked before anything is allocated."""
    p = regular_file(path, what, error)
    size = p.stat().st_size
    if size == 0:
        raise error(f"{what} {p}: empty file (0 bytes), not a .npy array")
    try:
        with open(p, "rb") as fh:
            _check_header(fh, p.name, size, error, what)
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise error(f"{what} {p}: cannot read a .npy array ({str(exc).splitlines()[0] if str(exc) else exc})") from None


class SafeNpz:
    """A read-only mapping over an .npz: members are decompressed only when accessed, after
    their header is checked (no pickles, declared size within the member and the limit).
    Use as a context manager."""

    def __init__(self, path: str | os.PathLike, what: str, error: type[SCCError] = InputFileError) -> None:
        self.path = regular_file(path, what, error)
        self.what, self.error = what, error
        try:
            self.zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise error(f"{what} {self.path}: unreadable NPZ ({exc})") from None
        self.members = {n[:-4]: info for info in self.zip.infolist()
                        if (n := info.filename).endswith(".npy")}

    def __enter__(self) -> "SafeNpz":
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    @property
    def files(self) -> list[str]:
        return list(self.members)

    def __contains__(self, key: object) -> bool:
        return key in self.members

    def __iter__(self):
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, key: str) -> np.ndarray:
        info = self.members[key]
        where = f"{self.what} {self.path}"
        try:
            with self.zip.open(info) as fh:
                _check_header(fh, info.filename, info.file_size, self.error, where, "NPZ member")
            with self.zip.open(info) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False)
        except SCCError:
            raise
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, NotImplementedError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise self.error(f"{where}: member {info.filename}: unreadable ({msg})") from None

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def keys(self):
        return self.members.keys()
