"""The NumPyro side of the ``MCMCKernel`` adapters: trace a model and resolve its sites.

:class:`ModelSites` is held by :class:`~ergodic_ppl.SpinGibbs` and
:class:`~ergodic_ppl.ParallelTempering` (composition, not inheritance); it is the only code of
the kernels that runs NumPyro handlers.  :func:`observed_spin_site` finds and checks the data
site of a posterior over weights (:class:`~ergodic_ppl.Exchange`, the pseudo-likelihood).
"""

from __future__ import annotations

import copy

import jax
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.gibbs import GIBBS_SITES_KWARG, conditioned, with_conditioning
from numpyro.infer.initialization import init_to_sample
from numpyro.infer.util import constrain_fn

from ..distributions import BoltzmannSpins
from ..spins import check_spins
from . import gibbs

__all__ = ["ModelSites", "observed_spin_site", "spin_site_at", "wrapped"]


def _spins_init(site, rng_key):
    """Prototype values: uniform random spins for latent BoltzmannSpins sites (cheap), else
    sample; observed sites keep their data."""
    if site["type"] == "sample" and site.get("is_observed"):
        return None
    if site["type"] == "sample" and isinstance(site["fn"], BoltzmannSpins):
        key = site["kwargs"].get("rng_key")
        key = rng_key if key is None else key
        shape = tuple(site["kwargs"].get("sample_shape", ())) + tuple(site["fn"].shape())
        return gibbs.random_spins(key, shape)
    return init_to_sample(site)


def _is_concrete_tree(tree) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


class ModelSites:
    """The NumPyro side of an adapter: traces the (conditioned) model and resolves its sites.

    Held by :class:`SpinGibbs` and :class:`ParallelTempering` (composition, not inheritance).
    """

    def __init__(self, model):
        self.model = model

    def trace(self, z, rng_key, model_args, model_kwargs):
        """Trace of the (conditioned) model with the given sites set to ``z``."""
        model = substitute(
            seed(conditioned(self.model), rng_key),
            substitute_fn=lambda s: _spins_init(s, rng_key),
        )
        kwargs = with_conditioning(model_kwargs, z) if z else dict(model_kwargs or {})
        return trace(model).get_trace(*model_args, **kwargs)

    def prototype(self, model_args, model_kwargs):
        with jax.ensure_compile_time_eval():
            return self.trace({}, jax.random.key(0), model_args, model_kwargs)

    @staticmethod
    def latent(model_trace, model_kwargs) -> list[str]:
        conditioned_names = set((model_kwargs or {}).get(GIBBS_SITES_KWARG, {}))
        return [
            name
            for name, site in model_trace.items()
            if site["type"] == "sample"
            and not site["is_observed"]
            and name not in conditioned_names
            and site["infer"].get("enumerate", "") != "parallel"
        ]

    @staticmethod
    def captured_site(model_trace, names, model_kwargs):
        """``(name, SpinModel, beta)`` when the captured path applies, else ``None``: one owned
        site, a ``BoltzmannSpins`` of plain shape ``(n,)`` whose model and beta are concrete,
        no other latent site and no conditioning from other Gibbs blocks."""
        if len(names) != 1 or (model_kwargs or {}).get(GIBBS_SITES_KWARG):
            return None
        if ModelSites.latent(model_trace, model_kwargs) != list(names):
            return None
        site = model_trace[names[0]]
        fn = site["fn"]
        if not isinstance(fn, BoltzmannSpins) or site["kwargs"].get("sample_shape"):
            return None
        if tuple(fn.shape()) != (fn.model.n,) or site.get("scale") is not None:
            return None
        if not _is_concrete_tree((fn.model, fn.beta)):
            return None
        return names[0], fn.model, fn.beta


def wrapped(kernel, wrapper):
    """``wrap_model`` of both adapters: a copy over ``wrapper(model)``, re-resolved at init."""
    new = copy.copy(kernel)
    new._sites = ModelSites(wrapper(kernel._sites.model))
    new._reset()
    return new


def observed_spin_site(
    model_trace, site: str | None, owner: str, kinds: tuple = (BoltzmannSpins,)
) -> str:
    """Name of the one observed ``BoltzmannSpins`` site of ``model_trace`` (or check ``site``).

    Checks what a posterior over the weights needs (``owner`` names the caller in messages):
    the site is a ``BoltzmannSpins``, observed, with ``normalized=False`` (the unnormalised
    density whose ``log Z`` cancels), and its observed value is ±1 spins of width ``n``.
    ``kinds`` are the accepted distribution classes (the first is named in messages):
    :func:`~ergodic_ppl.pseudo_likelihood.adjust_curvature` passes ``PseudoLikelihoodSpins``.
    """
    kind = kinds[0].__name__
    if site is not None:
        if site not in model_trace or model_trace[site]["type"] != "sample":
            sites = [k for k, v in model_trace.items() if v["type"] == "sample"]
            raise ValueError(f"`site`={site!r} is not a sample site of the model (it has {sites}).")
        names = [site]
    else:
        names = [
            k for k, v in model_trace.items()
            if v["type"] == "sample" and v["is_observed"] and isinstance(v["fn"], kinds)
        ]  # fmt: skip
        if len(names) != 1:
            found = "none" if not names else f"{names}; name one with `site=`"
            raise ValueError(
                f"{owner} needs the data as one observed spin site, numpyro.sample(name, "
                f"ep.{kind}(model, beta), obs=spins); the model has {found}."
            )
    (name,) = names
    entry = model_trace[name]
    fn = entry["fn"]
    if not isinstance(fn, kinds):
        raise ValueError(
            f"site {name!r} is a {type(fn).__name__}, not an ep.{kind}: {owner} needs "
            f"the data as numpyro.sample({name!r}, ep.{kind}(model, beta), obs=spins)."
        )
    if not entry["is_observed"]:
        raise ValueError(f"site {name!r} is latent; {owner} needs it observed (`obs=spins`).")
    if getattr(fn, "normalized", False):
        raise ValueError(
            f"site {name!r} has normalized=True: its likelihood already holds the exact log Z, "
            f"so sample it with NUTS; {owner} needs normalized=False (log Z cancels)."
        )
    if entry.get("scale") is not None:
        raise ValueError(f"site {name!r} is scaled (subsampled plate); {owner} needs all rows.")
    check_spins(entry["value"], fn.model.n, f"the observed value of site {name!r}")
    return name


def spin_site_at(model, name: str, model_args, model_kwargs, z):
    """``(SpinModel, beta)`` of site ``name`` with the latent sites at unconstrained ``z``
    (NumPyro's transforms; the model traced at ``constrain_fn(z)``)."""
    params = constrain_fn(model, model_args, model_kwargs, z)
    tr = trace(substitute(seed(model, jax.random.key(0)), data=params))
    fn = tr.get_trace(*model_args, **model_kwargs)[name]["fn"]
    return fn.model, fn.beta
