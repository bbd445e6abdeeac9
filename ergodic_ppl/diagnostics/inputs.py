"""The input adapter of :func:`~ergodic_ppl.diagnostics.diagnose` (docs/THEORY.md A.6).

The only code of the diagnostics that knows ``numpyro.infer.MCMC``, ArviZ ``InferenceData``,
the ``GibbsTrace`` of ``ep.run_chains``, dicts and arrays: :func:`read_draws` turns any of them
into a :class:`Draws` of plain arrays - spins ``(chains, draws, n) int8``, the energies the
kernel recorded (or ``None``), the :class:`~ergodic_ppl.spins.SpinModel`, ``beta`` and the site
name.  Recorded energies are kept only when they belong to the model: they are checked against
``model.energy`` on a few draws, and recomputed (with a warning) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..basins import energies_of
from ..spins import SpinModel, check_spins
from ..spins.values import bits_to_spins_np

__all__ = ["Draws", "read_draws", "spin_model_of"]

ENERGY_CHECK_DRAWS = 8  # recorded energies are compared with the model on this many draws
# float32 kernels accumulate energies of O(n) terms: relative error ~ 1e-7 * sqrt(terms); 1e-4
# of the energy scale (plus an absolute 1e-3) leaves room for that and catches another model.
ENERGY_RTOL, ENERGY_ATOL = 1e-4, 1e-3


@dataclass
class Draws:
    """Plain arrays read from the samples: what the observables and the verdict need."""

    site: str
    spins: np.ndarray  # (chains, draws, n) int8
    energy: np.ndarray | None  # (chains, draws) float64: recorded or recomputed
    model: SpinModel | None
    beta: float | np.ndarray | None
    warnings: list = field(default_factory=list)


def spin_model_of(model_fn, *args, site=None, **kwargs):
    """``(site, SpinModel, beta)`` of the ``BoltzmannSpins`` site of a NumPyro model.

    Traces ``model_fn(*args, **kwargs)`` once (seeded); ``site`` picks one when there are
    several.  A scalar ``beta`` is the shortest decimal that rounds to the site's stored value
    (``0.6`` for a float32 ``0.6``).  Returns ``None`` when the model has no ``BoltzmannSpins`` site (e.g. Bernoulli
    bits with ``numpyro.factor`` energies).
    """
    import jax
    from numpyro import handlers

    from ..distributions import BoltzmannSpins

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
    if beta.ndim:
        return name, dist.model, beta
    # the shortest decimal that rounds to the stored (often float32) value: 0.6, not 0.6000000238
    return name, dist.model, float(np.format_float_positional(beta[()], unique=True))


def _unpack(samples):
    """``(values dict, recorded energy or None, energy source name, (fn, args, kwargs) or None)``."""
    from .. import arviz_compat

    if hasattr(samples, "get_samples") and hasattr(samples, "sampler"):  # numpyro MCMC
        values = samples.get_samples(group_by_chain=True)
        energy = samples.get_extra_fields(group_by_chain=True).get("energy")
        kernel = samples.sampler
        fn = getattr(kernel, "model", None) or getattr(kernel, "_model", None)
        source = None
        if fn is not None:
            source = (fn, getattr(samples, "_args", ()), getattr(samples, "_kwargs", {}))
        return values, energy, "the MCMC extra field `energy`", source
    if arviz_compat.is_idata(samples):  # InferenceData (ArviZ 0.2x) or DataTree (1.x)
        posterior = arviz_compat.get_group(samples, "posterior")
        if posterior is None:
            raise ValueError(
                f"`samples` has no posterior group (groups: {arviz_compat.group_names(samples)})."
            )
        values = {k: v.values for k, v in posterior.data_vars.items()}
        stats = arviz_compat.get_group(samples, "sample_stats")
        energy = stats["energy"].values if stats is not None and "energy" in stats else None
        return values, energy, "sample_stats `energy`", None
    if hasattr(samples, "spins") and hasattr(samples, "energy"):  # ep.run_chains output
        return {"spins": samples.spins}, samples.energy, "the trace's `energy`", None
    if isinstance(samples, dict):
        return dict(samples), None, None, None
    return None, None, None, None


def _site_coding(model, source, site) -> str | None:
    """``"bits"`` / ``"spins"``: the coding of ``site`` declared by the model function that
    drew it (its distribution's support: ``Bernoulli``-like {0, 1}, or ``BoltzmannSpins``);
    ``None`` when no model function is at hand (arrays, dicts, InferenceData without ``model``)
    or the site is of another kind. Traces the model once (seeded)."""
    if source is not None:
        fn, args, kwargs = source
    elif callable(model) and not isinstance(model, SpinModel):
        fn, args, kwargs = model, (), {}
    else:
        return None
    import jax
    from numpyro import handlers

    from ..distributions import BoltzmannSpins
    from ..kernels.generic import is_binary_site

    tr = handlers.trace(handlers.seed(fn, jax.random.key(0))).get_trace(*args, **kwargs)
    node = tr.get(site)
    if node is None or node["type"] != "sample":
        return None
    if isinstance(node["fn"], BoltzmannSpins):
        return "spins"
    return "bits" if is_binary_site(node["fn"]) else None


def _as_spins(raw, label: str, coding: str | None = None):
    """``(spins (chains, draws, n) int8, note or None)`` from ±1 spins or 0/1 bits.

    ``coding`` (the site's declared support, :func:`_site_coding`) decides: ``"bits"`` are
    converted by ``ep.bits_to_spins`` (bit 0 -> +1, bit 1 -> -1; all-1 draws too),
    ``"spins"`` must be ±1. Unknown (``None``): a draw holding a 0 marks 0/1 bits, since spins
    are never 0; ±1 values are spins.
    """
    raw = np.asarray(raw)
    if raw.size == 0:
        raise ValueError(f"`{label}` is empty (shape {raw.shape}); expected (chains, draws, n).")
    if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == bool):
        raise ValueError(
            f"`{label}` must be numeric ±1 spins or 0/1 bits of shape (chains, draws, n); "
            f"got dtype {raw.dtype}."
        )
    if raw.ndim < 3:
        raise ValueError(
            f"`{label}` must have shape (chains, draws, n) (or (chains, draws, ...spins)); got "
            f"{raw.shape}. Run several chains (MCMC num_chains > 1) or pass group_by_chain samples."
        )
    raw = raw.reshape(raw.shape[0], raw.shape[1], -1)
    if coding == "bits" or (coding is None and (raw == 0).any()):
        if not np.all((raw == 0) | (raw == 1)):
            bad = np.unique(raw[(raw != 0) & (raw != 1)])[:5].tolist()
            what = (
                "is a 0/1 (Bernoulli) site but holds values other than 0 and 1"
                if coding == "bits"
                else "mixes 0 with values other than 1"
            )
            raise ValueError(f"`{label}` {what} ({bad}); expected ±1 spins or 0/1 bits.")
        note = (
            f"{label} holds 0/1 bits; converted to spins by ep.bits_to_spins "
            "(s = 1 - 2 b: bit 0 -> +1, bit 1 -> -1)"
        )
        return bits_to_spins_np(raw), note
    return check_spins(raw, raw.shape[-1], name=label), None


def _pick_site(values: dict, site):
    if site is None:
        binary = []
        for k, v in values.items():
            v = np.asarray(v)
            head = v[:, :1] if v.ndim >= 3 else v
            if v.ndim >= 3 and np.all((head == 1) | (head == -1) | (head == 0)):
                binary.append(k)
        if len(binary) != 1:
            raise ValueError(
                f"cannot tell which site holds the spins (sites of shape (chains, draws, ...) "
                f"with ±1 or 0/1 values: {binary}; all sites: {list(values)}); pass `site=`."
            )
        site = binary[0]
    if site not in values:
        raise ValueError(f"`site={site!r}` is not among the samples' sites {list(values)}.")
    return site


def _resolve_model(model, source, site, named: bool):
    """``(SpinModel or None, beta found or None)`` from ``model`` or the MCMC's model function."""
    if model is None and source is not None:
        fn, args, kwargs = source
        found = spin_model_of(fn, *args, site=site, **kwargs)
        return (found[1], found[2]) if found else (None, None)
    if model is None or isinstance(model, SpinModel):
        return model, None
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
    return found[1], found[2]


def _resolve_beta(passed, found):
    if passed is None:
        return found
    from ..checks import check_beta

    beta = check_beta(passed)
    if found is not None and not np.allclose(np.asarray(found), beta):
        raise ValueError(
            f"`beta={passed}` differs from the beta {found} of the model's BoltzmannSpins site; "
            "leave `beta` out or pass the same value."
        )
    return beta


def _energies(recorded, where, spins, model, warnings):
    """Energies of the draws: recomputed from ``model`` when it is known (the recorded ones are
    checked against it on a few draws, with a warning when they belong to another model), else
    the recorded ones."""
    chains, draws, _ = spins.shape
    if recorded is not None:
        recorded = np.asarray(recorded, np.float64)
        if recorded.shape != (chains, draws):
            warnings.append(
                f"{where} has shape {recorded.shape}, not (chains, draws) = {(chains, draws)}: "
                + ("ignored; energies recomputed from the model." if model else "ignored.")
            )
            recorded = None
        elif not np.isfinite(recorded).all():
            bad = int((~np.isfinite(recorded)).sum())
            raise ValueError(
                f"{where} holds {bad} non-finite values (NaN or inf); the samples are corrupt. "
                "Check the sampler, or drop the energy field to recompute it from `model=`."
            )
    if model is None:
        return recorded
    if model.n != spins.shape[-1]:
        raise ValueError(f"`model` has n={model.n} spins but the samples have {spins.shape[-1]}.")
    if recorded is None:
        return energies_of(model, spins)
    flat = spins.reshape(-1, spins.shape[-1])
    pick = np.unique(np.linspace(0, len(flat) - 1, ENERGY_CHECK_DRAWS).astype(int))
    check = energies_of(model, flat[pick])
    if not np.allclose(recorded.reshape(-1)[pick], check, rtol=ENERGY_RTOL, atol=ENERGY_ATOL):
        warnings.append(
            f"{where} does not match the model's energy on the draws checked (another model or "
            "beta scaling?): energies recomputed from the model."
        )
    # Recomputed even when they match: the kernels' recorded energies are float32 running sums
    # of local changes, and their slow drift (~1e-5 over a run) reads as a trend to the
    # rank-normalised R-hat (a stuck Hopfield run: R-hat 1.060 recorded, 0.998 recomputed).
    return energies_of(model, spins)


def read_draws(samples, model=None, *, site=None, beta=None) -> Draws:
    """Read ``samples`` (MCMC, InferenceData, GibbsTrace, dict or array) into :class:`Draws`.

    Raises ``ValueError`` naming the argument for empty, non-numeric, wrongly shaped or
    non-binary spins, non-finite recorded energies and a ``model`` of another size.
    """
    values, recorded, where, source = _unpack(samples)
    named = values is not None or site is not None
    if values is None:  # a plain array: no site to pick
        if site is not None:
            raise ValueError(f"`site={site!r}` given, but `samples` is an array, not named sites.")
        site, label, raw = "spins", "samples", samples
    else:
        site = _pick_site(values, site)
        label, raw = f"samples[{site!r}]", values[site]
    coding = _site_coding(model, source, site) if values is not None else None
    spins, note = _as_spins(raw, label, coding)
    warnings = [note] if note else []
    spin_model, found_beta = _resolve_model(model, source, site, named)
    energy = _energies(recorded, where, spins, spin_model, warnings)
    return Draws(site, spins, energy, spin_model, _resolve_beta(beta, found_beta), warnings)
