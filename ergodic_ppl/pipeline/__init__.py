"""The workflows of the ``ergodic-ppl`` command, as functions of plain Python arguments
(``ergodic_ppl.cli`` only parses arguments, calls one of them and prints what it returns).

* :func:`run_analyze` / :func:`run_sample` (:mod:`.analyze`): sample a model file or the
  embedded default, diagnose it and write a report folder per model;
* :func:`train_and_report` (:mod:`.train`): the whole loop on a data set - split, persistent-
  chain training with a checkpoint, held-out log-likelihood, diagnosis, basin graph, per-basin
  mixture, samples - as a :class:`TrainingReport`; its recipes :data:`DEFAULTS` and
  :data:`RBM_DEFAULTS` (:mod:`.options`), its scores (:mod:`.scoring`);
* :func:`run_train` (:mod:`.train_folder`): ``train_and_report`` into a report folder that
  holds the run's checkpoint and records (:mod:`.runs`): locked while it runs, continued with
  ``resume``, a finished run not trained again;
* :mod:`.models`: the embedded default models, model files, :func:`parse_model`.
"""

from ..report.training import TrainingReport
from .analyze import RunResult, run_analyze, run_sample
from .models import ModelFileError, parse_model
from .options import DEFAULTS, RBM_DEFAULTS, default_learning_rate
from .runs import RunFolderError
from .scoring import mixture_verdict
from .train import train_and_report
from .train_folder import TrainRun, run_train

__all__ = [
    "DEFAULTS",
    "RBM_DEFAULTS",
    "ModelFileError",
    "RunFolderError",
    "RunResult",
    "TrainRun",
    "TrainingReport",
    "default_learning_rate",
    "mixture_verdict",
    "parse_model",
    "run_analyze",
    "run_sample",
    "run_train",
    "train_and_report",
]
