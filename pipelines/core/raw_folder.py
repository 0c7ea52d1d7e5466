"""Walk the raw submission folder without trusting it: names, file types, links, sizes.

Every entry that looks like a submission (a name ending in ``.json``, any case) becomes either bytes to
parse or a quarantine reason; nothing here raises on what is in the folder. Rules:

- Directories are walked (iteratively, so depth cannot exhaust the stack); links to directories are
  not followed and are reported (`not_a_regular_file`, or `symlink_outside_raw`), whatever their name.
- A name that is not valid UTF-8 or holds control characters is `bad_file_name`; its path is stored
  in an escaped, printable form (``\\xff``, ``\\n``).
- A symbolic link is followed only when its target stays inside the raw folder
  (else `symlink_outside_raw`); a dangling or looping link is `broken_symlink`.
- Only regular files are read (a directory named ``x.json``, a fifo, a socket: `not_a_regular_file`),
  opened non-blocking so a fifo swapped in after the check cannot hang the run.
- The size is checked with ``stat`` before reading, and at most ``max_bytes + 1`` bytes are read into
  memory. An oversized file's sha256 is streamed in chunks up to FINGERPRINT_CONTENT_LIMIT (16 MiB);
  above that it is left empty and the file is never read.
- A file that vanishes or cannot be read, or a folder that cannot be listed, is `unreadable`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Above this size the fingerprint hashes size and modification time instead of the bytes: such files
# are quarantined as too large anyway, and reading gigabytes to notice an edit would stall the sensor.
FINGERPRINT_CONTENT_LIMIT = 16 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RawEntry:
    path: str  # relative, '/'-separated, printable (escaped when the name is not clean UTF-8)
    data: bytes | None = None  # the bytes (at most max_bytes + 1) when the entry could be read
    size_bytes: int = 0
    sha256: str = ""  # of an oversized file up to FINGERPRINT_CONTENT_LIMIT, streamed (never held whole)
    reason: str | None = None  # why it cannot be read as a submission
    message: str | None = None


def safe_name(raw: bytes) -> tuple[str, bool]:
    """A printable form of a file name and whether the name was clean (valid UTF-8, no control chars)."""
    try:
        text, clean = raw.decode("utf-8"), True
    except UnicodeDecodeError:
        text, clean = raw.decode("utf-8", "backslashreplace"), False
    escaped = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return escaped, clean and escaped == text


def _is_submission_name(name: bytes) -> bool:
    return name.lower().endswith(b".json")


def _within(path: bytes, root: bytes) -> bool:
    return path == root or path.startswith(root.rstrip(b"/") + b"/")


def _walk(root: bytes) -> Iterator[tuple[bytes, os.DirEntry | None, OSError | None]]:
    """(relative path, entry, listing error) for every entry under root, depth-first in name order."""
    stack: list[bytes] = [b""]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel) if rel else root) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            if rel:  # a sub-folder we cannot list; the root itself failing is the caller's problem
                yield rel, None, e
            continue
        subdirs = []
        for e in entries:
            child = os.path.join(rel, e.name) if rel else e.name
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(child)
            yield child, e, None
        stack.extend(reversed(subdirs))


def raw_entries(root: Path, max_bytes: int) -> list[RawEntry]:
    """Every submission-like entry under root, read (bounded) or with the reason it cannot be."""
    broot = os.fsencode(root)
    real_root = os.path.realpath(broot)
    out = []
    for rel, entry, err in _walk(broot):
        shown, clean = safe_name(rel.replace(os.sep.encode(), b"/"))
        if err is not None:
            out.append(RawEntry(shown, reason="unreadable", message=f"folder cannot be listed: {err.strerror}"))
            continue
        try:
            found = _classify(broot, real_root, rel, entry, max_bytes, shown, clean)
        except OSError as e:  # vanished or changed between listing and reading, permissions, I/O
            found = RawEntry(shown, reason="unreadable", message=f"cannot be read: {e.strerror or e}")
        except Exception as e:  # noqa: BLE001 - a bug of ours must not stop the other files
            found = RawEntry(shown, reason="internal_error", message=f"{type(e).__name__}: {e}")
        if found is not None:
            out.append(found)
    return out


def _classify(broot: bytes, real_root: bytes, rel: bytes, entry: os.DirEntry, max_bytes: int,
              shown: str, clean: bool) -> RawEntry | None:
    full = os.path.join(broot, rel)
    is_link = entry.is_symlink()
    if entry.is_dir(follow_symlinks=False):
        if _is_submission_name(entry.name):
            return RawEntry(shown, reason="not_a_regular_file",
                            message="a directory named like a submission file; its contents are read on their own")
        return None
    if not is_link and not _is_submission_name(entry.name):
        return None  # README, CSV: not submissions
    if is_link:
        target = os.path.realpath(full)
        try:
            st = os.stat(full)
        except OSError as e:
            if not _is_submission_name(entry.name):
                return None
            return RawEntry(shown, reason="broken_symlink", message=f"symbolic link cannot be followed: {e.strerror}")
        if not stat.S_ISDIR(st.st_mode) and not _is_submission_name(entry.name):
            return None
        if not _within(target, real_root):
            return RawEntry(shown, reason="symlink_outside_raw",
                            message=f"symbolic link to {safe_name(target)[0]}, outside the raw folder; "
                            "copy the file in instead")
        if stat.S_ISDIR(st.st_mode):
            return RawEntry(shown, reason="not_a_regular_file",
                            message="symbolic link to a folder; links to folders are not followed")
        full = target  # read what was checked, not whatever the link points to a moment later
    if not clean:
        return RawEntry(shown, reason="bad_file_name",
                        message="file name is not valid UTF-8 or contains control characters; rename the file")
    st = os.stat(full)
    if not stat.S_ISREG(st.st_mode):
        return RawEntry(shown, reason="not_a_regular_file", message=f"not a regular file ({_kind(st.st_mode)})")
    if st.st_size > max_bytes:
        sha = _streamed_sha(full, st) if st.st_size <= FINGERPRINT_CONTENT_LIMIT else ""
        return RawEntry(shown, size_bytes=st.st_size, sha256=sha, reason="file_too_large",
                        message=f"{st.st_size} bytes exceeds the limit of {max_bytes} bytes")
    data = _read_bounded(full, max_bytes + 1)
    if data is None:
        return RawEntry(shown, reason="not_a_regular_file", message="changed into something other than a file")
    return RawEntry(shown, data=data, size_bytes=len(data))


def _streamed_sha(path: bytes, st: os.stat_result) -> str:
    try:
        return _file_digest(path, st).hex()
    except OSError:  # unreadable: the size alone is reason enough
        return ""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "directory")):
        if test(mode):
            return name
    return "special file"


def _read_bounded(path: bytes, limit: int) -> bytes | None:
    # O_NONBLOCK: if a fifo replaced the file after stat, open and read return at once instead of hanging.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, left = [], limit
        while left > 0:
            b = os.read(fd, min(left, _CHUNK))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


def folder_fingerprint(root: Path) -> str:
    """Hash of every entry under root (names, types, link targets, file contents): the raw data version.

    Never follows links and never raises on an entry; regular files are hashed in chunks, and files
    above FINGERPRINT_CONTENT_LIMIT by size and modification time.
    """
    h = hashlib.sha256()
    broot = os.fsencode(root)
    for rel, entry, err in _walk(broot):
        h.update(rel + b"\0")
        if err is not None:
            h.update(b"unlistable\0")
            continue
        full = os.path.join(broot, rel)
        try:
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                h.update(b"link\0" + os.readlink(full) + b"\0")
            elif stat.S_ISREG(st.st_mode):
                h.update(b"file\0" + _file_digest(full, st) + b"\0")
            else:
                h.update(f"{_kind(st.st_mode)}\0".encode())
        except OSError as e:
            h.update(f"error {e.errno}\0".encode())
    return h.hexdigest()


def _file_digest(path: bytes, st: os.stat_result) -> bytes:
    if st.st_size > FINGERPRINT_CONTENT_LIMIT:
        return f"size {st.st_size} mtime {st.st_mtime_ns}".encode()
    d = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        while b := os.read(fd, _CHUNK):
            d.update(b)
    finally:
        os.close(fd)
    return d.digest()
