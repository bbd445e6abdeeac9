"""The report layer: every report is a dict, a text, figures and one self-contained HTML page,
written as a folder by one protocol (:class:`~ergodic_ppl.report.base.Report`).

- :mod:`.base` - the protocol (``to_dict``, ``to_text``, ``figures``, ``to_html``, ``write``)
  and what every folder shares: JSON values (numbers or null; ``non_finite`` says which null
  was infinite), PNG rendering, the writable-folder check;
- :mod:`.provenance` - command line, seed, date, package versions and git revision, at the top
  of every ``summary.json``, ``report.txt`` and ``report.html``;
- :mod:`.html` - the one HTML builder; :mod:`.columns` - readable headers with units and what
  an infinite or missing cell means;
- :mod:`.analysis` - :func:`build` -> :class:`AnalysisReport` (``ergodic-ppl analyze``);
- :mod:`.training` - :class:`TrainingReport` (``ergodic-ppl train``).
"""

from .analysis import BASIN_COLUMNS, TEMPERED_COLUMNS, AnalysisReport, build, tempering_lines
from .base import (
    FIGURE_DPI,
    Report,
    check_writable,
    json_document,
    non_finite,
    render_pngs,
    to_jsonable,
)
from .html import STYLE
from .provenance import provenance
from .training import TrainingReport

__all__ = [
    "BASIN_COLUMNS",
    "FIGURE_DPI",
    "STYLE",
    "TEMPERED_COLUMNS",
    "AnalysisReport",
    "Report",
    "TrainingReport",
    "build",
    "check_writable",
    "json_document",
    "non_finite",
    "provenance",
    "render_pngs",
    "tempering_lines",
    "to_jsonable",
]
