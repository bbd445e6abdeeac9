"""The ergodicity report of ``ergodic-ppl analyze``: :func:`build` -> :class:`AnalysisReport`.

:func:`build` gathers what :func:`~ergodic_ppl.diagnostics.diagnose` found, the basin graph
(:func:`~ergodic_ppl.basins.basin_graph` at the report's ``beta``) and the run's settings.
:meth:`AnalysisReport.write` writes a folder:

- ``summary.json`` - :meth:`~AnalysisReport.to_dict`: provenance first, numbers or null
  (:mod:`ergodic_ppl.report.base`);
- ``report.txt`` - provenance, the verdict, the R-hat table, the occupancy, the chains per
  basin, remedies, warnings, the basin table and the tempering results;
- ``report.html`` - the same on one self-contained page (:mod:`ergodic_ppl.report.html`) with
  every figure embedded as a base64 PNG;
- the figures ``traces.png`` (energy and the observables that reveal broken ergodicity),
  ``ranks.png``, ``occupancy.png``, ``disconnectivity.png`` and ``basin_graph.png`` (the last
  two when there are basins), ``free_energies.png`` with tempering;
- ``basin_graph.json`` (networkx node-link data) and ``idata.nc`` (the ArviZ data given to
  :func:`build`, with each draw's basin in ``sample_stats``).

**One visit rule.**  A chain visits a basin when at least 5 % of its draws are in it
(:data:`ergodic_ppl.diagnostics.observables.VISIT_RULE`); the verdict, the remedies, the
basin table's ``chains`` (and the basin graph's node attribute ``chains``) and the chains per
basin all use it, and the report states it.  Draws in no basin ("other") are never a basin.

**Basin table** (:attr:`AnalysisReport.basins`, one row per basin): ``energy`` of its minimum;
``probability`` ``p_a`` (share of the chains' draws); ``relative_free_energy``
``F_a - F = -(1/beta) log p_a`` and ``free_energy_stderr`` (its standard error; of the
absolute ``free_energy`` ``F_a = -(1/beta) log Z_a`` when log Z is known); ``barrier``, the
lowest observed climb out, ``min_b (saddle_ab - E_a)`` (infinite when no chain left the
basin); ``chains`` (the visit rule); for models with ``E(-s) = E(s)``: ``mirror_basin`` (the
basin whose minimum is ``-s_a``, null when none was found) and ``mirror_reached`` (whether any
draw's minimum was the mirror); with patterns, ``overlaps_with_patterns``.  These come from
the diagnosed chains and inherit their broken ergodicity.  With ``tempering=`` (a
:class:`~ergodic_ppl.basins.TemperedBasins`, ``ergodic-ppl analyze --tempering``) each row
also has, **in the same convention as the chains' columns**, ``tempered_probability``,
``tempered_relative_free_energy`` ``F_a - F`` and ``tempered_relative_free_energy_stderr``,
and, labelled absolute, ``tempered_free_energy`` ``F_a = -(log Z + log p_a)/beta`` with
``tempered_free_energy_stderr`` (log Z's error included); ``summary.json`` has a
``tempering`` entry (log Z, ``total_free_energy`` ``F = -log Z / beta``, the ladder, swap
rates, round trips, the share of draws in no basin) and ``free_energies.png`` compares
``F_a - F`` of the two.  Energies and free energies are in the model's energy units (those
of ``1/beta``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import arviz_compat
from ..diagnostics.observables import CHAIN_VISIT_MIN, VISIT_RULE, visits
from . import html as page
from .analysis_figures import (
    basin_graph_figure,
    free_energy_figure,
    graph_json,
    rank_figure,
    trace_figure,
)
from .base import Report, json_document
from .columns import cell_text, text_table
from .provenance import provenance_lines

__all__ = ["BASIN_COLUMNS", "TEMPERED_COLUMNS", "AnalysisReport", "build", "tempering_lines"]

BASIN_COLUMNS = (
    "energy",
    "probability",
    "free_energy",
    "relative_free_energy",
    "free_energy_stderr",
    "barrier",
)
TEMPERED_COLUMNS = (
    "tempered_probability",
    "tempered_relative_free_energy",
    "tempered_relative_free_energy_stderr",
    "tempered_free_energy",
    "tempered_free_energy_stderr",
)
#: the basin table's columns in the order shown: the chains' and the tempering run's
#: ``p_a`` and ``F_a - F`` side by side, the absolute ``F_a`` last
SHOWN_BASIN_COLUMNS = (
    "basin",
    "energy",
    "probability",
    "tempered_probability",
    "relative_free_energy",
    "free_energy_stderr",
    "tempered_relative_free_energy",
    "tempered_relative_free_energy_stderr",
    "barrier",
    "chains",
    "mirror_basin",
    "mirror_reached",
    "free_energy",
    "tempered_free_energy",
    "tempered_free_energy_stderr",
)


def _mirrors(report) -> dict | None:
    """``{basin: (mirror basin or None, mirror reached by a draw)}`` for a model with
    ``E(-s) = E(s)`` (None for other models): the mirror of basin ``a`` is the basin whose
    minimum has overlap ``<= -threshold`` with ``s_a`` (the landscape's overlap threshold)."""
    from ..basins.landscape import OVERLAP_THRESHOLD
    from ..diagnostics.verdict import z2_symmetric

    land, model = report.landscape, report.info.get("model")
    if land is None or model is None or not land.num_basins or not z2_symmetric(model):
        return None
    threshold = getattr(land, "overlap_threshold", None) or OVERLAP_THRESHOLD
    mins = np.asarray(land.minima, np.float32)
    n = mins.shape[1]
    q = mins @ mins.T / n
    distinct = land.info.get("distinct_minima")
    reached = None
    if distinct is not None:
        reached = (np.asarray(distinct, np.float32) @ mins.T / n <= -threshold).any(0)
    out = {}
    for a in range(land.num_basins):
        b = int(np.argmin(q[:, a]))
        mirror = b if q[b, a] <= -threshold else None
        out[a] = (mirror, None if reached is None else bool(reached[a] or mirror is not None))
    return out


def _basin_rows(analysis) -> list[dict]:
    graph, report = analysis.graph, analysis.report
    if graph is None:
        return []
    landscape, tempering = report.landscape, analysis.tempering
    barriers = landscape.barriers if landscape is not None else None
    visitors = report.visiting_chains()
    mirrors = _mirrors(report)
    rows = []
    for a, data in graph.nodes(data=True):
        row = {"basin": int(a), **{k: data[k] for k in BASIN_COLUMNS if k in data}}
        if barriers is not None:
            out = np.delete(barriers[a], a)
            out = out[np.isfinite(out)]
            row["barrier"] = float(out.min()) if out.size else float("inf")
        row["chains"] = visitors.get(f"basin{a}", [])
        if mirrors is not None:
            row["mirror_basin"], row["mirror_reached"] = mirrors[a]
        if tempering is not None:
            fe = tempering.free_energies
            row["tempered_probability"] = float(fe.probability[a])
            row["tempered_relative_free_energy"] = float(fe.relative_free_energy[a])
            row["tempered_relative_free_energy_stderr"] = float(tempering.relative_stderr()[a])
            row["tempered_free_energy"] = float(fe.free_energy[a])
            row["tempered_free_energy_stderr"] = float(fe.free_energy_stderr[a])
        if analysis.patterns is not None:
            q = np.asarray(analysis.patterns, np.float64) @ data["state"].astype(np.float64)
            row["overlaps_with_patterns"] = [round(v, 4) for v in q / len(data["state"])]
        rows.append(row)
    return rows


def _shown(rows: list[dict]) -> tuple[list[dict], list[str]]:
    """The basin rows as shown (one column per pattern overlap) and the columns present."""
    shown = []
    for r in rows:
        r = dict(r)
        for mu, q in enumerate(r.pop("overlaps_with_patterns", [])):
            r[f"overlap_pattern{mu}"] = q
        shown.append(r)
    cols = [c for c in SHOWN_BASIN_COLUMNS if any(c in r for r in shown)]
    cols += [c for c in (shown[0] if shown else {}) if c.startswith("overlap_pattern")]
    return shown, cols


def _fmt(value, stderr=None) -> str:
    text = cell_text(value)
    return text if stderr is None else f"{text} ± {cell_text(stderr, 2)}"


def tempering_lines(summary: dict) -> list[str]:
    """The tempering results of a report's :meth:`~AnalysisReport.to_dict` (``summary.json``)
    in words: the run, ``log Z``, and ``F_a - F`` per basin beside the chains' estimate (the
    same convention); none without tempering."""
    t = summary.get("tempering")
    if not t:
        return []
    per = "; ".join(
        f"basin {b['basin']}: "
        f"{_fmt(b.get('relative_free_energy'), b.get('free_energy_stderr'))} | "
        f"{_fmt(b.get('tempered_relative_free_energy'), b.get('tempered_relative_free_energy_stderr'))}"
        for b in summary.get("basins", [])
    )
    return [
        f"parallel tempering: {t['num_chains']} chains x {t['num_draws']} draws on "
        f"{len(t['betas'])} rungs (mean swap rate {_fmt(t['mean_swap_rate'])}); "
        f"log Z = {_fmt(t['log_z'], t['log_z_stderr'])} ({t['log_z_method']}), "
        f"F = -log Z / beta = {_fmt(t.get('total_free_energy'))}; "
        f"{_fmt(100 * t['unassigned_probability'])} % of its draws in no basin the chains found.",
        f"F_a - F per basin, chains | tempering (units of 1/beta, ± 1 s.e.): {per}.",
    ]


@dataclass
class AnalysisReport(Report):
    """An ergodicity report with its basin graph, data and run settings; see :func:`build`."""

    name: str
    report: object  # ErgodicityReport
    graph: object = None  # networkx.Graph or None
    idata: object = None  # InferenceData (ArviZ 0.2x), DataTree (ArviZ 1.x) or None
    patterns: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    tempering: object = None  # ep.basins.TemperedBasins or None
    provenance: dict | None = None  # report.provenance(); recorded when first needed

    @property
    def title(self) -> str:
        return f"ergodic-ppl report: {self.name}"

    def seed(self):
        return self.meta.get("seed")

    @property
    def basins(self) -> list[dict]:
        """The basin table: one dict per basin (see the module docstring for the columns)."""
        return _basin_rows(self)

    def tempering_summary(self) -> dict | None:
        """The tempering run behind the ``tempered_*`` columns (None without one)."""
        t = self.tempering
        if t is None:
            return None
        return {
            "log_z": t.log_z.value,
            "log_z_stderr": t.log_z.stderr,
            "log_z_method": t.log_z.method,
            "total_free_energy": -t.log_z.value / float(t.betas[0]),
            "unassigned_probability": t.unassigned,
            "betas": np.round(t.betas, 5),
            "mean_swap_rate": float(np.mean(t.swap_rates)),
            "min_swap_rate": float(np.min(t.swap_rates)),
            "round_trips_per_chain": t.round_trips,
            "num_chains": int(t.labels.shape[0]),
            "num_draws": int(t.labels.shape[1]),
        }

    def connections(self) -> list[dict]:
        """One dict per edge of the basin graph: ``basins`` and the edge's attributes."""
        if self.graph is None:
            return []
        return [{"basins": [a, b], **d} for a, b, d in self.graph.edges(data=True)]

    def to_dict(self) -> dict:
        """Everything in the report, JSON-safe (``json.dumps`` works on it as it is)."""
        r = self.report
        return json_document(
            {
                "provenance": self.provenance_record(),
                "model": self.name,
                **self.meta,
                "n_spins": r.info["n"],
                "beta": r.beta,
                "status": r.status,
                "ergodic": r.ergodic,
                "num_basins": r.num_basins,
                "verdict": r.verdict,
                "visit_rule": VISIT_RULE,
                "chain_visit_min": CHAIN_VISIT_MIN,
                "columns": r.columns,
                "occupancy": np.round(r.occupancy, 4),
                "chain_basins": r.chain_basins,
                "basin_chains": r.visiting_chains(),
                "rhat": r.rhat,
                "nested_rhat": r.nested_rhat,
                "ess_bulk": r.ess_bulk,
                "ess_tail": r.ess_tail,
                "notes": r.notes,
                "remedies": r.remedies,
                "warnings": r.warnings,
                "basins": self.basins,
                "connections": self.connections(),
                **({"tempering": self.tempering_summary()} if self.tempering is not None else {}),
            }
        )

    def figures(self, names=None) -> dict:
        """``{file name: matplotlib Figure}`` of every figure of the report, or of those in
        ``names`` that it has (only those are drawn); the caller closes them."""
        from .. import plots

        has_graph = self.graph is not None and self.graph.number_of_nodes()
        builders = {
            "traces.png": lambda: trace_figure(self.report),
            "ranks.png": lambda: rank_figure(self.report),
            "occupancy.png": lambda: plots.plot_occupancy(self.report).figure,
        }
        if has_graph:
            builders["disconnectivity.png"] = lambda: (
                plots.plot_disconnectivity(self.report.landscape).figure
            )
            builders["basin_graph.png"] = lambda: basin_graph_figure(self.graph)
        if self.tempering is not None and self.basins:
            builders["free_energies.png"] = lambda: free_energy_figure(self.basins, self.tempering)
        figs = {name: build() for name, build in builders.items() if names is None or name in names}
        for fig in figs.values():
            fig.tight_layout()
        return figs

    def to_text(self) -> str:
        """``report.txt``: provenance, the diagnosis, the basin table and tempering."""
        lines = [self.title, *provenance_lines(self.provenance_record()), "", str(self.report)]
        rows, cols = _shown(self.basins)
        if rows:
            lines += ["", f"basins (energies in units of 1/beta). Chains: {VISIT_RULE}."]
            lines.append(text_table(rows, cols))
        more = tempering_lines(self.to_dict()) if self.tempering is not None else []
        if more:
            lines += ["", *more]
        return "\n".join(lines)

    def html_sections(self, images: dict) -> list[str]:
        r = self.report
        beta = "" if r.beta is None else f", β = {np.asarray(r.beta).tolist()}"
        draws = r.occupancy.shape[0], next(iter(r.observables.values())).shape[1]
        parts = [
            f"<p>{r.info['n']} spins, {draws[0]} chains × {draws[1]} draws{page.esc(beta)}</p>",
            page.status(r.status),
            f"<p>{page.esc(r.verdict)}</p>",
            page.bullets("Remedies", r.remedies),
            page.bullets("Warnings", r.warnings),
            "<h2>Basins</h2>",
        ]
        rows, cols = _shown(self.basins)
        if rows:
            note = (
                f"Chains: {VISIT_RULE}. Energies and free energies in the model's energy units "
                "(those of 1/β); F_a − F = −log(p_a)/β."
            )
            if self.tempering is not None:
                note += (
                    " F_a − F of the chains and of parallel tempering side by side; the "
                    "absolute F_a = −(log Z + log p_a)/β of tempering last."
                )
            parts.append(page.table(rows, cols, note=note))
        else:
            parts.append("<p>no basins computed</p>")
        if self.tempering is not None:
            parts += [f"<p>{page.esc(line)}</p>" for line in tempering_lines(self.to_dict())]
        edges = self.connections()
        if edges:
            order = ["basins", "saddle", "barrier", "barrier_deep", "transitions", "rate"]
            present = {k for e in edges for k in e}
            ecols = [c for c in order if c in present] + sorted(present - set(order))
            shallow = {"barrier": "Barrier from the shallower basin (saddle − max(E_a, E_b))"}
            parts += ["<h2>Connections</h2>", page.table(edges, ecols, labels=shallow)]
        parts += ["<h2>R-hat and ESS per observable</h2>", self._rhat_table()]
        parts += ["<h2>Occupancy (chain × basin)</h2>", self._occupancy_table()]
        parts.append("<h2>Figures</h2>")
        parts += [page.img(images, name) for name in images]
        return parts

    def _rhat_table(self) -> str:
        df = self.report.to_dataframe()
        rows = [{"observable": name, **row} for name, row in df.to_dict("index").items()]
        return page.table(rows, ["observable", *df.columns], wrap=("note",), digits=3)

    def _occupancy_table(self) -> str:
        r = self.report
        rows = [
            {"chain": c, **{col: float(v) for col, v in zip(r.columns, occ, strict=True)}}
            for c, occ in enumerate(r.occupancy)
        ]
        return page.table(
            rows,
            ["chain", *r.columns],
            digits=3,
            note=f"Share of each chain's draws per basin; bold: {VISIT_RULE}.",
            mark=lambda row, col: "b" if col.startswith("basin") and visits(row[col]) else None,
        )

    def write_extra(self, folder: Path) -> None:
        import json

        if self.graph is not None:
            (folder / "basin_graph.json").write_text(json.dumps(graph_json(self.graph), indent=1))
        if self.idata is not None:
            arviz_compat.to_netcdf(self.idata, folder / "idata.nc")


def build(
    report,
    *,
    name: str = "report",
    idata=None,
    patterns=None,
    meta=None,
    tempering=None,
    provenance=None,
):
    """An :class:`AnalysisReport` of ``report`` (an :class:`~ergodic_ppl.ErgodicityReport`).

    The basin graph is built from ``report.landscape`` at ``report.beta`` (the beta
    :func:`~ergodic_ppl.diagnose` found or was given: no other guess); its nodes' ``chains``
    are the chains that visit the basin by the one visit rule (module docstring).  ``idata``
    (an ArviZ ``InferenceData`` or ``DataTree``, written as ``idata.nc``) gets each draw's
    basin as ``sample_stats["basin"]``; ``patterns`` ``(P, n)`` adds each basin's overlaps with
    them; ``meta`` (run settings, timings) is copied into :meth:`AnalysisReport.to_dict`;
    ``tempering`` (:func:`~ergodic_ppl.basins.tempered_free_energies` on ``report.landscape``)
    adds the tempered per-basin free energies; ``provenance``
    (:func:`~ergodic_ppl.report.provenance`) says where the run came from (by default this
    process's command line and ``meta["seed"]``).
    """
    from ..basins import basin_graph

    graph = None
    if report.landscape is not None:
        beta = report.beta if np.ndim(report.beta) == 0 else None
        graph = basin_graph(report, beta=beta)
        visitors = report.visiting_chains()
        for a in graph.nodes:
            if "chains" in graph.nodes[a]:  # the one visit rule, not "any draw"
                graph.nodes[a]["chains"] = visitors.get(f"basin{a}", [])
        if idata is not None:
            labels = report.landscape.labels
            arviz_compat.add_variable(idata, "sample_stats", "basin", labels, ("chain", "draw"))
    pats = None if patterns is None else np.atleast_2d(np.asarray(patterns))
    return AnalysisReport(name, report, graph, idata, pats, dict(meta or {}), tempering, provenance)
