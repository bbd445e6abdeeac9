"""Ergodicity diagnostics for many spin chains, on top of ArviZ (THEORY.md A.1, A.6).

``diagnose`` turns draws of ±1 spins (from ``numpyro.infer.MCMC``, an ArviZ ``InferenceData``,
``ep.run_chains`` or a plain ``(chains, draws, n)`` array) into per-draw observables — energy,
magnetisation, ``|m|``, overlaps with patterns or with the discovered basin minima, and basin
indicators — and checks with ArviZ's rank-normalised split R-hat and bulk/tail ESS whether
the chains sample one distribution.  Basins come from :mod:`ergodic_ppl.basins` (quench every
draw to its local minimum, group the minima by overlap).  Raw spins are never fed to R-hat: a
chain stuck in one state has zero variance there, which is handled explicitly.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from .basins import Landscape, energies_of, sampled_landscape
from .rhat import convergence, nested_rhat
from .spins import SpinModel, check_spins

__all__ = ["ErgodicityReport", "convergence", "diagnose", "nested_rhat", "spin_model_of"]

# Broken ergodicity shows as R-hat far above 1 (chains in different basins); 1.05 calls it.
# Between 1.01 (Vehtari et al. 2021's bar for reliable estimates) and 1.05 the report warns.
RHAT_THRESHOLD = 1.05
RHAT_RELIABLE = 1.01
CHAIN_BASIN_MIN = 0.05  # a chain "sits in" a basin holding at least this share of its draws
MIRROR_MIN_OCCUPANCY = 0.05  # basins this heavy must have their mirror visited (Z2 models)
# R-hat above RHAT_THRESHOLD is called broken ergodicity when it is large (above STRONG_RHAT)
# or some chain is confined: it spends CONFINED_MIN of its draws in a basin that another chain
# (almost) never visits.  Otherwise the chains are only "not converged" (too few effective
# draws to tell them apart): run longer.
STRONG_RHAT = 1.2
CONFINED_MIN = 0.5


# --------------------------------------------------------------------------- inputs
def spin_model_of(model_fn, *args, site=None, **kwargs):
    """``(site, SpinModel, beta)`` of the ``BoltzmannSpins`` site of a NumPyro model.

    Traces ``model_fn(*args, **kwargs)`` once (seeded); ``site`` picks one when there are
    several.  Returns ``None`` when the model has no ``BoltzmannSpins`` site (e.g. Bernoulli
    bits with ``numpyro.factor`` energies).
    """
    import jax
    from numpyro import handlers

    from .distributions import BoltzmannSpins

    tr = handlers.trace(handlers.seed(model_fn, jax.random.key(0))).get_trace(*args, **kwargs)
    found = [
        (name, s["fn"])
        for name, s in tr.items()
        if s["type"] == "sample" and isinstance(s["fn"], BoltzmannSpins)
    ]
    if site is not None:
        found = [f for f in found if f[0] == site]
    if not found:
        return None
    if len(found) > 1:
        raise ValueError(
            f"the model has several BoltzmannSpins sites {[f[0] for f in found]}; pass `site=`."
        )
    name, dist = found[0]
    beta = np.asarray(dist.beta)
    return name, dist.model, (float(beta) if beta.ndim == 0 else beta)


def _draws_from(samples, site):
    """``(site, spins (chains, draws, n) int8, energy or None, source model info)``."""
    import arviz as az

    energy = None
    source = None
    if hasattr(samples, "get_samples") and hasattr(samples, "sampler"):  # numpyro MCMC
        values = samples.get_samples(group_by_chain=True)
        extra = samples.get_extra_fields(group_by_chain=True)
        energy = extra.get("energy")
        kernel = samples.sampler
        fn = getattr(kernel, "model", None) or getattr(kernel, "_model", None)
        if fn is not None:
            source = (fn, getattr(samples, "_args", ()), getattr(samples, "_kwargs", {}))
    elif isinstance(samples, az.InferenceData):
        values = {k: v.values for k, v in samples.posterior.data_vars.items()}
        stats = getattr(samples, "sample_stats", None)
        if stats is not None and "energy" in stats:
            energy = stats["energy"].values
    elif hasattr(samples, "spins") and hasattr(samples, "energy"):  # ep.run_chains output
        values = {"spins": np.asarray(samples.spins)}
        energy = samples.energy
    elif isinstance(samples, dict):
        values = samples
    else:
        values = {"spins": samples}
    values = {k: np.asarray(v) for k, v in values.items()}
    if site is None:
        binary = [
            k
            for k, v in values.items()
            if v.ndim >= 3 and np.all((v[:, :1] == 1) | (v[:, :1] == -1) | (v[:, :1] == 0))
        ]
        if len(binary) != 1:
            raise ValueError(
                f"cannot tell which site holds the spins (binary sites: {binary}, all: "
                f"{list(values)}); pass `site=`."
            )
        site = binary[0]
    if site not in values:
        raise ValueError(f"`site={site!r}` is not among the samples' sites {list(values)}.")
    raw = values[site]
    if raw.ndim < 3:
        raise ValueError(
            f"site {site!r} must have shape (chains, draws, ...spins); got {raw.shape}. "
            "Run several chains (MCMC num_chains > 1) or pass group_by_chain samples."
        )
    raw = raw.reshape(raw.shape[0], raw.shape[1], -1)
    note = None
    if (raw == 0).any():  # spins are never 0: these are Bernoulli bits
        if not np.all((raw == 0) | (raw == 1)):
            raise ValueError(f"site {site!r} mixes 0 with values other than 1; expected ±1 or 0/1.")
        raw = 1 - 2 * raw.astype(np.int8)  # Bernoulli bits: bit 1 <=> spin -1 (ep convention)
        note = f"site {site!r} holds 0/1 bits; converted to spins s = 1 - 2 b"
    spins = check_spins(raw, raw.shape[-1], name=f"samples[{site!r}]")
    if energy is not None:
        energy = np.asarray(energy, np.float64)
        if energy.shape != spins.shape[:2]:
            energy = None
    return site, spins, energy, source, note


# --------------------------------------------------------------------------- report
@dataclass(eq=False)
class ErgodicityReport:
    """What :func:`diagnose` found.

    - **ergodic** - True when every observable's R-hat (nested R-hat with superchains) is
      at most ``rhat_threshold`` and, for models symmetric under ``s -> -s``, no basin holding
      at least 5 % of the draws has a mirror image that no draw reached.  When it is False,
      ``info["status"]`` says which: ``"broken"`` (an R-hat above 1.2, a chain confined to a
      basin another chain never visits, or an unvisited mirror) or ``"not_converged"``
      (R-hat above the threshold, but none of that evidence: run longer).
    - **n_basins** - number of basins holding at least ``min_occupancy`` of the draws
      (1 when none does: no dominant minimum, e.g. a disordered phase).
    - **occupancy** - ``(chains, columns)`` share of each chain's draws per basin; a final
      ``"other"`` column collects draws in no basin when there are any.
    - **columns** - names of the occupancy columns (``"basin0"``, ..., ``"other"``).
    - **rhat**, **ess**, **ess_tail**, **nested_rhat** - per observable (dicts).
    - **notes** - per observable remarks (constant chains, ...).
    - **chain_basins** - for each chain, the basins holding at least 5 % of its draws.
    - **verdict** - one paragraph; **remedies** - what to do when ergodicity is broken;
      **warnings** - everything else worth knowing.
    - **observables** - ``{name: (chains, draws)}`` arrays; **landscape** - the
      :class:`~ergodic_ppl.basins.Landscape` (basins, transitions, barrier estimates).
    """

    ergodic: bool
    n_basins: int
    occupancy: np.ndarray
    columns: list
    rhat: dict
    ess: dict
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
    info: dict = field(default_factory=dict)

    @property
    def num_chains(self) -> int:
        return self.occupancy.shape[0]

    def to_dataframe(self):
        """One row per observable: ``rhat``, ``ess_bulk``, ``ess_tail`` (``nested_rhat``), ``note``."""
        import pandas as pd

        rows = {
            name: {
                "rhat": self.rhat[name],
                "ess_bulk": self.ess[name],
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
        """The observables as an ArviZ ``InferenceData`` (posterior group), for ArviZ plots."""
        import arviz as az

        return az.from_dict(posterior={k: v for k, v in self.observables.items()})

    def __str__(self) -> str:
        lines = [self.verdict, ""]
        lines.append(self.to_dataframe().to_string(float_format=lambda v: f"{v:.3g}"))
        lines += ["", "occupancy (chains x basins):"]
        lines.append(self.occupancy_dataframe().round(3).to_string())
        if self.remedies:
            lines += ["", "remedies:"] + [f"  - {r}" for r in self.remedies]
        if self.warnings:
            lines += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "ergodic" if self.ergodic else "broken"
        worst = max((v for v in self._decisive().values() if np.isfinite(v)), default=np.nan)
        return (
            f"ErgodicityReport({state}, n_basins={self.n_basins}, chains={self.num_chains}, "
            f"max R-hat={worst:.3g})"
        )

    def _decisive(self) -> dict:
        return self.nested_rhat if self.nested_rhat else self.rhat

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ergodic else "#cf222e"
        head = f'<p style="color:{colour};font-weight:bold">{html.escape(self.verdict)}</p>'
        table = self.to_dataframe().to_html(float_format=lambda v: f"{v:.3g}")
        occ = self.occupancy_dataframe().to_html(float_format=lambda v: f"{v:.2f}")
        parts = [head, "<h4>Convergence per observable</h4>", table]
        parts += ["<h4>Occupancy (chain x basin)</h4>", occ]
        for title, items in (("Remedies", self.remedies), ("Warnings", self.warnings)):
            if items:
                li = "".join(f"<li>{html.escape(i)}</li>" for i in items)
                parts.append(f"<h4>{title}</h4><ul>{li}</ul>")
        return "<div>" + "".join(parts) + "</div>"

    # plots live in ergodic_ppl.plots; these are shortcuts
    def plot_traces(self, observable: str = "energy", ax=None):
        """Trace of one observable per chain (default: the energy)."""
        from .plots import plot_traces

        return plot_traces(self, observable, ax=ax)

    def plot_ranks(self, var_names=None, **kwargs):
        """ArviZ rank plots (``az.plot_rank``) of the observables."""
        from .plots import plot_ranks

        return plot_ranks(self, var_names=var_names, **kwargs)

    def plot_occupancy(self, ax=None):
        """Heat map of the chain x basin occupancy."""
        from .plots import plot_occupancy

        return plot_occupancy(self, ax=ax)


def _z2_symmetric(model: SpinModel) -> bool:
    """True when ``E(-s) = E(s)``: no fields and only even-order terms."""
    fields = np.asarray(model.fields)
    odd = any(idx.shape[1] % 2 for idx, _ in model.kbody_terms)
    return not np.any(fields != 0) and not odd


def diagnose(
    samples,
    model=None,
    *,
    patterns=None,
    site: str | None = None,
    superchains=None,
    rhat_threshold: float = RHAT_THRESHOLD,
    overlap_threshold: float = 0.6,
    min_occupancy: float = 0.02,
    basins: bool = True,
    extra_states=None,
) -> ErgodicityReport:
    """Is ergodicity broken?  R-hat/ESS of energy, magnetisation, overlaps and basin indicators.

    ``samples``: a ``numpyro.infer.MCMC`` after ``run`` (several chains), an ArviZ
    ``InferenceData``, the ``GibbsTrace`` of ``ep.run_chains``, a dict of ``(chains, draws,
    ...)`` arrays, or a ``(chains, draws, n)`` array of ±1 spins (0/1 bits are converted).
    ``model``: the :class:`SpinModel` (or the NumPyro model function, whose ``BoltzmannSpins``
    site is found by tracing); with an MCMC object it is found automatically.  Without a
    ``SpinModel`` the energy comes from the samples' ``energy`` field and basins are skipped.
    ``patterns`` ``(P, n)`` ±1 adds the overlaps ``q_mu = s . xi_mu / n``; otherwise overlaps
    with the basin minima are used.  ``superchains`` ``(chains,)`` groups chains by start for
    the nested R-hat, which then decides the verdict.  Basins and their labels are computed
    by :func:`ergodic_ppl.basins.sampled_landscape` (``overlap_threshold``, ``min_occupancy``;
    ``extra_states`` such as tempered replicas help find minima).

    Example
    -------
    >>> report = ep.diagnose(mcmc)            # doctest: +SKIP
    >>> report.ergodic, report.n_basins       # doctest: +SKIP
    (False, 2)
    """
    if not rhat_threshold > 1.0:
        raise ValueError(f"`rhat_threshold` must exceed 1; got {rhat_threshold}.")
    named = site is not None or not (
        isinstance(samples, np.ndarray) or hasattr(samples, "spins") or hasattr(samples, "shape")
    )
    site, spins, energy, source, bits_note = _draws_from(samples, site)
    chains, draws, n = spins.shape
    if chains < 2:
        raise ValueError(
            f"diagnose needs at least 2 chains to compare; got {chains}. Run MCMC with "
            "num_chains > 1 (chain_method='vectorized' is cheapest for spin models)."
        )
    if draws < 4:
        raise ValueError(f"diagnose needs at least 4 draws per chain; got {draws}.")
    if superchains is not None:
        ids = np.asarray(superchains)
        sizes = np.unique(ids, return_counts=True)[1] if ids.ndim == 1 else np.array([])
        if ids.shape != (chains,) or len(sizes) < 2 or sizes.min() != sizes.max():
            raise ValueError(
                f"`superchains` must give one group id per chain, shape ({chains},), defining "
                "at least 2 groups of equal size (chains that share a start share a group); "
                f"got shape {ids.shape}"
                + (f" with group sizes {sizes.tolist()}." if len(sizes) else ".")
            )
    warnings = [bits_note] if bits_note else []
    if model is None and source is not None:
        fn, args, kwargs = source
        found = spin_model_of(fn, *args, site=site, **kwargs)
        model = found[1] if found else None
    elif model is not None and not isinstance(model, SpinModel):
        if not callable(model):
            raise ValueError(
                f"`model` must be a SpinModel or a NumPyro model function; got {type(model).__name__}."
            )
        found = spin_model_of(model, site=site if named else None)
        if found is None:
            raise ValueError(
                "`model` has no BoltzmannSpins site; pass the SpinModel (`model=spin_model`) "
                "or leave `model` out to diagnose without energies from a model."
            )
        model = found[1]
    if model is not None and model.n != n:
        raise ValueError(f"`model` has n={model.n} spins but the samples have {n}.")

    obs: dict[str, np.ndarray] = {}
    if model is not None:
        obs["energy"] = energies_of(model, spins)
    elif energy is not None:
        obs["energy"] = energy
    else:
        warnings.append("no energy: pass `model=` (a SpinModel) to diagnose the energy.")
    obs["magnetization"] = spins.sum(-1, dtype=np.int64) / n
    obs["abs_magnetization"] = np.abs(obs["magnetization"])
    references = []  # (name, state): overlaps q = s . ref / n become observables
    if patterns is not None:
        pat = check_spins(np.atleast_2d(patterns), n, name="patterns")
        references += [(f"overlap_pattern{mu}", p) for mu, p in enumerate(pat)]

    landscape = None
    labels = None
    if basins and model is not None:
        landscape = sampled_landscape(
            model,
            spins,
            energies=obs.get("energy"),
            extra_states=extra_states,
            overlap_threshold=overlap_threshold,
            min_occupancy=min_occupancy,
        )
        labels = landscape.labels
        if patterns is None:
            references += [(f"overlap_basin{k}", m) for k, m in enumerate(landscape.minima[:8])]
    elif basins:
        warnings.append("no SpinModel: basins (quench to local minima) were skipped.")
    if references:
        refs = np.stack([r for _, r in references]).astype(np.float32)
        q = np.moveaxis(spins.astype(np.float32) @ refs.T / n, -1, 0)
        for (name, _), values in zip(references, q, strict=True):
            obs[name] = values.astype(np.float64)

    k = landscape.n_basins if landscape is not None else 0
    columns = [f"basin{i}" for i in range(k)]
    if labels is None:
        occupancy = np.ones((chains, 1))
        columns = ["all"]
    else:
        occupancy = landscape.occupancy()
        other = (labels < 0).mean(1)
        if other.any():
            columns.append("other")
            occupancy = np.concatenate([occupancy, other[:, None]], axis=1)
        for i, name in enumerate(columns):
            obs[f"in_{name}"] = (labels == (i if name != "other" else -1)).astype(np.float64)
    n_basins = max(k, 1)

    rhat, ess, ess_tail, notes = {}, {}, {}, {}
    for name, x in obs.items():
        rhat[name], ess[name], ess_tail[name], note = convergence(x)
        if note:
            notes[name] = note
    nested = None
    if superchains is not None:
        ids = np.asarray(superchains)
        nested = {}
        for name, x in obs.items():
            if np.all(x == x.flat[0]):
                nested[name] = np.nan
            else:
                nested[name] = nested_rhat(x, ids)
    decisive = nested if nested is not None else rhat
    bad = {name: v for name, v in decisive.items() if v > rhat_threshold}

    chain_basins = [
        [columns[j] for j in np.flatnonzero(row >= CHAIN_BASIN_MIN)] for row in occupancy
    ]
    unvisited_mirror = []
    if landscape is not None and k and _z2_symmetric(model):
        # E(-s) = E(s): a basin's mirror holds the same probability.  A basin holding at least
        # MIRROR_MIN_OCCUPANCY of all draws whose mirror region no draw's minimum ever reached
        # (overlap <= -overlap_threshold with the basin's minimum) cannot come from an ergodic
        # run: its expected number of visits is thousands of draws, not zero.
        weight = occupancy[:, :k].mean(0)  # share of all draws (chains have equal draws)
        mins = landscape.info["distinct_minima"].astype(np.float32)
        q = mins @ landscape.minima.astype(np.float32).T / n
        for a in np.flatnonzero(weight >= MIRROR_MIN_OCCUPANCY):
            if not np.any(q[:, a] <= -overlap_threshold):
                unvisited_mirror.append(int(a))
        if unvisited_mirror:
            warnings.append(
                "the model is symmetric under s -> -s, but no draw reached the mirror images of "
                f"basins {unvisited_mirror}: they hold the same probability, so the chains "
                "cannot be sampling the model."
            )
    ergodic = not bad and not unvisited_mirror
    basin_cols = [j for j, col in enumerate(columns) if col.startswith("basin")]
    confined = [
        columns[j]
        for j in basin_cols
        if occupancy[:, j].max() >= CONFINED_MIN and occupancy[:, j].min() <= CHAIN_BASIN_MIN
    ]
    strong = {nm: v for nm, v in bad.items() if v > STRONG_RHAT}
    status = (
        "ergodic"
        if ergodic
        else ("broken" if strong or confined or unvisited_mirror else "not_converged")
    )

    remedies = []
    which = "nested R-hat" if nested is not None else "R-hat"
    if status == "not_converged":
        worst = sorted(bad.items(), key=lambda kv: -kv[1])[:4]
        verdict = (
            f"not converged: {which} above {rhat_threshold} for "
            + ", ".join(f"{nm} {v:.3g} (ESS {ess[nm]:.0f})" for nm, v in worst)
            + f", but none above {STRONG_RHAT} and no chain is confined to a basin: no sign "
            "of broken ergodicity yet; the chains are too short to agree."
        )
        remedies.append(
            "Run longer (more draws per chain) until every R-hat is below "
            f"{RHAT_RELIABLE}, or thin less; then diagnose again."
        )
    elif ergodic:
        informative = [nm for nm, v in decisive.items() if not np.isnan(v)]
        constant = len(decisive) - len(informative)
        if labels is None:
            basin_text = " (basins not computed: no SpinModel)"
        elif k:
            basin_text = f" ({', '.join(columns)})"
        else:
            basin_text = " (no minimum holds a noticeable share of draws)"
        verdict = (
            f"ergodic: {which} <= {rhat_threshold} for all {len(informative)} informative "
            f"observables"
            + (f" ({constant} constant, uninformative)" if constant else "")
            + f" over {chains} chains x {draws} draws; {n_basins} basin(s){basin_text}."
        )
    else:
        worst = sorted(bad.items(), key=lambda kv: -kv[1])[:4]
        held = {col: [c for c, cb in enumerate(chain_basins) if col in cb] for col in columns}
        members = "; ".join(f"{col}: chains {cs}" for col, cs in held.items() if cs)
        verdict = (
            f"ergodicity broken: {n_basins} basin(s) over {chains} chains"
            + (f" ({members})" if labels is not None else "")
            + ". "
            + (
                f"{which} above {rhat_threshold}: "
                + ", ".join(f"{nm} {v:.3g}" for nm, v in worst)
                + "."
                if worst
                else "Mirror basins never visited."
            )
        )
        remedies.append(
            "Parallel tempering (ep.ParallelTempering) carries replicas over the barriers "
            "through high temperature; check its round trips and swap rates."
        )
        lonely = [col for col in columns if sum(col in cb for cb in chain_basins) <= 1]
        if lonely or unvisited_mirror:
            remedies.append(
                "More chains from dispersed starts: "
                + (f"{lonely} are visited by at most one chain" if lonely else "")
                + (" and " if lonely and unvisited_mirror else "")
                + (f"the mirrors of {unvisited_mirror} by none" if unvisited_mirror else "")
                + ", so the relative weights of the basins are not estimable from these runs."
            )
        remedies.append(
            "A per-basin mixture (THEORY.md A.6): one model per free-energy minimum, weighted "
            "by exp(-F_a / T); restricted free energies from ep.free_energy.basin_free_energies "
            "or, for small n, ep.basins.exact_landscape(model).basin_free_energies(beta)."
        )
    marginal = {nm: v for nm, v in decisive.items() if RHAT_RELIABLE < v <= rhat_threshold}
    if marginal:
        warnings.append(
            f"{which} between {RHAT_RELIABLE} and {rhat_threshold} for "
            + ", ".join(f"{nm} ({v:.3f})" for nm, v in marginal.items())
            + ": no sign of broken ergodicity, but run longer before trusting estimates."
        )
    if nested is None and chains >= 16 and draws < 100:
        warnings.append(
            "many short chains: pass `superchains=` (chains grouped by start) for nested R-hat."
        )
    return ErgodicityReport(
        ergodic=ergodic,
        n_basins=n_basins,
        occupancy=occupancy,
        columns=columns,
        rhat=rhat,
        ess=ess,
        ess_tail=ess_tail,
        nested_rhat=nested,
        notes=notes,
        chain_basins=chain_basins,
        verdict=verdict,
        remedies=remedies,
        warnings=warnings,
        observables=obs,
        landscape=landscape,
        rhat_threshold=rhat_threshold,
        info={
            "site": site,
            "n": n,
            "status": status,
            "confined_basins": confined,
            "unvisited_mirror_basins": unvisited_mirror,
        },
    )
