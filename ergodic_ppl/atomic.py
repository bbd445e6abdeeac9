"""Writes that never leave a half-written file: a temporary file beside the target, moved onto
it with ``os.replace`` (atomic on POSIX and Windows) only when the write finished.

One home for the checkpoint (:func:`ergodic_ppl.learning.checkpoint.save_checkpoint`) and the
run records and summaries of :mod:`ergodic_ppl.pipeline`: a full disk or Ctrl-C leaves the
previous file, never a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path in ``path``'s folder to write; moved onto ``path`` (``os.replace``)
    when the block ends normally, removed when it raises (a full disk: ``OSError``)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
