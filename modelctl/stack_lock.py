"""One edit of a stack file at a time: ``modelctl release``/``promote`` hold a lock from read to write.

An edit reads the file, plans the stack (seconds) and writes it back. Two runs
on one file at once (two releases of two models, a release and a promote)
would otherwise both read the old text, and the second to write would either
undo the first's edit or, as ``PinChange.write`` checks, give up. With the
lock the second waits for the first and then reads its result: both edits land.

The lock is ``fcntl.flock`` on the folder holding the file's real path (the
target of a symlink), not on the file: the edit replaces the file by a rename,
so a lock on the old inode would not be seen by the next run, and a sidecar
lock file would be one more file in ``stacks/`` to commit or ignore. A lock on
the folder serialises every edit in it, which is what a human reviewing one
change at a time expects anyway.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from modelctl.errors import UsageError

#: Seconds a run waits for another run's edit before giving up; $MODELCTL_LOCK_TIMEOUT overrides it.
DEFAULT_TIMEOUT_SECONDS = 300.0
TIMEOUT_ENV = "MODELCTL_LOCK_TIMEOUT"
_POLL_SECONDS = 0.05


def lock_timeout() -> float:
    value = os.environ.get(TIMEOUT_ENV)
    if not value:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        return max(0.0, float(value))
    except ValueError:
        raise UsageError(f"${TIMEOUT_ENV}: {value!r} is not a number of seconds") from None


@contextmanager
def stack_file_lock(path: Path, *, label: str, timeout: Optional[float] = None) -> Iterator[None]:
    """Hold the edit lock of the stack file at ``path`` (named ``label`` in messages) for the ``with`` block.

    Waits up to ``timeout`` seconds (default: ``lock_timeout()``) for another
    run to finish; then UsageError naming the file.
    """
    folder = path.resolve().parent
    wait = lock_timeout() if timeout is None else timeout
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                raise UsageError(
                    f"{label}: another modelctl release/promote is editing a stack file in {folder} "
                    f"(waited {wait:g}s for its lock): run the command again when it has finished "
                    f"(${TIMEOUT_ENV} sets the wait)"
                )
            time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
