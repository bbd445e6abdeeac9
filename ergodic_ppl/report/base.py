"""The one protocol of every report: :class:`Report` (``to_dict``, ``to_text``, ``figures``,
``to_html``, ``write``), and what every report folder shares: JSON values, PNG rendering and
the writable-folder check.

JSON convention (every ``summary.json``): numeric fields are JSON numbers or ``null``, never
strings.  A ``null`` that stands for a non-finite number is listed in the document's
``non_finite`` entry, ``{JSON pointer (RFC 6901): "inf" | "-inf" | "nan"}``, so
``/basins/0/barrier: "inf"`` says that basin 0's barrier is infinite (no chain was seen to
leave it); any other ``null`` means "not available".  The document's ``conventions`` entry
says so in words.
"""

from __future__ import annotations

import abc
import base64
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "FIGURE_DPI",
    "NUMBERS_CONVENTION",
    "Report",
    "check_writable",
    "json_document",
    "non_finite",
    "render_pngs",
    "to_jsonable",
]

FIGURE_DPI = 110
NUMBERS_CONVENTION = (
    "Numeric fields are JSON numbers or null, never strings. A null that stands for a "
    "non-finite value is listed under `non_finite` by its JSON pointer (RFC 6901) with "
    "'inf', '-inf' or 'nan' (e.g. an infinite barrier: no chain was seen to leave the basin; "
    "a NaN R-hat: a constant, uninformative observable); any other null means 'not available'."
)


def to_jsonable(x):
    """``x`` with NumPy scalars/arrays as Python values and non-finite floats as ``None``.

    Dict keys become strings.  Which ``None`` was ``inf``, ``-inf`` or ``nan`` is what
    :func:`non_finite` lists (:func:`json_document` adds it to a document).

    >>> to_jsonable({"r": np.float64("inf"), 1: np.arange(2)})
    {'r': None, '1': [0, 1]}
    """
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        x = float(x)
        return x if np.isfinite(x) else None
    return x


def _pointer_token(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def non_finite(x, pointer: str = "") -> dict[str, str]:
    """``{JSON pointer: "inf" | "-inf" | "nan"}`` of every non-finite number in ``x``.

    >>> non_finite({"rhat": {"m": float("nan")}, "b": [1.0, -np.inf]})
    {'/rhat/m': 'nan', '/b/1': '-inf'}
    """
    out = {}
    if isinstance(x, dict):
        for k, v in x.items():
            out.update(non_finite(v, f"{pointer}/{_pointer_token(k)}"))
    elif isinstance(x, list | tuple | np.ndarray):
        for i, v in enumerate(x.tolist() if isinstance(x, np.ndarray) else x):
            out.update(non_finite(v, f"{pointer}/{i}"))
    elif isinstance(x, float | np.floating) and not np.isfinite(x):
        out[pointer] = "nan" if np.isnan(x) else ("inf" if x > 0 else "-inf")
    return out


def json_document(d: dict) -> dict:
    """``d`` as a ``summary.json`` document: :func:`to_jsonable`, with ``non_finite`` (what
    each ``null`` of a non-finite number was) and ``conventions`` (the module docstring)."""
    doc = to_jsonable({k: v for k, v in d.items() if k not in ("non_finite", "conventions")})
    doc["non_finite"] = non_finite(d)
    doc["conventions"] = {"numbers": NUMBERS_CONVENTION}
    return doc


def check_writable(folder) -> Path:
    """Create ``folder`` and check a file can be written there; ``ValueError`` otherwise.

    Called before sampling, so that a bad ``--out`` fails at once rather than after the run.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".ergodic-ppl-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ValueError(
            f"the output folder `--out {folder}` is not writable ({exc.strerror or exc}); "
            "choose another folder."
        ) from exc
    return folder


def render_pngs(figures: dict, folder: Path | None = None, dpi: int = FIGURE_DPI) -> dict:
    """``{name: base64 PNG}`` of ``{name: Figure}`` (each closed once rendered), also written
    as ``folder / name`` when ``folder`` is given: the embedded images of a report page."""
    import matplotlib.pyplot as plt

    images = {}
    for name, fig in figures.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
        if folder is not None:
            (Path(folder) / name).write_bytes(buf.getvalue())
        images[name] = base64.b64encode(buf.getvalue()).decode("ascii")
    return images


class Report(abc.ABC):
    """The one protocol of a report (:class:`~ergodic_ppl.report.AnalysisReport`,
    :class:`~ergodic_ppl.report.TrainingReport`).

    A report is a dict (:meth:`to_dict`, JSON-safe, provenance first), a text
    (:meth:`to_text`, provenance first), figures (:meth:`figures`) and one self-contained
    HTML page (:meth:`to_html`, built by :mod:`ergodic_ppl.report.html` from
    :meth:`html_sections`).  :meth:`write` makes the folder every report has -
    ``summary.json``, ``report.txt``, ``report.html`` and the PNG figures - then the files of
    its own kind (:meth:`write_extra`).  Subclasses hold a ``provenance`` dict
    (:func:`~ergodic_ppl.report.provenance`; recorded when first needed if not given).
    """

    figure_dpi: int = FIGURE_DPI
    provenance: dict | None

    @property
    @abc.abstractmethod
    def title(self) -> str:
        """The page's title."""

    @abc.abstractmethod
    def to_dict(self) -> dict:
        """Everything in the report as a :func:`json_document` (``json.dumps`` works on it)."""

    @abc.abstractmethod
    def to_text(self) -> str:
        """The plain-text report (``report.txt``)."""

    @abc.abstractmethod
    def figures(self, names=None) -> dict:
        """``{file name: matplotlib Figure}`` (all, or those of ``names``); the caller closes."""

    @abc.abstractmethod
    def html_sections(self, images: dict) -> list[str]:
        """The page's body below the title and provenance, as HTML fragments."""

    def seed(self) -> int | None:
        """The seed of the run, for the provenance (None when not known)."""
        return None

    def provenance_record(self) -> dict:
        """The run's provenance (recorded now, once, when none was given)."""
        from .provenance import provenance

        if self.provenance is None:
            self.provenance = provenance(seed=self.seed())
        return self.provenance

    def to_html(self, images: dict | None = None) -> str:
        """The self-contained page; ``images`` ``{name: base64 PNG}`` (rendered when None)."""
        from .html import page

        if images is None:
            images = render_pngs(self.figures(), dpi=self.figure_dpi)
        return page(self.title, self.html_sections(images), self.provenance_record())

    def write(self, folder) -> Path:
        """Write the report folder and return its path.  The files are written into a
        temporary folder inside it and moved into place (``os.replace``, ``summary.json``
        last) once all are written, so a failed write (``OSError``: a full disk) leaves no
        truncated file: the folder keeps what it held."""
        folder = check_writable(folder)
        stage = Path(tempfile.mkdtemp(prefix=".report-", dir=folder))
        try:
            images = render_pngs(self.figures(), stage, dpi=self.figure_dpi)
            summary = {**self.to_dict(), "figures": list(images)}
            (stage / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
            (stage / "report.txt").write_text(self.to_text().rstrip("\n") + "\n")
            (stage / "report.html").write_text(self.to_html(images))
            self.write_extra(stage)
            for entry in sorted(stage.iterdir(), key=lambda p: p.name == "summary.json"):
                if (folder / entry.name).is_dir():
                    shutil.rmtree(folder / entry.name)
                os.replace(entry, folder / entry.name)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return folder

    def write_extra(self, folder: Path) -> None:
        """The files of this kind of report beyond the common ones (none by default)."""
        return None
