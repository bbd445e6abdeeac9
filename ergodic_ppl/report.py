"""The report layer: an ergodicity report as a dict, text, a self-contained HTML page and files.

:func:`build` gathers what :func:`~ergodic_ppl.diagnostics.diagnose` found, the basin graph
(:func:`~ergodic_ppl.basins.basin_graph` at the report's ``beta``) and the run's settings
into an :class:`AnalysisReport`.  :meth:`AnalysisReport.to_dict` is JSON-safe (non-finite
numbers become ``None``, ``"inf"`` or ``"-inf"``); :meth:`AnalysisReport.write` writes a folder:

- ``summary.json`` - :meth:`~AnalysisReport.to_dict`;
- ``report.txt`` - the report's text (verdict, R-hat table, occupancy, remedies, warnings);
- ``report.html`` - one self-contained page: title, status and verdict, remedies, the basin
  table (energy of each minimum, probability, free energies, barrier), the connections, the
  R-hat table, the occupancy and every figure embedded as a base64 PNG;
- the figures ``traces.png`` (energy and the observables that reveal broken ergodicity:
  overlaps or ``|m|``), ``ranks.png``, ``occupancy.png``, ``disconnectivity.png`` and
  ``basin_graph.png`` (the last two when there are basins);
- ``basin_graph.json`` (networkx node-link data) and ``idata.nc`` (the ArviZ
  ``InferenceData`` given to :func:`build`, with each draw's basin in ``sample_stats``).

Free energies (THEORY.md A.6): ``free_energy`` ``F_a = -(1/beta) log Z_a`` where log Z is
known, ``relative_free_energy`` ``F_a - F = -(1/beta) log p_a`` and ``free_energy_stderr``,
as the basin graph gives them; ``barrier`` is the lowest climb out of the basin,
``min_b (saddle_ab - E_a)``.  These come from the diagnosed chains and inherit their broken
ergodicity.  With ``tempering=`` (a :class:`~ergodic_ppl.basins.TemperedBasins`, ``ergodic-ppl
analyze --tempering``) each basin also gets ``tempered_probability``, ``tempered_free_energy``
and ``tempered_free_energy_stderr`` from parallel tempering, ``summary.json`` a ``tempering``
entry (log Z with its error and method, the ladder, swap rates, round trips, the share of
draws in no basin) and the report a ``free_energies.png`` figure comparing ``F_a - F`` of the two.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import arviz_compat

__all__ = ["AnalysisReport", "build", "check_writable", "render_pngs", "to_jsonable"]

FIGURE_DPI = 110
BASIN_COLUMNS = (
    "energy",
    "probability",
    "free_energy",
    "relative_free_energy",
    "free_energy_stderr",
    "barrier",
)


def to_jsonable(x):
    """``x`` with NumPy scalars/arrays as Python values and non-finite floats as strings/None.

    ``nan -> None``, ``inf -> "inf"``, ``-inf -> "-inf"``; dict keys become strings.

    >>> to_jsonable({"r": np.float64("inf"), 1: np.arange(2)})
    {'r': 'inf', '1': [0, 1]}
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
        if np.isfinite(x):
            return x
        return None if np.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


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


TEMPERED_COLUMNS = (
    "tempered_probability",
    "tempered_free_energy",
    "tempered_free_energy_stderr",
)


def _basin_rows(graph, landscape, patterns, tempering=None) -> list[dict]:
    """One row per basin node: ``basin``, the ``BASIN_COLUMNS`` present, the
    ``TEMPERED_COLUMNS`` with ``tempering``, chains, overlaps."""
    if graph is None:
        return []
    barriers = landscape.barriers if landscape is not None else None
    rows = []
    for a, data in graph.nodes(data=True):
        row = {"basin": int(a), **{k: data[k] for k in BASIN_COLUMNS if k in data}}
        if tempering is not None:
            fe = tempering.free_energies
            row["tempered_probability"] = float(fe.probability[a])
            row["tempered_free_energy"] = float(fe.free_energy[a])
            row["tempered_free_energy_stderr"] = float(fe.free_energy_stderr[a])
        if barriers is not None:
            out = np.delete(barriers[a], a)
            out = out[np.isfinite(out)]
            row["barrier"] = float(out.min()) if out.size else float("inf")
        if "chains" in data:
            row["chains"] = list(data["chains"])
        if patterns is not None:
            q = np.asarray(patterns, np.float64) @ data["state"].astype(np.float64)
            row["overlaps_with_patterns"] = [round(v, 4) for v in q / len(data["state"])]
        rows.append(row)
    return rows


@dataclass
class AnalysisReport:
    """An ergodicity report with its basin graph, data and run settings; see :func:`build`."""

    name: str
    report: object  # ErgodicityReport
    graph: object = None  # networkx.Graph or None
    idata: object = None  # InferenceData (ArviZ 0.2x), DataTree (ArviZ 1.x) or None
    patterns: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    tempering: object = None  # ep.basins.TemperedBasins or None

    @property
    def basins(self) -> list[dict]:
        """The basin table: one dict per basin (see the module docstring for the columns)."""
        return _basin_rows(self.graph, self.report.landscape, self.patterns, self.tempering)

    def tempering_summary(self) -> dict | None:
        """The tempering run behind the ``tempered_*`` columns (None without one)."""
        t = self.tempering
        if t is None:
            return None
        return {
            "log_z": t.log_z.value,
            "log_z_stderr": t.log_z.stderr,
            "log_z_method": t.log_z.method,
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
        return to_jsonable(
            {
                "model": self.name,
                **self.meta,
                "n_spins": r.info["n"],
                "beta": r.beta,
                "status": r.status,
                "ergodic": r.ergodic,
                "n_basins": r.n_basins,
                "verdict": r.verdict,
                "columns": r.columns,
                "occupancy": np.round(r.occupancy, 4),
                "chain_basins": r.chain_basins,
                "rhat": r.rhat,
                "nested_rhat": r.nested_rhat,
                "ess_bulk": r.ess,
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
        from . import plots

        has_graph = self.graph is not None and self.graph.number_of_nodes()
        builders = {
            "traces.png": lambda: _trace_figure(self.report),
            "ranks.png": lambda: _rank_figure(self.report),
            "occupancy.png": lambda: plots.plot_occupancy(self.report).figure,
        }
        if has_graph:
            builders["disconnectivity.png"] = lambda: (
                plots.plot_disconnectivity(self.report.landscape).figure
            )
            builders["basin_graph.png"] = lambda: plots.plot_basin_graph(self.graph).figure
        if self.tempering is not None and self.basins:
            builders["free_energies.png"] = lambda: _free_energy_figure(self.basins, self.tempering)
        figs = {name: build() for name, build in builders.items() if names is None or name in names}
        for fig in figs.values():
            fig.tight_layout()
        return figs

    def write(self, folder) -> Path:
        """Write the report folder (module docstring); returns its path."""
        folder = check_writable(folder)
        images = render_pngs(self.figures(), folder)
        summary = {**self.to_dict(), "figures": list(images)}
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
        (folder / "report.txt").write_text(str(self.report) + "\n")
        (folder / "report.html").write_text(self.to_html(images))
        if self.graph is not None:
            (folder / "basin_graph.json").write_text(json.dumps(_graph_json(self.graph), indent=1))
        if self.idata is not None:
            arviz_compat.to_netcdf(self.idata, folder / "idata.nc")
        return folder

    def to_html(self, images: dict | None = None) -> str:
        """The self-contained page; ``images`` ``{name: base64 PNG}`` (rendered when ``None``)."""
        if images is None:
            images = render_pngs(self.figures())
        return _page(self, images)


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
            (folder / name).write_bytes(buf.getvalue())
        images[name] = base64.b64encode(buf.getvalue()).decode("ascii")
    return images


def _trace_figure(report):
    """Energy (when known) and the revealing observables, one panel each, sharing the x axis."""
    import matplotlib.pyplot as plt

    from . import plots

    names = [k for k in ("energy",) if k in report.observables]
    names += [k for k in plots.revealing_observables(report) if k not in names]
    names = names or list(report.observables)[:1]
    fig, axes = plt.subplots(len(names), 1, figsize=(8.5, 2.6 * len(names)), sharex=True)
    for i, (name, ax) in enumerate(zip(names, np.atleast_1d(axes), strict=True)):
        plots.plot_traces(report, name, ax=ax)
        if i and ax.get_legend() is not None:  # one legend, beside the top panel
            ax.get_legend().remove()
        if i < len(names) - 1:
            ax.set_xlabel("")
    return fig


def _free_energy_figure(basins: list[dict], tempering):
    """``F_a - F`` per basin with error bars: the diagnosed chains vs parallel tempering."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    x = np.array([b["basin"] for b in basins], float)
    gibbs = np.array([b.get("relative_free_energy", np.nan) for b in basins], float)
    gibbs_err = np.array([b.get("free_energy_stderr", np.nan) for b in basins], float)
    idx = x.astype(int)
    tempered = tempering.free_energies.relative_free_energy[idx]
    tempered_err = tempering.relative_stderr()[idx]
    series = (("Gibbs chains", gibbs, gibbs_err), ("parallel tempering", tempered, tempered_err))
    for offset, (label, y, err) in zip((-0.12, 0.12), series, strict=True):
        ok = np.isfinite(y)
        ax.errorbar(
            x[ok] + offset, y[ok], yerr=np.nan_to_num(err[ok]), fmt="o", capsize=3, label=label
        )
    ax.set_xlabel("basin")
    ax.set_ylabel("$F_a - F = -\\log(p_a) / \\beta$")
    ax.set_xticks(x)
    ax.legend()
    ax.set_title("per-basin free energy (error bars: 1 s.e.)")
    return fig


def _rank_figure(report):
    """ArviZ rank plots of up to three observables in one row, with a figure title."""
    import matplotlib.pyplot as plt

    from . import plots

    axes = plots.plot_ranks(report)
    fig = axes.ravel()[0].figure
    fig.set_size_inches(4.0 * axes.size, 3.6)
    fig.suptitle("rank plots: each chain's ranks among all draws (flat when the chains mix)")
    plt.figure(fig)
    return fig


def _graph_json(graph) -> dict:
    import networkx as nx

    g = graph.copy()
    for _, data in g.nodes(data=True):
        data["state"] = data["state"].tolist()
    g.graph.pop("minimax_saddles", None)
    return to_jsonable(nx.node_link_data(g, edges="edges"))


def _table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        if isinstance(v, float | np.floating):
            return f"{v:.4g}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;"
    "text-align:right}img{max-width:100%;display:block;margin:1em 0}"
)


def _page(analysis: AnalysisReport, images: dict) -> str:
    from .diagnostics.ergodicity_report import STATUS_COLOURS

    r = analysis.report
    title = f"ergodic-ppl report: {analysis.name}"
    basins = analysis.basins
    basin_cols = ["basin", *[c for c in BASIN_COLUMNS if any(c in b for b in basins)], "chains"]
    beta = "" if r.beta is None else f", beta = {np.asarray(r.beta).tolist()}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{r.info['n']} spins, {r.num_chains} chains{html.escape(beta)}</p>",
        f'<p style="color:{STATUS_COLOURS[r.status]};font-weight:bold">status: {r.status}</p>',
        f"<p>{html.escape(r.verdict)}</p>",
    ]
    for heading, items in (("Remedies", r.remedies), ("Warnings", r.warnings)):
        if items:
            li = "".join(f"<li>{html.escape(i)}</li>" for i in items)
            parts.append(f"<h2>{heading}</h2><ul>{li}</ul>")
    tempered = analysis.tempering_summary()
    if tempered is not None:
        basin_cols[-1:-1] = list(TEMPERED_COLUMNS)
    parts.append("<h2>Basins</h2>")
    parts.append(_table(basins, basin_cols) if basins else "<p>no basins computed</p>")
    if tempered is not None:
        parts.append(
            "<p>tempered_*: parallel tempering, "
            f"{tempered['num_chains']} chains x {tempered['num_draws']} draws on "
            f"{len(tempered['betas'])} rungs (mean swap rate {tempered['mean_swap_rate']:.2f}); "
            f"log Z = {tempered['log_z']:.4f} &plusmn; {tempered['log_z_stderr']:.4f} "
            f"({html.escape(tempered['log_z_method'])}); "
            f"{tempered['unassigned_probability']:.1%} of its draws lie in no basin found by "
            "the chains. Error bars: one standard error.</p>"
        )
    edges = analysis.connections()
    if edges:
        cols = ["basins", *sorted({k for e in edges for k in e} - {"basins"})]
        parts += ["<h2>Connections</h2>", _table(edges, cols)]
    parts.append("<h2>R-hat and ESS per observable</h2>")
    parts.append(r.to_dataframe().to_html(float_format=lambda v: f"{v:.3g}"))
    parts.append("<h2>Occupancy (chain x basin)</h2>")
    parts.append(r.occupancy_dataframe().to_html(float_format=lambda v: f"{v:.2f}"))
    parts.append("<h2>Figures</h2>")
    parts += [
        f'<img alt="{html.escape(n)}" src="data:image/png;base64,{b}">' for n, b in images.items()
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "".join(parts)
        + "</body></html>\n"
    )


def build(report, *, name: str = "report", idata=None, patterns=None, meta=None, tempering=None):
    """An :class:`AnalysisReport` of ``report`` (an :class:`~ergodic_ppl.ErgodicityReport`).

    The basin graph is built from ``report.landscape`` at ``report.beta`` (the beta
    :func:`~ergodic_ppl.diagnose` found or was given: no other guess).  ``idata`` (an ArviZ
    ``InferenceData`` or ``DataTree``, written as ``idata.nc``) gets each draw's basin as
    ``sample_stats["basin"]``; ``patterns`` ``(P, n)`` adds each basin's overlaps with them;
    ``meta`` (run settings, timings) is copied into :meth:`AnalysisReport.to_dict`;
    ``tempering`` (:func:`~ergodic_ppl.basins.tempered_free_energies` on ``report.landscape``)
    adds the tempered per-basin free energies.
    """
    from .basins import basin_graph

    graph = None
    if report.landscape is not None:
        beta = report.beta if np.ndim(report.beta) == 0 else None
        graph = basin_graph(report, beta=beta)
        if idata is not None:
            labels = report.landscape.labels
            arviz_compat.add_variable(idata, "sample_stats", "basin", labels, ("chain", "draw"))
    pats = None if patterns is None else np.atleast_2d(np.asarray(patterns))
    return AnalysisReport(name, report, graph, idata, pats, dict(meta or {}), tempering)
