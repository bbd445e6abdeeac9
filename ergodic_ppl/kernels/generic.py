"""Generic path of ``SpinGibbs``: exact Gibbs updates of binary sites from a NumPyro potential.

For binary sites (``Bernoulli`` bits, or spins) whose conditional is not a bare
``BoltzmannSpins`` energy, the block potential ``U(x) = -log p(x, rest)`` is evaluated by
NumPyro on the flattened values ``x``. Flipping element ``i`` (``x_i -> a_i - x_i``; ``a_i = 1``
for bits, ``0`` for spins) changes the potential by ``ΔU_i``; the heat-bath conditional flips
with probability ``sigmoid(-ΔU_i)`` and Metropolis with ``min(1, exp(-ΔU_i))``.

Two properties are verified numerically at ``init`` (on concrete values; never assumed):

1. **Multilinearity.** If ``U`` is affine in each ``x_i`` (every energy on binary variables has
   such a form, but the user's code need not be written that way), then exactly
   ``ΔU_i = (a_i - 2 x_i) ∂U/∂x_i`` and *one gradient gives every flip energy*. Checked by
   ``U(x + t e_i) - U(x) = t ∂_i U(x)`` for all ``i`` at random real points. Otherwise each
   flip energy is evaluated directly (batched with ``vmap``).
2. **Interaction structure.** ``x_i`` and ``x_j`` interact iff ``∂²U/∂x_i∂x_j ≠ 0``; the Hessian
   at two random interior points gives the graph, which is coloured (networkx) so that each
   colour class is updated at once. For more than :data:`MAX_STRUCTURE_N` elements, or if the
   analysis cannot run, the sweep falls back to single-site updates (always exact).

Limitations: the structure analysis uses the model's current arguments; if conditioning values
from another Gibbs block are traced at ``init`` (``chain_method="parallel"``), stand-in values
drawn from Uniform(0.5, 1.5) are used — models whose *pattern* of interactions changes with a
continuous parameter are not supported by the chromatic scan (use ``scan="sequential"``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from jax.flatten_util import ravel_pytree
from numpyro.distributions import constraints
from numpyro.handlers import seed, trace
from numpyro.infer.gibbs import GIBBS_SITES_KWARG, with_conditioning
from numpyro.infer.util import log_density

from ..distributions import BoltzmannSpins
from ..spins import relaxed_spins
from . import gibbs, rng
from .conditionals import flip_probability

MAX_STRUCTURE_N = 1024
_MAX_UNROLLED_CLASSES = 8


def is_binary_site(fn) -> bool:
    """Whether a distribution's support is {0, 1} in every coordinate (Bernoulli-like)."""
    support = fn.support
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    if support is constraints.boolean:
        return True
    if isinstance(support, constraints.integer_interval):
        lo, hi = np.asarray(support.lower_bound), np.asarray(support.upper_bound)
        return bool(np.all(lo == 0) and np.all(hi == 1))
    return False


def _site_log_probs(model_trace, exclude: str):
    total = 0.0
    for name, site in model_trace.items():
        if site["type"] != "sample" or name == exclude:
            continue
        lp = site["fn"].log_prob(site["value"])
        scale = site.get("scale")
        if scale is not None:
            lp = scale * lp
        total = total + jnp.sum(lp)
    return total


def others_depend_on(model, name, proto, model_args, model_kwargs) -> bool:
    """Whether any site other than ``name`` has a log density that depends on ``name``'s value.

    Decided on the jaxpr of ``x -> sum of the other sites' log densities`` by following data
    dependence forward (:func:`_output_depends`; structural, so conservative: a dependence
    that cancels numerically still counts).
    """
    value = jnp.asarray(proto[name]["value"], dtype=jnp.result_type(float))

    def rest(x):
        kwargs = with_conditioning(model_kwargs, {name: x})
        tr = trace(seed(model, jax.random.key(0))).get_trace(*model_args, **kwargs)
        return _site_log_probs(tr, exclude=name)

    try:
        closed = jax.make_jaxpr(rest)(value)
        return _output_depends(closed.jaxpr, [True])[0]
    except Exception:  # noqa: BLE001 - if unsure, take the always-correct generic path
        return True


# primitives that call their sub-jaxpr once on their own inputs (inputs and outputs map 1:1);
# any other primitive with a dependent input is taken to make all its outputs dependent
_CALL_PRIMITIVES = {"pjit", "jit", "closed_call", "core_call", "custom_jvp_call",
                    "custom_vjp_call", "custom_vjp_call_jaxpr", "remat", "checkpoint"}  # fmt: skip


def _output_depends(jaxpr, depends: list[bool]) -> list[bool]:
    """Which outputs of ``jaxpr`` depend on the inputs flagged in ``depends``.

    Public jaxpr API only (``invars``, ``eqns``, ``outvars``, ``params``): a forward pass that
    marks each equation's outputs when any of its inputs is marked, looking inside call-like
    primitives (``pjit`` and friends) so that unrelated outputs of a shared call stay unmarked.
    Literals and constants never depend on the input.
    """
    marked = {id(v) for v, d in zip(jaxpr.invars, depends, strict=True) if d}
    for eqn in jaxpr.eqns:
        inputs = [id(v) in marked for v in eqn.invars]
        if not any(inputs):
            continue
        sub = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
        sub = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr's Jaxpr
        if (eqn.primitive.name in _CALL_PRIMITIVES and sub is not None
                and len(sub.invars) == len(inputs) and len(sub.outvars) == len(eqn.outvars)):  # fmt: skip
            outputs = _output_depends(sub, inputs)
        else:
            outputs = [True] * len(eqn.outvars)
        marked.update(id(v) for v, d in zip(eqn.outvars, outputs, strict=True) if d)
    return [id(v) in marked for v in jaxpr.outvars]


def _concrete_kwargs(model_kwargs, rng):
    """Replace traced conditioning values with concrete stand-ins (see module docstring)."""
    cond = dict(model_kwargs.get(GIBBS_SITES_KWARG, {}))
    for k, v in cond.items():
        if isinstance(v, jax.core.Tracer):
            cond[k] = jnp.asarray(rng.uniform(0.5, 1.5, size=np.shape(v)), dtype=v.dtype)
    out = dict(model_kwargs)
    if cond:
        out[GIBBS_SITES_KWARG] = cond
    return out


class GenericBlock:
    """Binary sites sampled from the model's potential (built on the host at ``init``)."""

    def __init__(
        self, model, names, proto, model_args, model_kwargs, *, scan, update,
        rng_impl=rng.DEFAULT_RNG_IMPL,
    ):  # fmt: skip
        self.model = model
        self.names = tuple(names)
        self.update = update
        self.rng_impl = rng_impl
        self.is_spin = {n: isinstance(proto[n]["fn"], BoltzmannSpins) for n in self.names}
        self.has_bits = not all(self.is_spin.values())
        self.dtypes = {
            n: jnp.int8 if self.is_spin[n] else jnp.result_type(proto[n]["value"])
            for n in self.names
        }
        template = {n: jnp.zeros(np.shape(proto[n]["value"]), jnp.float32) for n in self.names}
        flat, self._unravel = ravel_pytree(template)
        self.size = flat.shape[0]
        # a_i: flipped value is a_i - x_i (1 for bits, 0 for spins), in ravel_pytree order
        # (sorted site names); NumPy, so it stays concrete when init runs under pmap
        self.flip_offset = np.concatenate(
            [
                np.full(np.size(proto[n]["value"]), 0.0 if self.is_spin[n] else 1.0)
                for n in sorted(self.names)
            ]
        )
        self.multilinear = False
        classes = None
        # real-valued (relaxed) inputs are out of the sites' support: validation off while analysing
        with jax.ensure_compile_time_eval(), numpyro.validation_enabled(False), relaxed_spins():
            try:
                self.multilinear, classes = self._analyse(model_args, model_kwargs)
            except Exception:  # noqa: BLE001 - analysis is an optimisation; fall back to exact
                self.multilinear, classes = False, None
        if scan == "random":
            classes = None
        elif scan == "sequential" or classes is None:
            classes = [np.array([i], np.int32) for i in range(self.size)]
        self.scan = scan
        self.classes = classes

    # ---------------------------------------------------------------- potential
    def _unflatten(self, x):
        z = self._unravel(x)
        return {n: v.astype(self.dtypes[n]) for n, v in z.items()}

    def potential(self, z, model_args, model_kwargs):
        """``U = -log p`` of the whole model at the kernel's values ``z`` (others conditioned)."""
        kwargs = with_conditioning(model_kwargs, z)
        return -log_density(self.model, model_args, kwargs, {})[0]

    def _potential_flat(self, x, model_args, model_kwargs):
        z = self._unravel(x)
        kwargs = with_conditioning(model_kwargs, z)
        return -log_density(self.model, model_args, kwargs, {})[0]

    def spin_energy(self, model_trace, z, pot):
        """Contribution to the reported ``energy``: ``E(s)`` of spin sites, plus ``U`` if bits."""
        e = jnp.zeros((), jnp.result_type(float))
        for n in self.names:
            if self.is_spin[n]:
                e = e + model_trace[n]["fn"].model.energy(z[n])
        return e + pot if self.has_bits else e

    # ---------------------------------------------------------------- analysis
    def _analyse(self, model_args, model_kwargs):
        rng = np.random.default_rng(0)
        kwargs = _concrete_kwargs(model_kwargs, rng)
        U = lambda x: self._potential_flat(x, model_args, kwargs)  # noqa: E731
        grad = jax.grad(U)

        def interior_point():  # bits in (0.1, 0.9), spins in (-0.8, 0.8)
            bits = self.flip_offset == 1.0
            x = np.where(bits, rng.uniform(0.1, 0.9, self.size), rng.uniform(-0.8, 0.8, self.size))
            return jnp.asarray(x, jnp.float32)

        multilinear = True
        for _ in range(2):
            x = interior_point()
            u0, g = U(x), grad(x)
            # affine in x_i  <=>  U(x + e_i) - U(x) = dU/dx_i, up to float32 round-off
            shifted = jax.vmap(lambda i, x=x: U(x.at[i].add(1.0)))(jnp.arange(self.size))
            err = np.abs(np.asarray(shifted - u0 - g))
            tol = 1e-3 * (1.0 + np.abs(np.asarray(u0)) + np.abs(np.asarray(g)))
            if not np.all(np.isfinite(err)) or np.any(err > tol):
                multilinear = False
                break
        if self.size > MAX_STRUCTURE_N:
            return multilinear, None
        hess = jax.hessian(U)
        pattern = np.zeros((self.size, self.size), bool)
        for _ in range(2):
            H = np.asarray(hess(interior_point()))
            if not np.all(np.isfinite(H)):
                return multilinear, None
            pattern |= H != 0
        np.fill_diagonal(pattern, False)
        pattern |= pattern.T
        edges = np.argwhere(np.triu(pattern, 1))
        return multilinear, gibbs.color_graph(self.size, edges)

    # ---------------------------------------------------------------- sweep
    def _flip_energies(self, x, idx, model_args, model_kwargs, u0):
        """ΔU for flipping each element in ``idx`` alone, shape ``(m,)``."""
        a = jnp.asarray(self.flip_offset)
        safe = jnp.minimum(idx, self.size - 1)
        if self.multilinear:
            g = jax.grad(self._potential_flat)(x, model_args, model_kwargs)
            return (a[safe] - 2.0 * x[safe]) * g[safe]

        def flipped(i):
            return self._potential_flat(x.at[i].set(a[i] - x[i]), model_args, model_kwargs)

        return jax.vmap(flipped)(safe) - u0

    def sweep(self, rng_key, z, model_args, model_kwargs):
        """One sweep; returns the new ``z`` and the potential there."""
        x = ravel_pytree({n: jnp.asarray(z[n], jnp.float32) for n in self.names})[0]
        a = jnp.asarray(self.flip_offset)
        other = {k: v for k, v in z.items() if k not in self.names}
        kwargs = with_conditioning(model_kwargs, other) if other else model_kwargs

        def class_update(x, idx, u, valid):
            u0 = None if self.multilinear else self._potential_flat(x, model_args, kwargs)
            dU = self._flip_energies(x, idx, model_args, kwargs, u0)
            flip = (u < flip_probability(self.update, dU)) & valid
            safe = jnp.minimum(idx, self.size - 1)
            return x.at[idx].set(jnp.where(flip, a[safe] - x[safe], x[safe]), mode="drop")

        if self.classes is None:  # random scan
            key_sites, key_u = jax.random.split(rng.stream_key(rng_key, self.rng_impl))
            sites = jax.random.randint(key_sites, (self.size, 1), 0, self.size)
            us = jax.random.uniform(key_u, sites.shape)
        else:
            sites = jnp.asarray(gibbs._pad_classes(self.classes, self.size))
            us = rng.uniform(rng_key, sites.shape, rng_impl=self.rng_impl)
        if self.classes is not None and len(self.classes) <= _MAX_UNROLLED_CLASSES:
            for k in range(len(self.classes)):
                x = class_update(x, sites[k], us[k], sites[k] < self.size)
        else:
            x, _ = jax.lax.scan(
                lambda x, xs: (class_update(x, xs[0], xs[1], xs[0] < self.size), None),
                x,
                (sites, us),
            )
        new = self._unflatten(x)
        z = {**z, **new}
        return z, self.potential(z, model_args, model_kwargs)
