"""Hidden spins: the positive phase and the visible free energy (docs/THEORY.md B.2).

With visible spins ``v`` (the data) and hidden spins ``t``, the mean NLL of the data is
``L = beta <F(v)>_data + log Z`` with the *free energy of the visible spins*
``beta F(v) = -log sum_t exp(-beta E(v, t))``, and its gradient is
``beta (<dE/dtheta>_{p(t|v) data} - <dE/dtheta>_model)``: the positive phase averages over
the hidden spins given each data point.

When no interaction term holds two hidden spins (an RBM; any model whose hidden spins do not
interact) the hidden spins are conditionally independent given ``v``, and the energy is linear
in each of them: ``E(v, t) = E(v, 0) - sum_j t_j h_j(v)`` with the local field ``h_j(v)``. Then
``p(t_j = +1 | v) = sigmoid(2 beta h_j)``, ``<t_j | v> = tanh(beta h_j)``, the positive phase
is ``dE/dtheta`` at ``(v, tanh(beta h(v)))`` exactly (E is multilinear, the hidden spins
independent), and ``beta F(v) = beta E(v, 0) - sum_j log(2 cosh(beta h_j(v)))``.

Otherwise the hidden spins are sampled with the visible ones clamped (:class:`ClampedSweep`):
one persistent hidden state per data point, Gibbs sweeps over the hidden colour classes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels import rng
from ..kernels.conditionals import local_fields, sample_spins
from ..kernels.gibbs import color_classes
from ..spins import SpinModel

__all__ = ["HiddenSpins", "ClampedSweep", "minus_beta_energy", "visible_free_energy"]


class HiddenSpins:
    """The visible/hidden split of a model's spins (static).

    ``visible``: index array of the visible spins (the data columns, in data order).
    Attributes: ``visible``, ``hidden`` (the rest, ascending), ``independent`` (no term holds
    two hidden spins).
    """

    def __init__(self, model: SpinModel, visible):
        n = model.n
        v = np.asarray(visible)
        if v.ndim != 1 or v.size == 0 or not np.issubdtype(v.dtype, np.integer):
            raise ValueError(
                f"`visible` must be a non-empty 1-D sequence of spin indices; got {visible!r}."
            )
        if v.min() < 0 or v.max() >= n:
            raise ValueError(f"`visible` has spin indices outside [0, {n}).")
        if len(np.unique(v)) != len(v):
            raise ValueError("`visible` lists a spin twice.")
        self.n = n
        self.visible = v.astype(np.int32)
        self.hidden = np.setdiff1d(np.arange(n), v).astype(np.int32)
        is_hidden = np.zeros(n, bool)
        is_hidden[self.hidden] = True
        edges = model._structure.graph_edges
        self.independent = not np.any(is_hidden[edges[:, 0]] & is_hidden[edges[:, 1]])
        # position of every spin in concatenate([v, t]): one gather assembles a full state
        self._assemble = np.argsort(np.concatenate([self.visible, self.hidden])).astype(np.int32)

    @property
    def num_hidden(self) -> int:
        return len(self.hidden)

    def is_rbm_layer(self, model: SpinModel) -> bool:
        """Whether ``model`` is an RBM (:meth:`SpinModel.rbm`) whose visible layer is exactly
        these visible spins, in order: the case centred gradients and the RBM recipe need."""
        return model.is_bipartite and np.array_equal(self.visible, np.arange(model.n_visible))

    def complete(self, v, t) -> jax.Array:
        """Full states ``(batch, n)`` from visible ``v (batch, n_v)`` and hidden ``t (batch, n_h)``."""
        both = jnp.concatenate([v, t.astype(v.dtype)], axis=-1)
        if np.array_equal(self._assemble, np.arange(self.n)):
            return both
        return both[..., self._assemble]

    def hidden_fields(self, model: SpinModel, v) -> jax.Array:
        """Local fields ``h_j(v)`` of the hidden spins (``independent`` models only)."""
        zeros = jnp.zeros(v.shape[:-1] + (self.num_hidden,), v.dtype)
        return model._local_fields(self.complete(v, zeros), self.hidden)

    def mean_states(self, model: SpinModel, beta, v) -> jax.Array:
        """``(v, <t | v>)`` with ``<t_j | v> = tanh(beta h_j(v))``: where the positive phase's
        ``dE/dtheta`` is evaluated exactly."""
        return self.complete(v, jnp.tanh(beta * self.hidden_fields(model, v)))

    def sample_states(self, model: SpinModel, beta, v, rng_key) -> jax.Array:
        """``(v, t)`` with ``t ~ p(t | v)``: ``P(t_j = +1 | v) = sigmoid(2 beta h_j(v))`` (exact
        draws of the model given ``v``; e.g. data to start reverse AIS from)."""
        h = self.hidden_fields(model, v)
        u = rng.uniform(rng_key, h.shape, h.dtype)
        return self.complete(v, jnp.where(u < jax.nn.sigmoid(2.0 * beta * h), 1.0, -1.0))

    def likely_states(self, model: SpinModel, v) -> jax.Array:
        """``(v, sign h(v))``: the most probable hidden spins given ``v`` (for quenches)."""
        h = self.hidden_fields(model, v)
        return self.complete(v, jnp.where(h >= 0, 1.0, -1.0))


def visible_free_energy(model: SpinModel, visible, v, beta=1.0) -> jax.Array:
    """``beta F(v) = -log sum_t exp(-beta E(v, t))`` per row of ``v (batch, n_v)``.

    Exact, in closed form, when the hidden spins do not interact (an RBM):
    ``beta F(v) = beta E(v, 0) - sum_j log(2 cosh(beta h_j(v)))``. The mean NLL of data is
    ``<beta F(v)> + log Z``. ``visible`` is the index array of the visible spins.
    """
    split = visible if isinstance(visible, HiddenSpins) else HiddenSpins(model, visible)
    if not split.independent:
        raise ValueError(
            "visible_free_energy is in closed form only when no term couples two hidden "
            "spins (an RBM); this model's hidden spins interact."
        )
    return free_energy_rows(model, split, beta, jnp.asarray(v))


def minus_beta_energy(model: SpinModel, v, beta=1.0) -> np.ndarray:
    """The unnormalised log-probability of rows ``v`` ``(m, n_v)``, float64: ``-beta E(v)``
    for a fully visible model (``n_v = model.n``), else ``-beta F(v)`` with the model's first
    ``n_v`` spins visible and the hidden ones summed out (:func:`visible_free_energy`)."""
    if model.n == v.shape[-1]:
        return -beta * np.asarray(model.energy(v), np.float64)
    return -np.asarray(visible_free_energy(model, np.arange(v.shape[-1]), v, beta), np.float64)


#: rows per chunk when the visible free energy runs over a whole data set: memory stays at
#: about ``FREE_ENERGY_CHUNK x (n_visible + n_hidden)`` floats however many rows there are
FREE_ENERGY_CHUNK = 1024


def free_energy_rows(model: SpinModel, split: HiddenSpins, beta, v) -> jax.Array:
    """``beta F(v)`` per row of ``v (rows, n_v)`` (±1 of any dtype, e.g. ``int8`` data), in
    chunks of :data:`FREE_ENERGY_CHUNK` rows (``jax.lax.map``) when there are more."""
    dtype = model.fields.dtype
    if v.ndim < 2 or v.shape[0] <= FREE_ENERGY_CHUNK:  # one row, or few
        return _free_energy(model, split, beta, v.astype(dtype))
    row = lambda r: _free_energy(model, split, beta, r.astype(dtype))  # noqa: E731
    return jax.lax.map(row, v, batch_size=FREE_ENERGY_CHUNK)


def _free_energy(model, split: HiddenSpins, beta, v):
    zeros = jnp.zeros(v.shape[:-1] + (split.num_hidden,), v.dtype)
    full = split.complete(v, zeros)
    x = beta * model._local_fields(full, split.hidden)
    log_2cosh = jnp.logaddexp(x, -x)  # log(2 cosh x), stable
    return beta * model._energy(full) - jnp.sum(log_2cosh, axis=-1)


class ClampedSweep:
    """Heat-bath sweeps of the hidden spins with the visible spins clamped.

    The model's colour classes restricted to the hidden spins (independent sets stay
    independent) are updated in turn: ``P(t_j = +1 | rest) = sigmoid(2 beta h_j)``.
    """

    def __init__(self, model: SpinModel, split: HiddenSpins):
        hidden = set(split.hidden.tolist())
        self.classes = [
            np.array([i for i in c if i in hidden], np.int32) for c in color_classes(model)
        ]
        self.classes = [c for c in self.classes if len(c)]

    def __call__(self, key, spins, model: SpinModel, beta, count: int):
        """``count`` sweeps of ``spins (batch, n)`` (chain-major floats); returns the spins."""
        s = jnp.moveaxis(spins, -1, 0)

        def sweep(s, k):
            for idx, kc in zip(self.classes, jax.random.split(k, len(self.classes)), strict=True):
                h = local_fields(model, s, idx)
                u = rng.uniform(kc, h.shape, h.dtype)
                s = s.at[idx].set(sample_spins("heat_bath", beta, s[idx], h, u))
            return s, None

        s, _ = jax.lax.scan(sweep, s, jax.random.split(key, count))
        return jnp.moveaxis(s, 0, -1)
