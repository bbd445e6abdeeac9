"""The ``train`` workflow: data (a file, or scikit-learn's digits) and a model specification
trained into one report folder that also holds the run's checkpoint and records
(:func:`run_train`).

The folder is held by a lock file while the run writes there.  A new run into a folder that
holds a run is refused before anything is written: an unfinished one is continued with
``resume``; a finished one (every update done and scored) is named as finished, with its
report.  ``resume`` on a finished run trains nothing: when its report folder is complete (and
was written with the same data, held-out rows, name and mixture choice) nothing is redone and
the report's summary is returned; otherwise the report is written again from the checkpoint
and the recorded log-likelihoods (the diagnosis and the mixture, which are not recorded, are
run again: same seed, same result).  ``overwrite`` removes what an earlier run wrote there
and trains anew.  Every file is written atomically (the checkpoint, the records, each report
file), so a failed write (``OSError``: a full disk) leaves the checkpoint valid and no
truncated file; ``resume`` then finishes the run and writes the report.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..report import check_writable, provenance
from . import runs
from .models import train_model
from .train import TrainingPlan, plan_training, train_planned

__all__ = ["TrainRun", "run_train"]

#: files whose presence, with the report record, makes a ``train`` report folder complete
REPORT_MARKERS = ("summary.json", "report.txt", "report.html")


@dataclasses.dataclass(frozen=True)
class TrainRun:
    """A ``train`` run: its ``name`` (the data's), the ``folder``, its ``summary``
    (``summary.json``), whether the report was ``written`` now (False: the folder already held
    this finished run's complete report) and the :class:`~ergodic_ppl.report.TrainingReport`
    (None when nothing was redone)."""

    name: str
    folder: Path
    summary: dict
    written: bool
    report: object = None


def run_train(data=None, *, model: str = "pairwise", out="ergodic-ppl-train", test=None,
              image_shape=None, resume: bool = False, overwrite: bool = False,
              mixture: bool = True, seed: int = 0, progress: bool = True, command_line=None,
              stage=None, **options) -> TrainRun:  # fmt: skip
    """Train on ``data`` (a path read by ``ep.datasets.load``; None: the digits, drawn as
    8x8 images) into the folder ``out`` (module docstring).

    ``model``: ``"pairwise"``, ``"rbm:H"`` or a model file (``.py``) whose one
    ``BoltzmannSpins`` site gives the initial model and beta.  ``test``: a file of held-out
    rows.  ``command_line``: the provenance's command.  ``stage``: called with a one-line
    message at the start of every stage.  ``options``: overrides of
    :data:`~ergodic_ppl.pipeline.DEFAULTS`.  Ctrl-C (``KeyboardInterrupt``) and failed writes
    (``OSError``) propagate, the checkpoint left valid."""
    if resume and overwrite:
        raise ValueError("`resume` (--resume) and `overwrite` (--overwrite) exclude each other.")
    folder = check_writable(out)
    with runs.folder_lock(folder):
        return _train_locked(data, model, folder, test, image_shape, resume, overwrite, mixture,
                             seed, progress, command_line, stage, options)  # fmt: skip


def _train_locked(data, model, folder: Path, test, image_shape, resume, overwrite, mixture, seed,
                  progress, command_line, stage, options) -> TrainRun:  # fmt: skip
    """:func:`run_train` once the folder is locked."""
    from .. import datasets

    say = stage or (lambda message: None)
    if data is None:
        x, name, source, shape = datasets.digits(), "digits", "scikit-learn digits", (8, 8)
    else:
        x, name, source, shape = datasets.load(data), Path(data).stem, str(data), None
    spec, beta = train_model(model)
    held = None if test is None else datasets.load(test)
    plan = plan_training(x, model=spec, beta=beta, image_shape=image_shape or shape, name=name,
                         source=source, seed=seed, mixture=mixture, test=held,
                         **options)  # fmt: skip
    checkpoint = folder / runs.CHECKPOINT
    if overwrite:
        runs.clear_train_run(folder)
    elif not resume:
        _refuse_finished(folder, checkpoint)  # an unfinished run: refused by the claim
    else:
        done = _complete(folder, checkpoint, plan, say)
        if done is not None:
            return done
    report = train_planned(plan, checkpoint=checkpoint, resume=resume, progress=progress,
                           stage=stage)  # fmt: skip
    say(f"writing the report to {folder}")
    report.provenance = provenance(command=command_line, seed=seed)
    runs.record_report(checkpoint, None)  # complete again only once written
    report.write(folder)
    runs.record_report(checkpoint, _report_record(plan))
    return TrainRun(name, folder, _summary(folder), True, report)


def _report_record(plan: TrainingPlan) -> dict:
    """What a complete report folder was written with, besides the run's settings."""
    record = {"steps": plan.options["steps"], "held_out_sha256": plan.held_out_id,
              "name": plan.name, "source": plan.source, "image_shape": plan.image_shape,
              "mixture": plan.mixture}  # fmt: skip
    return json.loads(json.dumps(record))


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def _report_complete(folder: Path, checkpoint: Path) -> bool:
    return runs.report_record(checkpoint) is not None and all(
        (folder / name).is_file() for name in REPORT_MARKERS
    )


def _refuse_finished(folder: Path, checkpoint: Path) -> None:
    """A new run over a finished one: refused, saying so and where its report is."""
    try:
        status = runs.run_status(checkpoint)
    except ValueError:  # a garbled record: the claim refuses "an earlier run"
        return
    if status is None or not status.finished:
        return
    head = f"--out {folder} holds a finished run ({status.steps} updates)"
    if _report_complete(folder, checkpoint):
        head += f"; its report is {folder / 'report.html'} (summary.json beside it)"
        resume = "prints its results again without training"
    else:
        head += " whose report was not completely written"
        resume = "writes the report without training again"
    raise runs.RunFolderError(
        f"{head}. --resume (same settings) {resume}; --overwrite trains a new run in its "
        "place; or choose another --out."
    )


def _complete(folder: Path, checkpoint: Path, plan: TrainingPlan, say) -> TrainRun | None:
    """``resume`` on a finished run whose complete report was written with these settings,
    data and held-out rows: nothing to redo (its :class:`TrainRun`); else None."""
    status = runs.run_status(checkpoint)
    if status is None or not status.finished:
        return None
    runs.claim_run(checkpoint, True, plan.settings)  # changed settings: refused by name
    runs.load_evaluations(checkpoint, True, plan.held_out_id)  # other held-out rows: refused
    if not _report_complete(folder, checkpoint):
        return None
    if runs.report_record(checkpoint) != _report_record(plan):
        return None  # written with other data, name or mixture choice: written again
    say(f"{folder}: the run is finished and its report complete; nothing to redo")
    return TrainRun(plan.name, folder, _summary(folder), False)
