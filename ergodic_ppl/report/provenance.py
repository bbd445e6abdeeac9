"""Where a report came from: the command line, seed, date, package versions and git revision,
at the top of every report (``summary.json``, ``report.txt``, ``report.html``), in a form to
paste into a paper's supplement."""

from __future__ import annotations

import functools
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["PACKAGES", "git_revision", "provenance", "provenance_lines", "versions"]

#: the packages whose versions every report records (with Python's)
PACKAGES = ("ergodic_ppl", "jax", "jaxlib", "numpyro", "arviz", "numpy", "networkx", "matplotlib")


def _version(name: str) -> str:
    from importlib import metadata

    for dist in (name, name.replace("_", "-")):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    module = sys.modules.get(name)
    return str(getattr(module, "__version__", "not installed"))


def versions() -> dict[str, str]:
    """``{package: version}`` of :data:`PACKAGES` and ``python``."""
    out = {name: _version(name) for name in PACKAGES}
    out["python"] = platform.python_version()
    return out


@functools.cache
def git_revision() -> dict:
    """``{"revision": sha or "unknown", "local_changes": bool or None}`` of the git checkout
    that holds this package (``git rev-parse HEAD`` there); "unknown" when the package is not
    in a checkout of its own (an installed wheel) or git is missing."""
    root = Path(__file__).resolve().parents[2]
    unknown = {"revision": "unknown", "local_changes": None}

    def git(*args):
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        top = git("rev-parse", "--show-toplevel")
        if top is None or Path(top).resolve() != root:
            return unknown
        sha = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return unknown
    if not sha:
        return unknown
    return {"revision": sha, "local_changes": None if status is None else bool(status)}


def provenance(*, command=None, seed=None) -> dict:
    """The provenance record of a report.

    ``command``: the command line (a string, or an argument list such as
    ``["ergodic-ppl", "analyze", ...]``); by default this process's ``sys.argv``.  ``seed``:
    the run's seed (None when the report was built from draws made elsewhere).
    """
    if command is None:  # a script or notebook: what Python was given
        argv = [a for a in sys.argv if a] or ["(interactive)"]
        named = Path(argv[0]).name == "ergodic-ppl"
        command = ["ergodic-ppl", *argv[1:]] if named else ["python", *argv]
    if not isinstance(command, str):
        command = shlex.join(str(c) for c in command)
    git = git_revision()
    record = {
        "command": command,
        "seed": seed,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_revision": git["revision"],
        "git_local_changes": git["local_changes"],
        "versions": versions(),
        "platform": platform.platform(),
    }
    if "jax" in sys.modules:  # the backend that ran the chains
        record["jax_backend"] = sys.modules["jax"].default_backend()
    return record


def provenance_lines(record: dict) -> list[str]:
    """The record as a few lines of text (``report.txt``, the HTML page's ``<pre>`` block)."""
    v = record.get("versions", {})
    git = record.get("git_revision", "unknown")
    if record.get("git_local_changes"):
        git += " (with uncommitted changes)"
    seed = record.get("seed")
    return [
        f"command:  {record.get('command', 'unknown')}",
        f"seed:     {'not recorded' if seed is None else seed}",
        f"date:     {record.get('date', 'unknown')}",
        f"git:      {git}",
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"platform: {record.get('platform', 'unknown')}"
        + (f", JAX backend {record['jax_backend']}" if "jax_backend" in record else ""),
    ]
