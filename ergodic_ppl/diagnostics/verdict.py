"""The verdict of :func:`~ergodic_ppl.diagnostics.diagnose` from its statistics.

:func:`decide` turns the R-hat of every observable, the chain x basin occupancy and the mirror
check into a :class:`Verdict`: a ``status`` - ``"ergodic"``, ``"not_converged"`` or
``"broken"`` - a one-paragraph text, remedies and warnings.  The rules (docs/THEORY.md A.6):

- **broken** - some decisive R-hat above ``STRONG_RHAT`` (1.2), a chain *confined* (at least
  ``CONFINED_MIN`` of its draws) to a basin another chain does not visit, a Z2-symmetric
  model with a heavy basin whose mirror no draw reached, or every chain frozen in a different
  state;
- **not_converged** - some R-hat above the threshold without that evidence (run longer), or
  every chain frozen in the *same* state: no move was made, so the draws cannot show mixing
  (a frozen run is never called ergodic);
- **ergodic** - otherwise.

Which chains visit which basin is decided by the one rule of
:mod:`ergodic_ppl.diagnostics.observables` (:data:`~.observables.VISIT_RULE`: at least 5 % of
the chain's draws), the same rule the report's tables use; draws in no basin (``"other"``)
are never a basin, in the text or the remedies.  The warnings never contradict the status: an
R-hat between 1.01 and the threshold is "no sign of broken ergodicity" only when nothing else
shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .observables import CHAIN_VISIT_MIN, basin_columns, visiting_chains, visits
from .observables import chain_basins as chain_basins_of

__all__ = ["RHAT_RELIABLE", "RHAT_THRESHOLD", "STRONG_RHAT", "Verdict", "decide"]

# Broken ergodicity shows as R-hat far above 1 (chains in different basins); 1.05 calls it.
# Between 1.01 (Vehtari et al. 2021's bar for reliable estimates) and 1.05 the report warns.
RHAT_THRESHOLD = 1.05
RHAT_RELIABLE = 1.01
CHAIN_BASIN_MIN = CHAIN_VISIT_MIN  # the one visit rule (observables.VISIT_RULE), by its old name
MIRROR_MIN_OCCUPANCY = 0.05  # basins this heavy must have their mirror visited (Z2 models)
STRONG_RHAT = 1.2  # R-hat above this is broken ergodicity, whatever the basins show
CONFINED_MIN = 0.5  # a chain with this share of its draws in a basin another chain never visits


@dataclass
class Verdict:
    """``status``, ``text``, ``remedies``, ``warnings`` and the evidence behind them."""

    status: str
    text: str
    remedies: list
    warnings: list
    chain_basins: list
    confined: list = field(default_factory=list)
    unvisited_mirror: list = field(default_factory=list)


def z2_symmetric(model) -> bool:
    """True when ``E(-s) = E(s)``: no fields and only even-order terms."""
    fields = np.asarray(model.fields)
    odd = any(idx.shape[1] % 2 for idx, _ in model.kbody_terms)
    return not np.any(fields != 0) and not odd


def unvisited_mirrors(landscape, occupancy, overlap_threshold) -> list[int]:
    """Basins holding ``MIRROR_MIN_OCCUPANCY`` of all draws whose mirror no draw's minimum reached.

    Under ``E(-s) = E(s)`` a basin's mirror (overlap ``<= -overlap_threshold`` with its minimum)
    holds the same probability: thousands of expected visits, not zero, in an ergodic run.
    """
    k = landscape.num_basins
    weight = occupancy[:, :k].mean(0)  # share of all draws (chains have equal draws)
    mins = landscape.info["distinct_minima"].astype(np.float32)
    n = mins.shape[1]
    q = mins @ landscape.minima.astype(np.float32).T / n
    heavy = np.flatnonzero(weight >= MIRROR_MIN_OCCUPANCY)
    return [int(a) for a in heavy if not np.any(q[:, a] <= -overlap_threshold)]


def _members(occupancy, columns) -> str:
    """Every basin with the chains that visit it (the one rule); "other" is no basin."""
    held = visiting_chains(occupancy, columns)
    return "; ".join(
        f"{col}: chains {cs}" if cs else f"{col}: no chain (only brief visits)"
        for col, cs in held.items()
    )


def _broken_text(bad, which, threshold, occupancy, columns, mirror, frozen_apart, labelled):
    worst = sorted(bad.items(), key=lambda kv: -kv[1])[:4]
    members = _members(occupancy, columns)
    if worst:
        evidence = f"{which} above {threshold}: " + ", ".join(f"{n} {v:.3g}" for n, v in worst)
    elif frozen_apart:
        evidence = "Every chain frozen, in different states"
    else:
        evidence = "Mirror basins never visited"
    num_basins = max(len(basin_columns(columns)), 1)
    rule = f"chains with at least {CHAIN_VISIT_MIN * 100:g} % of their draws there"
    return (
        f"ergodicity broken: {num_basins} basin(s) over {len(occupancy)} chains"
        + (f" ({rule}: {members})" if labelled and members else "")
        + f". {evidence}."
    )


def _broken_remedies(occupancy, columns, mirror) -> list[str]:
    remedies = [
        "Parallel tempering (ep.ParallelTempering) carries replicas over the barriers "
        "through high temperature; check its round trips and swap rates."
    ]
    held = visiting_chains(occupancy, columns)  # basins only: "other" is never a basin
    lonely = [col for col, chains in held.items() if len(chains) <= 1]
    if lonely or mirror:
        remedies.append(
            "More chains from dispersed starts: "
            + (
                f"{', '.join(lonely)} {'is' if len(lonely) == 1 else 'are'} visited by at most "
                f"one chain (at least {CHAIN_VISIT_MIN * 100:g} % of its draws)"
                if lonely
                else ""
            )
            + (" and " if lonely and mirror else "")
            + (f"the mirrors of {mirror} by none" if mirror else "")
            + ", so the relative weights of the basins are not estimable from these runs."
        )
    remedies.append(
        "A per-basin mixture (docs/THEORY.md A.6): one model per free-energy minimum, weighted "
        "by exp(-F_a / T); restricted free energies from ep.free_energy.basin_free_energies "
        "or, for small n, ep.basins.exact_landscape(model).basin_free_energies(beta)."
    )
    return remedies


def _ergodic_text(decisive, which, threshold, columns, shape, labelled) -> str:
    informative = [nm for nm, v in decisive.items() if not np.isnan(v)]
    constant = len(decisive) - len(informative)
    basins = [c for c in columns if c.startswith("basin")]
    if not labelled:
        basin_text = " (basins not computed: no SpinModel)"
    elif basins:
        basin_text = f" ({', '.join(basins)})"
    else:
        basin_text = " (no minimum holds a noticeable share of draws)"
    return (
        f"ergodic: {which} <= {threshold} for all {len(informative)} informative observables"
        + (f" ({constant} constant, uninformative)" if constant else "")
        + f" over {shape[0]} chains x {shape[1]} draws; {max(len(basins), 1)} basin(s)"
        + f"{basin_text}."
    )


def _not_converged(bad, ess, which, threshold, frozen_all, shape) -> tuple[str, str]:
    if frozen_all:
        return (
            f"not converged: no chain ever changed state (no move was made in {shape[1]} draws "
            f"of {shape[0]} chains, all in the same state), so the draws cannot show mixing.",
            "Check the kernel and the temperature (beta): a sampler that never moves samples "
            "nothing; run at a higher temperature or with parallel tempering and diagnose again.",
        )
    worst = sorted(bad.items(), key=lambda kv: -kv[1])[:4]
    text = (
        f"not converged: {which} above {threshold} for "
        + ", ".join(f"{nm} {v:.3g} (ESS {ess[nm]:.0f})" for nm, v in worst)
        + f", but none above {STRONG_RHAT} and no chain is confined to a basin: no sign "
        "of broken ergodicity yet; the chains are too short to agree."
    )
    return text, (
        f"Run longer (more draws per chain) until every R-hat is below {RHAT_RELIABLE}, or thin "
        "less; then diagnose again."
    )


def decide(stats, occupancy, columns, *, landscape, model, frozen, shape, options) -> Verdict:
    """The :class:`Verdict` from the statistics.

    ``stats`` has ``decisive`` (the R-hat that decides: nested when computed), ``ess``,
    ``which`` ("R-hat" or "nested R-hat"), ``nested`` (whether nested R-hat was computed) and
    ``one_state`` (whether every draw of every chain is the same state); ``frozen``
    ``(chains,)`` marks chains that never moved; ``shape`` is ``(chains, draws)``;
    ``options`` holds ``rhat_threshold`` and ``overlap_threshold``.
    """
    decisive, which, threshold = stats["decisive"], stats["which"], options["rhat_threshold"]
    bad = {name: v for name, v in decisive.items() if v > threshold}
    chain_basins = chain_basins_of(occupancy, columns)
    k = landscape.num_basins if landscape is not None else 0
    warnings = []
    mirror = []
    if k and z2_symmetric(model):
        mirror = unvisited_mirrors(landscape, occupancy, options["overlap_threshold"])
        if mirror:
            warnings.append(
                "the model is symmetric under s -> -s, but no draw reached the mirror images of "
                f"basins {mirror}: they hold the same probability, so the chains cannot be "
                "sampling the model."
            )
    confined = [
        columns[j]
        for j in range(k)
        if occupancy[:, j].max() >= CONFINED_MIN and not visits(occupancy[:, j]).all()
    ]
    frozen_all = bool(frozen.all())
    frozen_apart = frozen_all and not stats["one_state"]
    strong = any(v > STRONG_RHAT for v in bad.values())
    labelled = landscape is not None
    if strong or confined or mirror or frozen_apart:
        status = "broken"
        text = _broken_text(
            bad, which, threshold, occupancy, columns, mirror, frozen_apart, labelled
        )
        remedies = _broken_remedies(occupancy, columns, mirror)
    elif bad or frozen_all:
        status = "not_converged"
        text, remedy = _not_converged(bad, stats["ess"], which, threshold, frozen_all, shape)
        remedies = [remedy]
    else:
        status = "ergodic"
        text = _ergodic_text(decisive, which, threshold, columns, shape, labelled)
        remedies = []
    warnings += _warnings(decisive, which, threshold, frozen, stats["nested"], shape, status)
    return Verdict(status, text, remedies, warnings, chain_basins, confined, mirror)


def _warnings(decisive, which, threshold, frozen, nested, shape, status) -> list[str]:
    """Everything else worth knowing, worded so as never to contradict ``status``."""
    out = []
    marginal = {nm: v for nm, v in decisive.items() if RHAT_RELIABLE < v <= threshold}
    if marginal:
        listed = ", ".join(f"{nm} ({v:.3f})" for nm, v in marginal.items())
        if status == "ergodic":
            tail = ": no sign of broken ergodicity, but run longer before trusting estimates."
        else:  # the status already says what is wrong: these add to it, never soften it
            tail = (
                f": below the threshold, yet not below {RHAT_RELIABLE} either; they do not "
                f"change the status ({status}), which rests on the evidence in the verdict."
            )
        out.append(f"{which} between {RHAT_RELIABLE} and {threshold} for {listed}{tail}")
    if frozen.any() and not frozen.all():
        out.append(f"chains {np.flatnonzero(frozen).tolist()} never changed state.")
    if not nested and shape[0] >= 16 and shape[1] < 100:
        out.append(
            "many short chains: pass `superchains=` (chains grouped by start) for nested R-hat."
        )
    return out
