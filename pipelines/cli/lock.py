"""One `run` or `refresh` at a time per assets folder: a second one waits, and says for whom.

An OS file lock (flock) is released by the kernel when its holder exits, even on kill -9, so a
crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def assets_lock(assets_dir: Path, echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
                wait: bool = True) -> Iterator[None]:
    assets_dir.mkdir(parents=True, exist_ok=True)
    path = assets_dir / ".xpertbench.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            if not wait:
                raise RuntimeError(f"another xpertbench run ({holder}) is using {assets_dir}") from None
            echo(f"[xpertbench] another run ({holder}) is using {assets_dir}; waiting for it to finish "
                 "(Ctrl-C to give up)")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
