"""The result of :func:`~ergodic_ppl.diagnostics.diagnose`: :class:`ErgodicityReport`.

Tables (pandas), text, HTML for notebooks and shortcuts to :mod:`ergodic_ppl.plots`; the
report folder with figures is :mod:`ergodic_ppl.report` (docs/THEORY.md A.6).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from ..basins import Landscape
from .observables import VISIT_RULE
from .observables import visiting_chains as _visiting_chains
from .verdict import RHAT_THRESHOLD

__all__ = ["STATUSES", "ErgodicityReport"]

STATUSES = ("ergodic", "not_converged", "broken")
STATUS_COLOURS = {"ergodic": "#1a7f37", "not_converged": "#9a6700", "broken": "#cf222e"}


@dataclass(eq=False)
class ErgodicityReport:
    """What :func:`diagnose` found.

    - **status** - ``"ergodic"``, ``"not_converged"`` or ``"broken"`` (rules in
      :mod:`ergodic_ppl.diagnostics.verdict`): ``"ergodic"`` when every observable's R-hat
      (nested R-hat with superchains) is at most ``rhat_threshold``, at least one chain moved
      and, for models symmetric under ``s -> -s``, no basin holding at least 5 % of the draws
      has a mirror image that no draw reached; ``"broken"`` on an R-hat above 1.2, a chain
      confined to a basin another chain never visits, an unvisited mirror or chains frozen in
      different states; ``"not_converged"`` otherwise (run longer).  **ergodic** is
      ``status == "ergodic"``.
    - **beta** - the inverse temperature: found on the model's ``BoltzmannSpins`` site or
      passed to :func:`diagnose` (``None`` when neither gives it).
    - **num_basins** - number of basins holding at least ``min_occupancy`` of the draws
      (1 when none does: no dominant minimum, e.g. a disordered phase).
    - **occupancy** - ``(chains, columns)`` share of each chain's draws per basin; a final
      ``"other"`` column collects draws in no basin when there are any.
    - **columns** - names of the occupancy columns (``"basin0"``, ..., ``"other"``).
    - **rhat**, **ess_bulk**, **ess_tail**, **nested_rhat** - per observable (dicts).
    - **notes** - per observable remarks (constant chains, ...).
    - **chain_basins** - for each chain, the basins it visits: those holding at least 5 % of
      its draws (the one rule, :data:`~ergodic_ppl.diagnostics.observables.VISIT_RULE`, also
      that of :meth:`visiting_chains` and the report's tables); never ``"other"``.
    - **verdict** - one paragraph; **remedies** - what to do when ergodicity is broken;
      **warnings** - everything else worth knowing.
    - **observables** - ``{name: (chains, draws)}`` arrays; **landscape** - the
      :class:`~ergodic_ppl.basins.Landscape` (basins, transitions, barrier estimates).
    """

    status: str
    num_basins: int
    occupancy: np.ndarray
    columns: list
    rhat: dict
    ess_bulk: dict
    ess_tail: dict
    nested_rhat: dict | None
    notes: dict
    chain_basins: list
    verdict: str
    remedies: list
    warnings: list
    observables: dict
    landscape: Landscape | None = None
    rhat_threshold: float = RHAT_THRESHOLD
    beta: float | np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES}; got {self.status!r}.")

    @property
    def ergodic(self) -> bool:
        """``status == "ergodic"``."""
        return self.status == "ergodic"

    @property
    def num_chains(self) -> int:
        return self.occupancy.shape[0]

    def visiting_chains(self) -> dict[str, list[int]]:
        """``{basin column: [chains that visit it]}`` by the one rule (``VISIT_RULE``: at least
        5 % of the chain's draws), for every basin; ``"other"`` is no basin."""
        return _visiting_chains(self.occupancy, self.columns)

    def to_dataframe(self):
        """One row per observable: ``rhat``, ``ess_bulk``, ``ess_tail`` (``nested_rhat``), ``note``."""
        import pandas as pd

        rows = {
            name: {
                "rhat": self.rhat[name],
                "ess_bulk": self.ess_bulk[name],
                "ess_tail": self.ess_tail[name],
                **({"nested_rhat": self.nested_rhat[name]} if self.nested_rhat else {}),
                "note": self.notes.get(name, ""),
            }
            for name in self.observables
        }
        return pd.DataFrame.from_dict(rows, orient="index")

    def occupancy_dataframe(self):
        """The chain x basin occupancy as a DataFrame."""
        import pandas as pd

        return pd.DataFrame(
            self.occupancy,
            index=pd.Index(range(self.num_chains), name="chain"),
            columns=self.columns,
        )

    def to_idata(self):
        """The observables as the posterior group of an ArviZ ``InferenceData`` (ArviZ 0.2x) or
        ``DataTree`` (ArviZ 1.x), for ArviZ's own plots and summaries."""
        from .. import arviz_compat

        return arviz_compat.from_dict(posterior=dict(self.observables))

    def __str__(self) -> str:
        lines = [f"status: {self.status}", self.verdict, ""]
        lines.append(self.to_dataframe().to_string(float_format=lambda v: f"{v:.3g}"))
        lines += ["", "occupancy (chains x basins):"]
        lines.append(self.occupancy_dataframe().round(3).to_string())
        visitors = self.visiting_chains()
        if visitors:
            lines += ["", f"chains per basin ({VISIT_RULE.split(';')[0]}):"]
            lines += [f"  {b}: {cs if cs else 'none'}" for b, cs in visitors.items()]
        if self.remedies:
            lines += ["", "remedies:"] + [f"  - {r}" for r in self.remedies]
        if self.warnings:
            lines += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        worst = max((v for v in self._decisive().values() if np.isfinite(v)), default=np.nan)
        return (
            f"ErgodicityReport({self.status}, num_basins={self.num_basins}, chains={self.num_chains}, "
            f"max R-hat={worst:.3g}"
            + (
                f", beta={self.beta:.4g}"
                if np.ndim(self.beta) == 0 and self.beta is not None
                else ""
            )
            + ")"
        )

    def _decisive(self) -> dict:
        return self.nested_rhat if self.nested_rhat else self.rhat

    def _repr_html_(self) -> str:
        colour = STATUS_COLOURS[self.status]
        head = (
            f'<p style="color:{colour};font-weight:bold">status: {self.status}</p>'
            f"<p>{html.escape(self.verdict)}</p>"
        )
        table = self.to_dataframe().to_html(float_format=lambda v: f"{v:.3g}")
        occ = self.occupancy_dataframe().to_html(float_format=lambda v: f"{v:.2f}")
        parts = [head, "<h4>Convergence per observable</h4>", table]
        parts += ["<h4>Occupancy (chain x basin)</h4>", occ, f"<p>{html.escape(VISIT_RULE)}.</p>"]
        for title, items in (("Remedies", self.remedies), ("Warnings", self.warnings)):
            if items:
                li = "".join(f"<li>{html.escape(i)}</li>" for i in items)
                parts.append(f"<h4>{title}</h4><ul>{li}</ul>")
        return "<div>" + "".join(parts) + "</div>"

    # plots live in ergodic_ppl.plots; these are shortcuts
    def plot_traces(self, observable: str = "energy", ax=None):
        """Trace of one observable per chain (default: the energy)."""
        from ..plots import plot_traces

        return plot_traces(self, observable, ax=ax)

    def plot_ranks(self, var_names=None, **kwargs):
        """ArviZ rank plots (``az.plot_rank``) of the observables."""
        from ..plots import plot_ranks

        return plot_ranks(self, var_names=var_names, **kwargs)

    def plot_occupancy(self, ax=None):
        """Heat map of the chain x basin occupancy."""
        from ..plots import plot_occupancy

        return plot_occupancy(self, ax=ax)
