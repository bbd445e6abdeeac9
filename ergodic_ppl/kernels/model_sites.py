"""The NumPyro side of the ``MCMCKernel`` adapters: trace a model and resolve its sites.

:class:`ModelSites` is held by :class:`~ergodic_ppl.SpinGibbs` and
:class:`~ergodic_ppl.ParallelTempering` (composition, not inheritance); it is the only code of
the kernels that runs NumPyro handlers.
"""

from __future__ import annotations

import copy

import jax
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.gibbs import GIBBS_SITES_KWARG, conditioned, with_conditioning
from numpyro.infer.initialization import init_to_sample

from ..distributions import BoltzmannSpins
from . import gibbs

__all__ = ["ModelSites", "wrapped"]


def _spins_init(site, rng_key):
    """Prototype values: uniform random spins for BoltzmannSpins sites (cheap), else sample."""
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
