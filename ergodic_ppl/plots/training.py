"""Training curves of :func:`ergodic_ppl.learning.fit` (``fit.plot()``)."""

from __future__ import annotations

import numpy as np

from ._common import _legend


def plot_fit(history, axes=None):
    """Training curves of :func:`ergodic_ppl.learning.fit` (docs/THEORY.md B.2) in four panels:

    1. the NLL per data point (nats) with its error bar (Jarzynski, or exact), points whose
       Jarzynski ESS is unreliable hollow;
    2. the mean accumulated work on the learning chains and the excess work
       ``W_ex = <W> - Delta F``;
    3. the gradient norm and the predicted excess work per update ``tau Var(w)``;
    4. the chain monitor: R-hat of the chains' energy and the number of data basins the
       chains miss, per block.

    ``axes``: four Axes (a new 2 x 2 figure, constrained layout, otherwise). Panels without
    data say so.  Each legend (``loc="best"``) names only the lines that show at least one
    point (a curve that is NaN throughout, or not positive on a log scale, is left out).
    Returns the array of Axes.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        axes = plt.subplots(2, 2, figsize=(10, 7), layout="constrained")[1]
    axes = np.asarray(axes).reshape(-1)
    step = history["step"].values

    def empty(ax, what):
        ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes)

    ax = axes[0]
    if "nll" in history:
        nll = history["nll"].values
        err = history["nll_stderr"].values
        ok = np.isfinite(nll)
        ax.plot(step[ok], nll[ok], "-", color="C0")
        ax.fill_between(step[ok], (nll - 2 * err)[ok], (nll + 2 * err)[ok], alpha=0.3)
        if "jarzynski_reliable" in history:
            bad = ok & ~history["jarzynski_reliable"].values.astype(bool)
            ax.plot(step[bad], nll[bad], "o", mfc="none", color="C3", label="ESS unreliable")
            _legend(ax)
        ax.set_ylabel("NLL per data point (nats), ±2 s.e.")
    else:
        empty(ax, "NLL curve")
    ax = axes[1]
    if "total_work" in history:
        ax.plot(step, history["total_work"].values, label="<W> (learning chains)")
        if "excess_work" in history:
            ax.plot(step, history["excess_work"].values, label="W_ex = <W> - ΔF")
        _legend(ax)
        ax.set_ylabel("work (kT)")
    else:
        empty(ax, "work (exact gradient)")
    ax = axes[2]
    ax.semilogy(step, history["grad_norm"].values, label="|gradient|")
    if "predicted_excess_work" in history:
        ax.semilogy(step, history["predicted_excess_work"].values, label="τ Var(w) per update")
    _legend(ax)
    ax = axes[3]
    if "rhat_energy" in history:
        when = history["monitor_step"].values
        ax.plot(when, history["rhat_energy"].values, "o-", label="R-hat of chain energy")
        ax.plot(when, history["num_unvisited_data_basins"].values, "s-",
                label="data basins the chains miss")  # fmt: skip
        ax.axhline(1.01, color="grey", lw=0.8, ls=":")
        _legend(ax)
    else:
        empty(ax, "chain monitor")
    for ax in axes:
        ax.set_xlabel("update")
    return axes
