"""Private file modes (issue 14): the database (its -wal and -shm follow its mode), the
rate-limit file, exports and instance files are created 0600, so that password hashes
and answers are not world-readable; 0640 with ``TRUSTMETER_GROUP_READABLE=1`` (e.g. for
a backup user in the service's group). Existing files keep their mode."""

from __future__ import annotations

import contextlib
import os

GROUP_READABLE_ENV = "TRUSTMETER_GROUP_READABLE"


def private_mode() -> int:
    """0600, or 0640 when ``$TRUSTMETER_GROUP_READABLE`` is 1/true/yes."""
    group = os.environ.get(GROUP_READABLE_ENV, "").strip().lower() in ("1", "true", "yes")
    return 0o640 if group else 0o600


def create_private(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty with :func:`private_mode` unless it exists (SQLite then
    gives its -wal, -shm and journal files the same mode)."""
    mode = private_mode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fchmod(fd, mode)  # exactly this mode, whatever the umask
    finally:
        os.close(fd)
