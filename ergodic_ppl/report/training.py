"""The report of ``ergodic-ppl train`` (:func:`ergodic_ppl.pipeline.train_and_report`):
:class:`TrainingReport`, one more :class:`~ergodic_ppl.report.base.Report`.

Its folder (:meth:`TrainingReport.write`): ``summary.json``, ``report.txt`` and a
self-contained ``report.html`` (provenance first; training curves with error bars, basin graph
and disconnectivity, the mixture's components as images when the data are images, sample
grids), the figures as PNG files, ``idata.nc`` (the diagnosed chains as ArviZ
``InferenceData`` with each draw's basin, plus the training history as its ``training``
group), ``model.npz`` (the trained weights, :meth:`TrainingReport.model_arrays`) and
``diagnosis/`` (the ergodicity report of :mod:`ergodic_ppl.report.analysis`).

**The headline is the held-out log-likelihood per row** with its ``log Z`` bracket (reverse
AIS from held-out rows, forward AIS) and standard errors.  The Jarzynski estimate of the
training curve is shown beside it only with its reliability: when its effective sample size
is too small (``jarzynski_reliable`` false) the value is flagged "unreliable", never a
headline, and the figure draws the curve only where it is reliable.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from .. import arviz_compat
from ..diagnostics.observables import VISIT_RULE
from . import html as page
from .analysis import _shown
from .base import Report, json_document
from .columns import text_table
from .provenance import provenance_lines
from .training_figures import grid_figure, jarzynski_left_out, training_figure

__all__ = ["FIGURE_DPI", "TrainingReport"]

FIGURE_DPI = 100


def _fmt(value, stderr=None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.3f}" if stderr is None else f"{value:.3f} ± {stderr:.3f}"


def _attr(value):
    """An attribute netCDF can store (None and booleans become strings)."""
    if value is None or isinstance(value, bool | np.bool_):
        return str(value)
    return value


@dataclasses.dataclass
class TrainingReport(Report):
    """Everything :func:`~ergodic_ppl.pipeline.train_and_report` found; :meth:`write` makes
    the report folder (module docstring)."""

    name: str
    model_description: str
    beta: float
    visible: np.ndarray | None
    fit: object  # learning.FitResult
    data: dict  # sizes, image shape, source
    held_out: dict  # single model: log-likelihood per point, its errors, log Z
    analysis: object  # report.AnalysisReport of the diagnosed chains
    evaluations: list = dataclasses.field(default_factory=list)  # held_out during training
    mixture: object = None  # BasinMixture or None
    mixture_held_out: dict | None = None
    model_samples: np.ndarray | None = None
    mixture_samples: np.ndarray | None = None
    seconds: dict = dataclasses.field(default_factory=dict)
    #: the process's peak resident memory (MiB) at the end of each stage: what each stage
    #: added to the peak is the step between consecutive values
    peak_rss_mib: dict = dataclasses.field(default_factory=dict)
    options: dict = dataclasses.field(default_factory=dict)
    provenance: dict | None = None  # report.provenance(); recorded when first needed

    figure_dpi = FIGURE_DPI

    @property
    def title(self) -> str:
        return f"ergodic-ppl training report: {self.name}"

    def seed(self):
        return self.data.get("seed")

    @property
    def model(self):
        """The trained :class:`~ergodic_ppl.SpinModel`."""
        return self.fit.model

    def training_summary(self) -> dict:
        """The last values of the training curves (NLL with its error, work, excess work,
        chain R-hat, data basins the chains miss) and the run's length."""
        h = self.fit.history
        last = {"steps": int(h.step.values[-1]), "wall_time": float(h.wall_time.values[-1])}
        for name in ("nll", "nll_stderr", "jarzynski_ess", "jarzynski_reliable", "total_work",
                     "excess_work", "delta_log_z", "delta_log_z_stderr", "grad_norm"):  # fmt: skip
            if name in h:
                value = h[name].values[-1]
                last[name] = bool(value) if value.dtype == bool else float(value)
        for name in ("rhat_energy", "num_unvisited_data_basins", "num_data_basins"):
            if name in h:
                last[name] = float(h[name].values[-1])
        return last

    def headline(self) -> dict:
        """The report's headline: the final held-out log-likelihood per row (nats), its
        standard errors (``log Z``; the held-out rows) and ``log Z`` bracket."""
        h = self.held_out
        out = {
            "quantity": "held-out log-likelihood per row (nats)",
            "value": h["log_likelihood"],
            "log_z_stderr": h["log_z_stderr"],
            "data_stderr": h["data_stderr"],
            "log_z_method": h.get("log_z_method"),
        }
        if "log_likelihood_bracket" in h:
            out["bracket"] = list(h["log_likelihood_bracket"])  # reverse, then forward AIS
        return out

    def jarzynski_flag(self) -> str | None:
        """Why the final Jarzynski NLL is not to be trusted (None when it is, or when there
        is none)."""
        t = self.training_summary()
        if "nll" not in t or t.get("jarzynski_reliable", True):
            return None
        ess = t.get("jarzynski_ess")
        size = "" if ess is None else f" (effective sample size {ess:.1f})"
        return (
            f"unreliable{size}: the Jarzynski weights collapsed onto a few spectator chains, so "
            "this is not an estimate of the NLL; use the held-out log-likelihood."
        )

    def mixture_components(self) -> list[dict]:
        """One row per mixture component: weight, size, ``log Z`` and its error, and the
        component's free energy ``F_a = -log Z_a / beta``."""
        if self.mixture is None:
            return []
        return [
            {"component": a, "weight": c.weight, "size": c.size, "log_z": c.log_z,
             "log_z_stderr": c.log_z_stderr, "log_z_bracket": list(c.log_z_range),
             "free_energy": -c.log_z / self.beta}
            for a, c in enumerate(self.mixture.components_)
        ]  # fmt: skip

    def to_dict(self) -> dict:
        """Everything in the report, JSON-safe (provenance and headline first)."""
        diagnosis = self.analysis.to_dict()
        for key in ("provenance", "non_finite", "conventions"):  # the document's own
            diagnosis.pop(key, None)
        return json_document(
            {
                "provenance": self.provenance_record(),
                "headline": self.headline(),
                "name": self.name,
                "model": self.model_description,
                "beta": self.beta,
                "n_visible": self.data["n"],
                "n_spins": self.model.n,
                "data": self.data,
                "options": self.options,
                "training": {**self.training_summary(), "jarzynski_flag": self.jarzynski_flag()},
                "log_likelihood_curve": self.evaluations,
                "held_out": self.held_out,
                "mixture": None
                if self.mixture is None
                else {
                    "num_components": len(self.mixture.components_),
                    "exact": self.mixture.exact_,
                    "components": self.mixture_components(),
                    "held_out": self.mixture_held_out,
                },
                "diagnosis": diagnosis,
                "seconds": self.seconds,
                "peak_rss_mib": self.peak_rss_mib,
            }
        )

    def figures(self, names=None) -> dict:
        """``{file name: matplotlib Figure}`` (caller closes): ``training.png``, the
        diagnosis' ``disconnectivity.png``, ``basin_graph.png`` and ``traces.png``,
        ``components.png`` and the sample grids ``samples_model.png`` /
        ``samples_mixture.png``."""
        builders = {"training.png": lambda: training_figure(self.fit.history, self.evaluations)}
        shape = self.data.get("image_shape")
        if self.mixture is not None:
            centres = np.stack([c.centre for c in self.mixture.components_])
            titles = [f"{a}: w={c.weight:.2f}" for a, c in enumerate(self.mixture.components_)]
            builders["components.png"] = lambda: grid_figure(
                centres, shape, titles, "mixture components (centres)"
            )
        if self.model_samples is not None:
            builders["samples_model.png"] = lambda: grid_figure(
                self.model_samples, shape, None, "single model"
            )
        if self.mixture_samples is not None:
            builders["samples_mixture.png"] = lambda: grid_figure(
                self.mixture_samples, shape, None, "mixture"
            )
        wanted = (lambda n: True) if names is None else (lambda n: n in names)
        figs = {"training.png": builders.pop("training.png")()} if wanted("training.png") else {}
        diagnosis = ("traces.png", "disconnectivity.png", "basin_graph.png")
        figs.update(self.analysis.figures([n for n in diagnosis if wanted(n)]))
        figs.update({n: build() for n, build in builders.items() if wanted(n)})
        return figs

    def _held_out_rows(self) -> list[dict]:
        def row(label, h):
            return {
                "model": label,
                "held_out": h["log_likelihood"],
                "held_out_log_z_err": h["log_z_stderr"],
                "held_out_rows_err": h["data_stderr"],
                "held_out_bracket": h.get("log_likelihood_bracket"),
                "train": h["train_log_likelihood"],
            }

        rows = [row("single model", self.held_out)]
        if self.mixture_held_out is not None:
            n = len(self.mixture.components_)
            rows.append(row(f"mixture ({n} components)", self.mixture_held_out))
        return rows

    def _training_rows(self) -> list[dict]:
        """The Training table, one quantity per row: the headline first, the Jarzynski value
        only with its reliability."""
        t, h = self.training_summary(), self.headline()
        bracket = h.get("bracket")
        rows = [
            {"quantity": "held-out log-likelihood per row (nats), final model",
             "value": f"{_fmt(h['value'])} ± {_fmt(h['log_z_stderr'])} (log Z) "
                      f"± {_fmt(h['data_stderr'])} (held-out rows)"
             + (f"; log Z bracket {_fmt(bracket[0])} to {_fmt(bracket[1])}" if bracket else "")},
            {"quantity": "updates", "value": str(t["steps"])},
            {"quantity": "wall time (s)", "value": f"{t['wall_time']:.1f}"},
        ]  # fmt: skip
        if "nll" in t:
            flag = self.jarzynski_flag()
            value = _fmt(t["nll"], t.get("nll_stderr"))
            rows.append(
                {"quantity": "Jarzynski NLL per row (spectator chains)",
                 "value": f"UNRELIABLE, not an estimate: {value}" if flag else value,
                 "flag": bool(flag)}
            )  # fmt: skip
        labels = {"jarzynski_ess": "Jarzynski effective sample size",
                  "total_work": "work <W> on the learning chains (kT)",
                  "excess_work": "excess work W_ex = <W> − ΔF (kT)",
                  "delta_log_z": "Δ log Z over training", "grad_norm": "|gradient| (last update)",
                  "rhat_energy": "R-hat of the chains' energy (last check)",
                  "num_unvisited_data_basins": "data basins the chains miss",
                  "num_data_basins": "data basins"}  # fmt: skip
        for key, label in labels.items():
            if key in t:
                rows.append({"quantity": label, "value": f"{t[key]:.4g}"})
        return rows

    def to_text(self) -> str:
        """``report.txt``: provenance, the headline, the held-out and training tables, the
        diagnosis (status, verdict, basin table) and the mixture's verdict."""
        h = self.headline()
        lines = [self.title, *provenance_lines(self.provenance_record()), ""]
        lines.append(f"headline: {h['quantity']} {_fmt(h['value'])}")
        if "bracket" in h:
            lines.append(f"  log Z bracket: {_fmt(h['bracket'][0])} (reverse AIS) to "
                         f"{_fmt(h['bracket'][1])} (forward AIS)")  # fmt: skip
        cols = ["model", "held_out", "held_out_log_z_err", "held_out_rows_err", "train"]
        lines += ["", text_table(self._held_out_rows(), cols), "", "training:"]
        lines += [f"  {r['quantity']}: {r['value']}" for r in self._training_rows()]
        if self.jarzynski_flag():
            lines.append(f"  Jarzynski NLL {self.jarzynski_flag()}")
        a = self.analysis.report
        lines += ["", f"diagnosis of the final chains: status: {a.status}", a.verdict]
        rows, bcols = _shown(self.analysis.basins)
        if rows:
            lines += [f"basins. Chains: {VISIT_RULE}.", text_table(rows, bcols)]
        lines.append("(the full diagnosis: diagnosis/report.txt)")
        if self.mixture_held_out is not None:
            lines += ["", self.mixture_held_out["verdict"]]
        return "\n".join(lines)

    def html_sections(self, images: dict) -> list[str]:
        d, t, h = self.data, self.training_summary(), self.headline()
        parts = [
            f"<p>{page.esc(self.model_description)} at β = {self.beta:g}, trained on "
            f"{d['train']} of {d['samples']} rows of {page.esc(d['source'])} ({d['n']} "
            f"columns; {d['test']} held out), {t['steps']} updates in {t['wall_time']:.1f} s.</p>",
            f"<p><b>Held-out log-likelihood: {_fmt(h['value'])} nats per row</b>"
            + (
                f" (log Z bracket: {_fmt(h['bracket'][0])} with log Z by reverse AIS from "
                f"held-out rows, {_fmt(h['bracket'][1])} by forward AIS)"
                if "bracket" in h
                else ""
            )
            + ".</p>",
            "<h2>Held-out log-likelihood per row (nats)</h2>",
            page.table(self._held_out_rows(), ["model", "held_out", "held_out_log_z_err",
                                                "held_out_rows_err", "held_out_bracket", "train"]),
            f"<p>log Z: {page.esc(self.held_out.get('log_z_method', ''))}.</p>",
        ]  # fmt: skip
        if "log_z_warning" in self.held_out:
            parts.append(f'<p class="flag">{page.esc(self.held_out["log_z_warning"])}</p>')
        m = self.mixture_held_out
        if m is not None:
            lo, hi = m["log_likelihood_bracket"]
            parts.append(
                f"<p>mixture − single model: {_fmt(m['minus_single_model'])} ± "
                f"{m['minus_single_model_paired_stderr']:.3f} (paired over the held-out rows); "
                f"mixture between {_fmt(lo)} and {_fmt(hi)} (every log Z at the reverse, then "
                f"the forward end of its bracket).</p><p><b>{page.esc(m['verdict'])}</b></p>"
            )
            if m.get("selection"):
                parts.append("<p>Number of components chosen on held-out training rows:</p>")
                parts.append(page.table(m["selection"], list(m["selection"][0])))
        parts += self._training_sections(images)
        parts += self._diagnosis_sections(images)
        if self.mixture is not None:
            comps = self.mixture_components()
            own = {"free_energy": "Free energy F_a = −log Z_a/β of the component (units of 1/β)"}
            parts += ["<h2>Mixture of per-basin models</h2>",
                      page.table(comps, list(comps[0]), labels=own)]  # fmt: skip
            parts.append(page.img(images, "components.png"))
        parts.append("<h2>Samples</h2>")
        parts += [page.img(images, "samples_model.png"), page.img(images, "samples_mixture.png")]
        return parts

    def _training_sections(self, images) -> list[str]:
        left_out = jarzynski_left_out(self.fit.history)
        text = (
            "NLL per row: the train and held-out points use a fresh estimate of log Z at "
            f"{len(self.evaluations)} points of training (AIS beyond 20 spins; the last are "
            "the figures in the table above); the line is the Jarzynski estimate from spectator "
            "chains (docs/THEORY.md B.2), drawn only where its effective sample size can be trusted"
            + (f" ({left_out})" if left_out else "")
            + ". Error bars: 2 standard errors."
        )
        rows = self._training_rows()
        table = page.table(rows, ["quantity", "value"], wrap=("quantity", "value"),
                           mark=lambda r, c: "flag" if c == "value" and r.get("flag") else None)  # fmt: skip
        parts = ["<h2>Training</h2>", f"<p>{page.esc(text)}</p>", table]
        if self.jarzynski_flag():
            parts.append(f'<p class="flag">Jarzynski NLL: {page.esc(self.jarzynski_flag())}</p>')
        return [*parts, page.img(images, "training.png")]

    def _diagnosis_sections(self, images) -> list[str]:
        a = self.analysis.report
        parts = [
            "<h2>Diagnosis of the final chains</h2>",
            page.status(a.status),
            f"<p>{page.esc(a.verdict)}</p>",
            page.bullets("Remedies", a.remedies, level=3),
            page.bullets("Warnings", a.warnings, level=3),
        ]
        rows, cols = _shown(self.analysis.basins)
        if rows:
            parts.append(page.table(rows, cols, note=f"Chains: {VISIT_RULE}."))
        return parts + [page.img(images, n) for n in ("disconnectivity.png", "basin_graph.png",
                                                      "traces.png")]  # fmt: skip

    def write_extra(self, folder: Path) -> None:
        """``diagnosis/`` (same provenance), ``idata.nc`` and ``model.npz``.  The checkpoint
        is the training run's own file (written there when ``checkpoint`` pointed into it)."""
        diagnosis = dataclasses.replace(
            self.analysis, idata=None, provenance=self.provenance_record()
        )
        diagnosis.write(folder / "diagnosis")
        arviz_compat.to_netcdf(self.idata(), folder / "idata.nc")
        np.savez(folder / "model.npz", **self.model_arrays())

    def model_arrays(self) -> dict:
        """The trained weights as ``model.npz`` holds them, with ``beta``: an RBM as ``W``
        ``(n_visible, n_hidden)``, ``b`` (visible) and ``c`` (hidden) in 0/1 units
        (:meth:`~ergodic_ppl.SpinModel.to_bernoulli_rbm`, scikit-learn's ``BernoulliRBM``
        form); any other model as ``fields`` and the ``(n, n)`` ``couplings`` in ±1 units,
        and each k-body order as ``kbody{k}_index`` / ``kbody{k}_weights``."""
        m = self.model
        if m.is_bipartite:
            W, b, c = m.to_bernoulli_rbm()
            return {"W": W, "b": b, "c": c, "beta": np.float64(self.beta)}
        out = {"fields": np.asarray(m.fields), "couplings": np.asarray(m.couplings),
               "beta": np.float64(self.beta)}  # fmt: skip
        for index, weights in m.kbody_terms:
            out[f"kbody{index.shape[1]}_index"] = index
            out[f"kbody{index.shape[1]}_weights"] = np.asarray(weights)
        return out

    def idata(self):
        """The diagnosed chains (``posterior`` spins, ``sample_stats`` energy and basin) with
        the training history as the ``training`` group."""
        history = self.fit.history.copy()
        history.attrs = {k: _attr(v) for k, v in history.attrs.items()}
        return arviz_compat.with_group(self.analysis.idata, "training", history)
