"""The figures of a :class:`~ergodic_ppl.report.TrainingReport` beyond
:mod:`ergodic_ppl.plots`: the log-likelihood panel of the training curves, spin grids with a
title, and legends placed above their axes (never over a curve) naming only drawn lines."""

from __future__ import annotations

import numpy as np

__all__ = [
    "grid_figure",
    "jarzynski_left_out",
    "legends_above",
    "log_likelihood_panel",
    "training_figure",
]


def _reliable(history) -> np.ndarray | None:
    """Updates whose Jarzynski NLL is finite and reliable (None without a Jarzynski curve)."""
    if "nll" not in history:
        return None
    ok = np.isfinite(history["nll"].values)
    if "jarzynski_reliable" in history:
        ok &= history["jarzynski_reliable"].values.astype(bool)
    return ok


def jarzynski_left_out(history) -> str | None:
    """What the training figure leaves out of the Jarzynski curve, in words (None: nothing)."""
    ok = _reliable(history)
    if ok is None or ok.all():
        return None
    return (
        f"the Jarzynski curve is not drawn at {(~ok).sum()} of {len(ok)} updates, where its "
        "effective sample size is too small to trust"
    )


def _drawn(handle) -> bool:
    """Whether a legend handle stands for something visible (a line with a finite point)."""
    from matplotlib.container import Container
    from matplotlib.lines import Line2D

    if isinstance(handle, Container):  # errorbar: its data line, or any child
        children = [c for c in handle.get_children() if c is not None]
        return any(_drawn(c) for c in children) if children else False
    if isinstance(handle, Line2D):
        y = np.asarray(handle.get_ydata(), dtype=float)
        return bool(handle.get_visible() and np.isfinite(y).any())
    return bool(getattr(handle, "get_visible", lambda: True)())


def legends_above(fig) -> None:
    """Every axes' legend moved above its axes (outside the data, so it never covers a
    curve), naming only the lines that are drawn."""
    for ax in fig.axes:
        if ax.get_legend() is None:
            continue
        handles, labels = ax.get_legend_handles_labels()
        ax.get_legend().remove()
        kept = [(h, lab) for h, lab in zip(handles, labels, strict=True) if _drawn(h)]
        if kept:
            ax.legend(
                *zip(*kept, strict=True),
                loc="lower left",
                bbox_to_anchor=(0.0, 1.01),
                ncol=2,
                fontsize="small",
                frameon=False,
                borderaxespad=0.0,
            )


def log_likelihood_panel(ax, history, evaluations) -> None:
    """Train and held-out NLL per row at the evaluations (error bars 2 s.e. of log Z and of the
    held-out rows' mean) and the Jarzynski curve where its ESS is reliable; unreliable stretches
    are not drawn, and when none is reliable neither the curve nor a legend entry is
    (:func:`jarzynski_left_out` says so in words)."""
    ax.clear()
    ok = _reliable(history)
    if ok is not None and ok.any():
        step, nll, err = (history[k].values for k in ("step", "nll", "nll_stderr"))
        shown = np.where(ok, nll, np.nan)
        ax.plot(step, shown, "-", color="C0", lw=1,
                label=f"Jarzynski (reliable at {ok.sum()} of {len(ok)} updates)")  # fmt: skip
        ax.fill_between(step, shown - 2 * err, shown + 2 * err, color="C0", alpha=0.3)
    when = [e["step"] for e in evaluations]
    train = [-e["train_log_likelihood"] for e in evaluations]
    test = [-e["log_likelihood"] for e in evaluations]
    z_err = np.array([2 * e["log_z_stderr"] for e in evaluations])
    data_err = np.nan_to_num([2 * e["data_stderr"] for e in evaluations])
    ax.errorbar(when, train, yerr=z_err, fmt="o-", color="C2", capsize=3,
                label="train NLL (log Z by AIS)")  # fmt: skip
    ax.errorbar(when, test, yerr=np.hypot(z_err, data_err), fmt="D-", color="C1", capsize=3,
                label="held-out NLL")  # fmt: skip
    ax.set_xlabel("update")
    ax.set_ylabel("NLL per row (nats), ±2 s.e.")
    ax.legend()


def training_figure(history, evaluations):
    """:func:`ergodic_ppl.plots.plot_fit`'s four panels, the first redrawn by
    :func:`log_likelihood_panel`, legends above the axes."""
    from .. import plots

    axes = plots.plot_fit(history)
    log_likelihood_panel(axes[0], history, evaluations)
    fig = axes[0].figure
    legends_above(fig)
    return fig


def grid_figure(states, image_shape, titles, title):
    """States as images (:func:`ergodic_ppl.plots.plot_spin_grid`) under a figure title."""
    from .. import plots

    axes = plots.plot_spin_grid(states, image_shape, titles=titles, columns=8)
    fig = np.atleast_1d(axes).ravel()[0].figure
    fig.suptitle(title)
    fig.tight_layout()
    return fig
