"""Plots of the chains of an ergodicity report: traces, rank plots, basin occupancy."""

from __future__ import annotations

import numpy as np

from ._common import _axes, _set_title, _tidy

MAX_LEGEND_CHAINS = 10  # above this, chains are coloured by a colormap instead of a legend
MAX_ANNOTATED = (16, 8)  # (chains, columns): occupancy cells are labelled up to this size
RANK_SEED = 0  # of the random order that breaks ties between equal draws in the rank plots
CLIPPED_HATCH = "////"  # rank bars cut at the row above


def plot_traces(report, observable: str = "energy", ax=None):
    """Trace of ``report.observables[observable]`` ``(chains, draws)``, one line per chain.

    Chains are told apart by a legend outside the axes, on the right (up to 10 chains; it
    never covers the data), or by a colormap with a colour bar; the title gives the
    observable's R-hat (and nested R-hat when computed), wrapped to the width of the axes.
    A new figure is laid out so that title and legend lie inside it.
    """
    if observable not in report.observables:
        raise ValueError(
            f"unknown observable {observable!r}; available: {list(report.observables)}."
        )
    import matplotlib as mpl

    x = np.asarray(report.observables[observable])
    chains, draws = x.shape
    owned = ax is None
    ax = _axes(ax, (8, 3.5))
    steps = np.arange(draws)
    if chains <= MAX_LEGEND_CHAINS:
        for c in range(chains):
            ax.plot(steps, x[c], lw=0.8, alpha=0.85, label=f"chain {c}")
        ax.legend(
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            frameon=False,
        )
    else:
        cmap = mpl.colormaps["viridis"]
        norm = mpl.colors.Normalize(0, chains - 1)
        for c in range(chains):
            ax.plot(steps, x[c], lw=0.6, alpha=0.6, color=cmap(norm(c)))
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(sm, ax=ax, label="chain")
    ax.set_xlabel("draw")
    ax.set_ylabel(observable)
    title = f"{observable}: R-hat {report.rhat[observable]:.3g}"
    if report.nested_rhat:
        title += f", nested R-hat {report.nested_rhat[observable]:.3g}"
    note = report.notes.get(observable)
    _set_title(ax, title + (f" ({note})" if note else ""))
    _tidy(ax.figure, owned)
    return ax


def revealing_observables(report, limit: int = 2) -> list[str]:
    """Up to ``limit`` observables that reveal broken ergodicity, most telling first.

    Overlaps with the stored patterns or the basin minima (chains in different basins sit at
    different overlaps), else ``|m|`` and ``m``; observables constant over every draw are left
    out.  The energy, equal in mirror basins, is not among them.
    """
    obs = report.observables
    names = [k for k in obs if k.startswith("overlap_pattern")]
    names = names or [k for k in obs if k.startswith("overlap_basin")]
    names += ["abs_magnetization", "magnetization"]
    return [k for k in names if k in obs and not _constant(obs[k])][:limit]


def _constant(x) -> bool:
    x = np.asarray(x)
    return bool(np.all(x == x.flat[0]))


def _random_ranks(x, rng) -> np.ndarray:
    """Ranks ``0..size-1`` of the draws ``x`` over all chains, ties broken in a random order.

    Averaged ranks give every draw of a tied value (a 0/1 indicator: half the draws, or all
    of them) one rank, so a well-mixed discrete observable piles into single bars; with ties
    broken at random the ranks are uniform whenever the chains mix, as for a continuous one."""
    x = np.asarray(x, np.float64)
    order = np.lexsort((rng.random(x.size), x.ravel()))
    ranks = np.empty(x.size, np.float64)
    ranks[order] = np.arange(x.size, dtype=np.float64)
    return ranks.reshape(x.shape)


def _fit_rank_bars(axes, num_chains: int, num_draws: int) -> None:
    """Keep each chain's rank bars (ArviZ 0.2x: rows ``2 / (chains * draws)`` apart, twice the
    uniform bar height) in its own row and the axes: taller bars are cut at the row above and
    hatched, the y range is the rows."""
    from matplotlib.patches import Rectangle

    gap = 2.0 / (num_chains * num_draws)
    for ax in np.ravel(axes):
        bars = [p for p in ax.patches if isinstance(p, Rectangle)]
        rows = np.array([bar.get_y() / gap for bar in bars])
        if not bars or not np.allclose(rows, np.round(rows), atol=1e-6):
            continue  # not ArviZ's stacked bars
        for bar in bars:
            if bar.get_height() > gap:
                bar.set_height(gap)
                bar.set_hatch(CLIPPED_HATCH)
        ax.relim()
        ax.set_ylim(0.0, num_chains * gap)


def plot_ranks(report, var_names=None, **kwargs):
    """ArviZ rank plots (``az.plot_rank``) of the report's observables.

    ``var_names`` defaults to the energy, the magnetization and the first basin indicator,
    leaving out observables constant over every draw (their ranks carry no information).
    Ties (discrete observables: energies of a lattice, 0/1 basin indicators) are broken in a
    random order (fixed seed), so chains that mix give flat bars.  ArviZ 0.2x draws each
    chain's bars in its own row, twice the uniform height tall; a bar taller than that (the
    chain's ranks piled into a narrow range: it is not mixing) is cut at the row above and
    hatched, so every bar stays in its row and in the axes.  ``kwargs`` go to
    ``az.plot_rank`` (bars of ranks under ArviZ 0.2x, their ECDF difference under 1.x).
    Returns an array of Axes, one per observable.
    """
    from .. import arviz_compat

    obs = report.observables
    if var_names is None:
        candidates = ["energy", "magnetization"]
        candidates += [name for name in obs if name.startswith("in_basin")][:1]
        var_names = [name for name in candidates if name in obs and not _constant(obs[name])]
        if not var_names:
            var_names = [name for name in obs if not _constant(obs[name])][:3]
        if not var_names:
            raise ValueError(
                f"every observable is constant over all draws ({list(obs)}): nothing to rank."
            )
    else:
        var_names = [var_names] if isinstance(var_names, str) else list(var_names)
        unknown = [name for name in var_names if name not in obs]
        if unknown:
            raise ValueError(f"unknown observables {unknown}; available: {list(obs)}.")
        const = [name for name in var_names if _constant(obs[name])]
        if const:
            raise ValueError(
                f"observables {const} are constant over every draw of every chain; rank plots "
                "of a constant are meaningless. Leave them out of `var_names`."
            )
    rng = np.random.default_rng(RANK_SEED)
    ranks = {name: _random_ranks(obs[name], rng) for name in var_names}
    idata = arviz_compat.from_dict(posterior=ranks)
    axes = arviz_compat.plot_rank(idata, var_names, **kwargs)
    if not arviz_compat.ARVIZ_1 and kwargs.get("kind", "bars") == "bars":
        _fit_rank_bars(axes, *np.shape(obs[var_names[0]]))
    return axes


def plot_occupancy(report, ax=None):
    """Heat map of ``report.occupancy`` (chains x basin columns), with a colour bar.

    Cells are labelled with their share when the matrix has at most 16 chains and 8 columns.
    """
    occ = np.asarray(report.occupancy, np.float64)
    chains, cols = occ.shape
    owned = ax is None
    ax = _axes(ax, (1.6 + 0.8 * cols, 1.2 + min(0.35 * chains, 8)))
    im = ax.imshow(occ, aspect="auto", cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="share of the chain's draws")
    ax.set_xticks(np.arange(cols), labels=list(report.columns))
    if chains <= 32:
        ax.set_yticks(np.arange(chains))
    ax.set_xlabel("basin")
    ax.set_ylabel("chain")
    if chains <= MAX_ANNOTATED[0] and cols <= MAX_ANNOTATED[1]:
        for (c, j), v in np.ndenumerate(occ):
            ax.text(
                j, c, f"{v:.2f}", ha="center", va="center", color="white" if v > 0.5 else "black"
            )
    _set_title(ax, "basin occupancy per chain")
    _tidy(ax.figure, owned)
    return ax
