"""Run folders and the records of a training run.

* ``analyze`` and ``sample`` write one folder per model under ``--out``
  (:func:`claim_folders`: one holding an earlier report is refused, or emptied with
  ``overwrite``);
* ``train`` writes one folder, held by a lock file while it runs (:func:`folder_lock`), with its
  checkpoint and, beside it, the records of the run: its settings
  (``<checkpoint>.settings.json``, :func:`claim_run` checks a resumed run against them), its
  log-likelihood evaluations (``<checkpoint>.evaluations.json``) and, once the report folder is
  complete, what it was written with (``<checkpoint>.report.json``).  :func:`run_status` says
  how far a run got.

Every record is written atomically (:func:`ergodic_ppl.atomic.atomic_write_text`: a temporary
file in the same folder, then ``os.replace``), like the checkpoint and the report files, so that
a full disk or an interruption never leaves a truncated one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..atomic import atomic_write_text
from ..learning.checkpoint import changed_settings

__all__ = [
    "CHECKPOINT",
    "RunFolderError",
    "RunStatus",
    "claim_folders",
    "claim_run",
    "clear_train_run",
    "folder_lock",
    "load_evaluations",
    "record_report",
    "report_record",
    "run_settings",
    "run_status",
    "save_evaluations",
]

#: the checkpoint's name in a ``train`` folder
CHECKPOINT = "checkpoint.npz"
LOCK = ".ergodic-ppl.lock"
#: the files a ``train`` report folder holds besides its figures (``summary.json`` lists them)
TRAIN_REPORT_FILES = ("summary.json", "report.txt", "report.html", "idata.nc", "model.npz")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (another run in it, an earlier report, a
    finished run); the CLI reports it on stderr with exit status 2."""


@contextlib.contextmanager
def folder_lock(out: Path):
    """One ``train`` at a time per ``--out``: a lock file made with ``O_EXCL`` while the run
    writes there, removed when it ends (normally, with an error or Ctrl-C)."""
    lock = Path(out) / LOCK
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise RunFolderError(
            f"another `ergodic-ppl train` is writing to {out} (lock file {lock}, "
            f"{lock.read_text(errors='replace').strip() or 'no pid'}): wait for it, or choose "
            "another --out; delete the lock file if no run is active (a killed run leaves it)."
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(f"pid {os.getpid()}\n")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def claim_folders(folders: list[Path], overwrite: bool) -> None:
    """Each run writes a folder of its own: one that holds an earlier report is refused
    (before anything is sampled), or with ``overwrite`` emptied first, so that two runs'
    files never mix."""
    taken = [f for f in folders if f.is_dir() and any(f.iterdir())]
    if taken and not overwrite:
        raise RunFolderError(
            f"{', '.join(map(str, taken))} holds an earlier report: choose another --out, or "
            "pass --overwrite to replace it."
        )
    for folder in taken:
        shutil.rmtree(folder)


def clear_train_run(folder: Path) -> None:
    """Remove what an earlier ``train`` wrote in ``folder`` (``--overwrite``): its checkpoint
    and records, its report files and figures, ``diagnosis/``; nothing else of the folder."""
    folder = Path(folder)
    names = [*TRAIN_REPORT_FILES, CHECKPOINT]
    summary = folder / "summary.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        names += [str(name) for name in json.loads(summary.read_text()).get("figures", [])]
    for name in names:
        path = folder / Path(name).name
        if path.is_file():
            path.unlink()
    for record in folder.glob(f"{CHECKPOINT}.*"):
        record.unlink()
    if (folder / "diagnosis").is_dir():
        shutil.rmtree(folder / "diagnosis")


@contextlib.contextmanager
def checkpoint_path(checkpoint):
    """The checkpoint's path, or a temporary one (removed afterwards) when none is given:
    the segments of training continue each other through it."""
    if checkpoint is not None:
        yield Path(checkpoint)
        return
    with tempfile.TemporaryDirectory(prefix="ergodic-ppl-train-") as folder:
        yield Path(folder) / CHECKPOINT


def run_settings(o: dict, rate: float, model, beta: float, seed: int) -> dict:
    """What a resumed run must share with the run it continues: every resolved option (the
    learning rate as used; ``steps`` sets the cosine schedule's horizon), the model, ``beta``
    and the seed, as JSON values."""
    settings = {**o, "learning_rate": rate, "model": str(model), "beta": beta, "seed": seed}
    return json.loads(json.dumps(settings, default=repr))


def read_record(path: Path, checkpoint: Path):
    """A JSON record kept beside ``checkpoint``; an empty or garbled one is a one-line error,
    worded as for a corrupt checkpoint."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError included
        raise ValueError(
            f"{path}, a record of the run in {checkpoint}, is not readable "
            f"({type(err).__name__}: {err}); it is corrupt. Move the run's files away to start "
            "a new run."
        ) from None


def _record_path(checkpoint: Path, kind: str) -> Path:
    return checkpoint.with_name(f"{checkpoint.name}.{kind}.json")


@dataclasses.dataclass(frozen=True)
class RunStatus:
    """How far the run of a checkpoint got: ``steps`` (its settings' updates; None when not
    recorded), ``evaluated`` (the last step whose log-likelihood is recorded); ``finished``
    when that is the last step: training and its scores are all done."""

    steps: int | None
    evaluated: int

    @property
    def finished(self) -> bool:
        return self.steps is not None and self.evaluated == self.steps


def run_status(checkpoint) -> RunStatus | None:
    """The :class:`RunStatus` of the run at ``checkpoint`` (None: no checkpoint), from its
    records; a garbled record is a ``ValueError`` (:func:`read_record`)."""
    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        return None
    path = _record_path(checkpoint, "settings")
    settings = read_record(path, checkpoint) if path.exists() else {}
    path = _record_path(checkpoint, "evaluations")
    saved = read_record(path, checkpoint) if path.exists() else []
    evaluations = saved.get("evaluations", []) if isinstance(saved, dict) else saved
    last = (
        evaluations[-1].get("step", 0) if evaluations and isinstance(evaluations[-1], dict) else 0
    )
    steps = settings.get("steps") if isinstance(settings, dict) else None
    return RunStatus(
        steps if isinstance(steps, int) else None, last if isinstance(last, int) else 0
    )


def claim_run(checkpoint: Path, resume: bool, settings: dict) -> None:
    """Record a new run's settings beside its checkpoint, or check a resumed run's against
    them: ``resume`` with no checkpoint, or with changed settings, is refused by name, and so
    is a new run over an existing checkpoint."""
    path = _record_path(checkpoint, "settings")
    if checkpoint.exists() and not resume:  # before the settings file is touched
        status = None
        with contextlib.suppress(ValueError):  # a garbled record: "an earlier run"
            status = run_status(checkpoint)
        if status is not None and status.finished:
            raise RunFolderError(
                f"`checkpoint` {checkpoint} holds an earlier run, finished ({status.steps} "
                "updates): resume=True (--resume) reuses it without training again; choose "
                "another path (--out) to train anew."
            )
        raise RunFolderError(
            f"`checkpoint` {checkpoint} holds an earlier run: continue it with resume=True "
            "(--resume), or choose another path (--out)."
        )
    if resume and not checkpoint.exists():
        raise RunFolderError(
            f"resume: there is no checkpoint at {checkpoint} to continue; start a new run "
            "without --resume (resume=False)."
        )
    if resume and path.exists():
        details = changed_settings(read_record(path, checkpoint), settings)
        if details:
            raise RunFolderError(
                f"{checkpoint} belongs to a run with other settings ({details}). Resume it with "
                "the settings it began with, or start a new run in another --out."
            )
        return
    if not resume:
        atomic_write_text(path, json.dumps(settings, indent=1, sort_keys=True))


def load_evaluations(checkpoint: Path, resume: bool, held_out_id: str) -> list[dict]:
    """The log-likelihood evaluations of the run being resumed (none for a new run).  A run
    scored on other held-out rows (another ``--test`` file or split) is refused: its curve
    would mix two data sets."""
    path = _record_path(checkpoint, "evaluations")
    if not (resume and checkpoint.exists() and path.exists()):
        return []
    saved = read_record(path, checkpoint)
    if isinstance(saved, list):  # written before the held-out rows were recorded
        return saved
    if not (isinstance(saved, dict) and {"held_out_sha256", "evaluations"} <= set(saved)):
        raise ValueError(
            f"{path}, a record of the run in {checkpoint}, is not a record of evaluations; it "
            "is corrupt. Move the run's files away to start a new run."
        )
    if saved["held_out_sha256"] != held_out_id:
        raise RunFolderError(
            f"{checkpoint} belongs to a run scored on other held-out rows (another --test file "
            "or split): resume it with the same held-out rows, or start a new --out."
        )
    return saved["evaluations"]


def save_evaluations(checkpoint: Path, evaluations: list[dict], held_out_id: str) -> None:
    record = {"held_out_sha256": held_out_id, "evaluations": evaluations}
    atomic_write_text(_record_path(checkpoint, "evaluations"), json.dumps(record, indent=1))


def report_record(checkpoint: Path) -> dict | None:
    """What the complete report folder of the run at ``checkpoint`` was written with
    (:func:`record_report`), or None: no report, or one not completely written."""
    path = _record_path(Path(checkpoint), "report")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def record_report(checkpoint: Path, record: dict | None) -> None:
    """Record that the report folder is complete (``record``: what it was written with), or,
    with None, forget it before the folder is written again."""
    path = _record_path(Path(checkpoint), "report")
    if record is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True))
