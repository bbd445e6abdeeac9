"""The result of :func:`~ergodic_ppl.compare`: :class:`Comparison` (tables, verdict, text,
HTML and plot)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from ..spins import SpinModel

_FE_TITLE = {"free_energy": "F_a - F ± se", "beta_free_energy": "beta (F_a - F) = -log p_a"}


@dataclass(eq=False)
class Comparison:
    """What :func:`compare` found (all tables are pandas DataFrames).

    - **runs** - run names, in the order given.
    - **basins** - one row per basin ``basin0..``: ``energy`` of its minimum,
      ``magnetization``, ``mirror_of`` (the basin it mirrors, ``""`` if none), ``found``
      (False for a mirror added by symmetry) and ``name`` (``"basin1 = -basin0"``).
    - **minima** ``(K, n) int8`` - the basin minima; **labels** - ``{run: (chains, draws)}``
      basin of each draw (-1: other).
    - **occupancy** - ``(run, chain)`` x basin columns (``"other"`` when some draw is in no
      basin): share of the chain's draws; **run_occupancy** - the same pooled per run.
    - **free_energies** - ``(run, basin)`` rows: ``probability`` ``p_a`` and
      ``probability_stderr``, ``ess_bulk`` of the indicator, ``beta_free_energy`` ``= -log p_a``,
      ``free_energy`` ``F_a - F = -log(p_a) / beta`` and ``free_energy_stderr`` (NaN without
      ``beta``; ``inf`` for an unvisited basin).
    - **diagnostics** - observable x ``(run, rhat | ess_bulk)``.
    - **tests** - ``(run_a, run_b, test)`` rows, ``test`` in ``("energy", "basins")``:
      ``statistic``, ``dof``, ``p_value``, ``same`` (``p_value > alpha``), ``ess_a``,
      ``ess_b``, ``note``.
    - **alpha**, **beta** (``{run: beta or None}``), **symmetric** (``E(-s) = E(s)``),
      **overlap_threshold**, **model**, **inputs** (``{run: kind of input}``), **warnings**.
    """

    runs: list
    basins: object
    minima: np.ndarray
    labels: dict
    occupancy: object
    run_occupancy: object
    free_energies: object
    diagnostics: object
    tests: object
    alpha: float
    beta: dict
    symmetric: bool
    overlap_threshold: float
    model: SpinModel
    inputs: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when no test of any pair rejects at ``alpha``."""
        return bool(self.tests["same"].all()) if len(self.tests) else True

    @property
    def verdict(self) -> str:
        """One line per pair of runs."""
        if not len(self.tests):
            return "one run: nothing to compare."
        lines = []
        for (a, b), t in self.tests.groupby(level=[0, 1], sort=False):
            t = t.droplevel([0, 1])
            ps = ", ".join(f"{k} p={t.loc[k, 'p_value']:.3g}" for k in t.index)
            if t["same"].all():
                lines.append(f"{a} vs {b}: same distribution at alpha={self.alpha:g} ({ps}).")
                continue
            occ = self.run_occupancy
            col = (occ.loc[a] - occ.loc[b]).abs().idxmax()
            lines.append(
                f"{a} vs {b}: DIFFERENT ({ps}); largest gap: {col} "
                f"{occ.loc[a, col]:.2f} vs {occ.loc[b, col]:.2f}."
            )
        return "\n".join(lines)

    def to_dataframe(self):
        """One row per run: chains, draws, beta, occupancy, ``F_a - F`` +- se, R-hat and ESS."""
        import pandas as pd

        rows = {}
        for run in self.runs:
            lab = self.labels[run]
            row = {"input": self.inputs[run], "chains": lab.shape[0], "draws": lab.shape[1]}
            row["beta"] = self.beta[run]
            row.update({f"occupancy_{c}": v for c, v in self.run_occupancy.loc[run].items()})
            fe = self.free_energies.loc[run]
            for basin in fe.index:
                row[f"free_energy_{basin}"] = fe.loc[basin, "free_energy"]
                row[f"free_energy_stderr_{basin}"] = fe.loc[basin, "free_energy_stderr"]
            for obs in ("energy", "magnetization"):
                if obs in self.diagnostics.index:
                    row[f"rhat_{obs}"] = self.diagnostics.loc[obs, (run, "rhat")]
                    row[f"ess_bulk_{obs}"] = self.diagnostics.loc[obs, (run, "ess_bulk")]
            inds = [i for i in self.diagnostics.index if i.startswith("in_")]
            row["max_rhat_basins"] = self.diagnostics.loc[inds, (run, "rhat")].max()
            rows[run] = row
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")

    def _free_energy_table(self):
        """``(basin x run table of "F ± se" strings, column used)``."""
        fe = self.free_energies
        col = "free_energy" if fe["free_energy"].notna().any() else "beta_free_energy"
        se = fe["free_energy_stderr"] if col == "free_energy" else fe[col] * np.nan
        text = [
            f"{v:.3g} ± {e:.2g}" if np.isfinite(e) else f"{v:.3g}"
            for v, e in zip(fe[col], se, strict=True)
        ]
        table = fe[[]].assign(value=text)["value"].unstack(0)
        return table.reindex(index=list(self.basins.index), columns=self.runs), col

    def __str__(self) -> str:
        fmt = lambda v: f"{v:.3g}"  # noqa: E731
        fe, col = self._free_energy_table()
        parts = [
            self.verdict,
            "",
            "basins:",
            self.basins.to_string(float_format=fmt),
            "",
            "occupancy per run:",
            self.run_occupancy.round(3).to_string(),
            "",
            f"{_FE_TITLE[col]} per basin:",
            fe.to_string(),
            "",
            "R-hat / ESS:",
            self.diagnostics.to_string(float_format=fmt),
            "",
            "tests:",
            self.tests.to_string(float_format=fmt),
        ]
        if self.warnings:
            parts += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return (
            f"Comparison(runs={self.runs}, basins={len(self.minima)}, same={self.same}, "
            f"alpha={self.alpha:g})"
        )

    def _repr_html_(self) -> str:
        fmt = lambda v: f"{v:.3g}"  # noqa: E731
        colour = "#1a7f37" if self.same else "#cf222e"
        verdict = "<br>".join(html.escape(line) for line in self.verdict.splitlines())
        fe, col = self._free_energy_table()
        parts = [
            f'<p style="color:{colour};font-weight:bold">{verdict}</p>',
            "<h4>Basins</h4>",
            self.basins.to_html(float_format=fmt),
            "<h4>Occupancy per run</h4>",
            self.run_occupancy.to_html(float_format=lambda v: f"{v:.2f}"),
            f"<h4>Basin free energies: {html.escape(_FE_TITLE[col])}</h4>",
            fe.to_html(),
            "<h4>R-hat / ESS</h4>",
            self.diagnostics.to_html(float_format=fmt),
            "<h4>Two-sample tests</h4>",
            self.tests.to_html(float_format=fmt),
        ]
        if self.warnings:
            li = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
            parts.append(f"<h4>Warnings</h4><ul>{li}</ul>")
        return "<div>" + "".join(parts) + "</div>"

    def plot(self, ax=None):
        """Occupancy bars per run and basin, and ``F_a - F`` +- se per basin (second panel).

        ``ax``: one Axes (occupancy only) or two; a new figure otherwise.  Returns the Figure.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            cols = len(self.run_occupancy.columns)
            fig, axes = plt.subplots(1, 2, figsize=(4 + 1.6 * cols, 3.5))
        else:
            axes = list(np.atleast_1d(ax))
            fig = axes[0].figure
        occ = self.run_occupancy
        x = np.arange(len(occ.columns))
        width = 0.8 / len(self.runs)
        for r, run in enumerate(self.runs):
            axes[0].bar(x + (r - (len(self.runs) - 1) / 2) * width, occ.loc[run], width, label=run)
        axes[0].set_xticks(x, labels=list(occ.columns))
        axes[0].set(ylabel="share of the run's draws", title="basin occupancy", ylim=(0, 1.05))
        axes[0].legend(fontsize="small", frameon=False)
        if len(axes) > 1:
            self._plot_free_energies(axes[1], width)
        return fig

    def _plot_free_energies(self, ax, width):
        fe = self.free_energies
        col = "free_energy" if fe["free_energy"].notna().any() else "beta_free_energy"
        basins = list(self.basins.index)
        for r, run in enumerate(self.runs):
            f = fe.loc[run].reindex(basins)
            ok = np.isfinite(f[col].to_numpy())
            xs = np.arange(len(basins)) + (r - (len(self.runs) - 1) / 2) * width
            err = f[col + "_stderr"].to_numpy() if col == "free_energy" else None
            ax.errorbar(xs[ok], f[col].to_numpy()[ok], yerr=None if err is None else err[ok],
                        fmt="o", capsize=3, label=run)  # fmt: skip
        ax.set_xticks(np.arange(len(basins)), labels=basins)
        ylabel = "F_a - F" if col == "free_energy" else "-log p_a (pass beta= for F)"
        ax.set(ylabel=ylabel, title="basin free energies (±1 se)")
