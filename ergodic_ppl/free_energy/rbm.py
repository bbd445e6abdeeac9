"""``log Z`` of an RBM by annealing its visible marginal (Salakhutdinov & Murray 2008).

A bipartite model (:meth:`SpinModel.rbm`) has its hidden spins summed out exactly,
``-beta F(v) = beta a.v + sum_j log 2 cosh(beta (b_j + W_j . v))``, so AIS can anneal the
visible distribution alone, from a *base-rate* model of independent visible spins with fields
``a0`` (by default the smoothed data marginals, ``atanh(<v>) / beta``), through

    log p*_k(v) = (1 - lam_k) beta a0.v + lam_k beta a.v
                  + sum_j log 2 cosh(lam_k beta (b_j + W_j . v)),

``log Z_0 = sum_i log 2 cosh(beta a0_i) + n_hidden log 2``.  Each step draws the hidden layer
given the visible one and the visible layer given the hidden one at ``lam_k`` (a
data-augmentation Gibbs step: reversible for ``p_k(v)``, so the same step serves the reverse
run).  Weights on the marginal have far lower variance than those on ``(v, t)``, and the
base-rate start is much closer to the trained model than uniform spins: this is the estimator
the published MNIST tables use (docs/THEORY.md A.5.3; Salakhutdinov & Murray 2008,
Burda, Grosse & Salakhutdinov 2015 for the reverse run from data, RAISE-style).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_beta, check_count, check_spin_model
from ..kernels import rng
from ..kernels.conditionals import sample_spins
from ..spins import check_spins
from .estimators import LogZBracket

__all__ = ["base_rate_fields", "rbm_ais_log_weights", "rbm_log_z_bracket", "rbm_schedule"]


def rbm_schedule(num_steps: int) -> np.ndarray:
    """``lam_0 = 0 < ... < lam_K = 1``: Salakhutdinov & Murray's piecewise-linear schedule
    scaled to ``num_steps`` (3.5 % of the steps on [0, 0.5], 27.5 % on [0.5, 0.9], 69 % on
    [0.9, 1]: 500 / 4000 / 10000 of their 14 500)."""
    k1 = max(1, round(num_steps * 500 / 14500))
    k2 = max(1, round(num_steps * 4000 / 14500))
    k3 = max(1, num_steps - k1 - k2)
    return np.concatenate(
        [
            np.linspace(0.0, 0.5, k1, endpoint=False),
            np.linspace(0.5, 0.9, k2, endpoint=False),
            np.linspace(0.9, 1.0, k3 + 1),
        ]
    )


def base_rate_fields(visible_spins, beta: float = 1.0, pseudo_count: float = 1.0) -> np.ndarray:
    """Fields ``a0 = atanh(m) / beta`` of independent visible spins with the data's smoothed
    means ``m = 2 (ones + c) / (rows + 2c) - 1`` (``c`` = ``pseudo_count``)."""
    v = np.asarray(visible_spins)
    ones = (v > 0).sum(0)
    m = 2 * (ones + pseudo_count) / (len(v) + 2 * pseudo_count) - 1
    return (np.arctanh(m) / beta).astype(np.float32)


def _parts(model):
    nv = model.n_visible
    return model.pair_weights, model.fields[:nv], model.fields[nv:]


def _log_p_star(v, lam, w, a, b, a0, beta):
    """``log p*_lam(v)`` (module docstring), per row of ``v`` ``(C, n_visible)``."""
    x = beta * (v @ w + b)
    visible = beta * (v @ ((1 - lam) * a0 + lam * a))
    return visible + jnp.sum(jnp.logaddexp(lam * x, -lam * x), axis=-1)


def _sweep(key, v, lam, w, a, b, a0, beta):
    """Hidden given visible, then visible given hidden, both at ``lam``."""
    k_t, k_v = jax.random.split(key)
    t_field = lam * (v @ w + b)
    t = sample_spins("heat_bath", beta, t_field, t_field, rng.uniform(k_t, t_field.shape))
    v_field = (1 - lam) * a0 + lam * (a + t @ w.T)
    return sample_spins("heat_bath", beta, v, v_field, rng.uniform(k_v, v_field.shape))


#: annealing steps per compiled chunk (the progress bar advances once per chunk)
CHUNK = 500


@functools.partial(jax.jit, static_argnames=("forward",))
def _anneal(key, v, lw, lams, w, a, b, a0, beta, forward: bool):
    """``(v, lw)`` after the steps ``lams[0] -> lams[1] -> ...``.  Forward: from base-rate
    draws ``v``, ``lw += log p*_k - log p*_{k-1}`` then a sweep at ``lam_k``.  Reverse
    (``lams`` decreasing from 1): a sweep at ``lam_k`` then ``lw += log p*_{k+1} - log p*_k``,
    the log of ``Z_0 / Z`` in expectation for exact draws."""

    def step(carry, inputs):
        v, lw = carry
        k, lam_prev, lam = inputs
        if not forward:
            v = _sweep(k, v, lam_prev, w, a, b, a0, beta)
        lw = (
            lw
            + _log_p_star(v, lam, w, a, b, a0, beta)
            - _log_p_star(v, lam_prev, w, a, b, a0, beta)
        )
        if forward:
            v = _sweep(k, v, lam, w, a, b, a0, beta)
        return (v, lw), None

    keys = jax.random.split(key, len(lams) - 1)
    (v, lw), _ = jax.lax.scan(step, (v, lw), (keys, lams[:-1], lams[1:]))
    return v, lw


def _anneal_chunks(key, v, lams, parts, beta, forward, progress):
    """The whole path in chunks of :data:`CHUNK` steps (one compiled chunk; the last padded by
    repeating the final ``lam``: a step from ``lam`` to itself adds nothing to the weight and
    its sweep leaves ``p_lam`` invariant)."""
    from tqdm.auto import tqdm

    steps = len(lams) - 1
    chunks = -(-steps // CHUNK)
    lams = np.concatenate([lams, np.full(chunks * CHUNK - steps, lams[-1])])
    lw = jnp.zeros(len(v), v.dtype)
    keys = jax.random.split(key, chunks)
    label = "AIS" if forward else "reverse AIS"
    with tqdm(total=steps, desc=label, disable=not progress, unit="step") as bar:
        for c in range(chunks):
            piece = jnp.asarray(lams[c * CHUNK : (c + 1) * CHUNK + 1], v.dtype)
            v, lw = _anneal(keys[c], v, lw, piece, *parts, beta, forward=forward)
            lw.block_until_ready()
            bar.update(min(CHUNK, steps - c * CHUNK))
    return lw


def rbm_ais_log_weights(
    model, beta: float, rng_key, *, num_chains: int = 100, num_steps: int = 14500,
    base_fields=None, start_visible=None, progress: bool = False,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """``(log_weights, log Z_0)`` of visible-marginal AIS on a bipartite ``model`` (module
    docstring): forward from ``num_chains`` base-rate draws, or, with ``start_visible``
    ``(chains, n_visible)`` (held-out data for RAISE, or draws of the model), the reverse run
    from those states, whose ``log Z_0 - log mean exp(lw)`` errs above in expectation for
    exact draws.  ``base_fields`` default zeros (uniform visible spins): pass
    :func:`base_rate_fields` of the training data.  ``progress``: a tqdm bar with an ETA.

    >>> import jax, ergodic_ppl as ep
    >>> rbm = ep.SpinModel.rbm(6, 3, rng_key=jax.random.key(0), scale=0.5)
    >>> lw, log_z0 = rbm_ais_log_weights(rbm, 1.0, jax.random.key(1), num_steps=200)
    >>> lw.shape
    (100,)
    """
    check_spin_model(model)
    if not model.is_bipartite:
        raise ValueError(
            "`model` must be a bipartite RBM (SpinModel.rbm); for other models use "
            "ep.free_energy.ais_log_weights."
        )
    beta = float(check_beta(beta, positive="for AIS"))
    check_count("num_steps", num_steps, 1)
    w, a, b = _parts(model)
    dtype = w.dtype
    nv, nh = w.shape
    a0 = jnp.zeros(nv, dtype) if base_fields is None else jnp.asarray(base_fields, dtype)
    if a0.shape != (nv,) or not bool(jnp.all(jnp.isfinite(a0))):
        raise ValueError(
            f"`base_fields` must be {nv} finite visible fields (base_rate_fields of the "
            f"training data); got shape {a0.shape}."
        )
    a0_64 = np.asarray(a0, np.float64)
    log_z0 = float(np.sum(np.logaddexp(beta * a0_64, -beta * a0_64)) + nh * math.log(2.0))
    lams = rbm_schedule(num_steps)
    k_start, k_run = jax.random.split(rng_key)
    parts = (w, a, b, a0)
    if start_visible is None:
        check_count("num_chains", num_chains, 2)
        p = jax.nn.sigmoid(2 * beta * a0)
        v = jnp.where(jax.random.uniform(k_start, (num_chains, nv)) < p, 1.0, -1.0).astype(dtype)
        lw = _anneal_chunks(k_run, v, lams, parts, beta, True, progress)
    else:
        v = np.asarray(start_visible)
        if v.ndim != 2 or v.shape[1] != nv or len(v) < 2:
            raise ValueError(
                f"`start_visible` must be (chains >= 2, {nv}) visible spins; got {v.shape}."
            )
        v = jnp.asarray(check_spins(v, nv, "start_visible"), dtype)
        lw = _anneal_chunks(k_run, v, lams[::-1], parts, beta, False, progress)
    return np.asarray(lw, np.float64), log_z0


def rbm_log_z_bracket(
    model, beta: float, rng_key, start_visible, *, base_fields=None, num_chains: int = 100,
    num_steps: int = 14500, progress: bool = False,
) -> LogZBracket:  # fmt: skip
    """``log Z`` of a bipartite ``model`` between forward visible-marginal AIS from base-rate
    draws (low in expectation) and the reverse run from ``start_visible`` (held-out data:
    RAISE, Burda et al. 2015; high in expectation when they are draws of the model), both
    on the same schedule (:func:`rbm_schedule`), combined by BAR (:class:`LogZBracket`).
    The visible-layer counterpart of :func:`~ergodic_ppl.free_energy.log_z_bracket`.

    >>> import jax, ergodic_ppl as ep
    >>> rbm = ep.SpinModel.rbm(6, 3, rng_key=jax.random.key(0), scale=0.5)
    >>> data = ep.kernels.run_chains(rbm, 1.0, jax.random.key(2), num_chains=50,
    ...                              num_draws=1).spins[:, 0, :6]
    >>> br = rbm_log_z_bracket(rbm, 1.0, jax.random.key(1), data, num_steps=500)
    >>> bool(br.width < 0.5)
    True
    """
    k_forward, k_reverse = jax.random.split(rng_key)
    common = dict(base_fields=base_fields, num_steps=num_steps, progress=progress)
    lw_f, log_z0 = rbm_ais_log_weights(model, beta, k_forward, num_chains=num_chains, **common)
    lw_r, _ = rbm_ais_log_weights(model, beta, k_reverse, start_visible=start_visible, **common)
    return LogZBracket.from_log_weights(lw_f, lw_r, log_z0, beta=float(beta))
