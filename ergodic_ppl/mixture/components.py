"""One model per cluster of the per-basin mixture (docs/THEORY.md A.6, step 3) and its ``log Z``.

Three fitters, one per kind of base model:

- :class:`ExactFitter` (n <= 20): exact maximum likelihood of fields and couplings (or any
  Walsh orders) by ``ep.thermo.reduce(method="fit")``; ``log Z`` enumerated.
- :class:`PairwiseFitter` (fully visible, n > 20): persistent-chain training
  (``ep.learning.fit``) from the cluster's smoothed marginals; ``log Z`` by AIS.
- :class:`RBMFitter` (an RBM base): the base RBM fine-tuned on the cluster's rows by the
  compiled PCD step (one optimiser object and padded data, so every component reuses one
  compiled step); ``log Z`` bracketed by forward visible-marginal AIS and its reverse run from
  the cluster's rows, BAR between them (``ep.free_energy.rbm_log_z_bracket``).

A component's unnormalised log density of visible rows is
``ep.learning.hidden.minus_beta_energy``: ``-beta E(v)``, or ``-beta F(v)`` with the hidden
spins summed out.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import numpy as np

from ..exact import log_z as exact_log_z
from ..spins import SpinModel

__all__ = ["MixtureComponent"]

#: ridge on the fields (n <= 20): small, so the fields keep their maximum-likelihood values,
#: yet a spin that never flips within a cluster gets a finite field (about 5 at l2 = 1e-4)
FIELD_L2 = 1e-4
#: persistent-chain training of each fully visible component (n > 20), overridden by
#: ``fit_options``.  The Adam rate decays to 0 over the updates (cosine): at a constant rate
#: the last PCD snapshot is noisy (binarised digits, held-out LL of one BM over 6 seeds:
#: -17.92 +- 0.02 decayed against -24.1 +- 0.8 constant; benchmarks/bench_mixture.py).
PAIRWISE_FIT_OPTIONS = {
    "steps": 1000, "num_chains": 128, "batch_size": 100, "learning_rate": 1e-2,
    "learning_rate_decay": "cosine", "num_warmup": 100, "monitor": False, "num_ais_chains": 0,
}  # fmt: skip
#: fine-tuning of each RBM component from the base RBM, overridden by ``fit_options``: SGD
#: with momentum 0.9 at 1e-4 decayed to 0 by a cosine over 10 000 updates of 100 persistent
#: chains started at the cluster's rows (binarized MNIST, 4 components: +0.50 nats per row on
#: valid over the single RBM; 2000 updates at 1e-3: -3.8, the restarted rate undoes the
#: base's convergence; benchmarks/README.md, "bench_mnist.py")
RBM_FIT_OPTIONS = {
    "steps": 10_000, "num_chains": 100, "batch_size": 100, "learning_rate": 1e-4,
    "learning_rate_decay": "cosine", "num_warmup": 0, "monitor": False, "num_ais_chains": 0,
    "monitor_every": 10_000,
}  # fmt: skip
LEARNING_RATE_DECAYS = ("cosine", "constant")
#: AIS budget of each component's ``log Z`` (n > 20), overridden by ``log_z_options``: on
#: the full states of a fully visible component, on the visible marginal of an RBM (forward
#: and reverse, so twice the steps' cost)
PAIRWISE_LOG_Z_OPTIONS = {"num_chains": 256, "num_steps": 1000}
RBM_LOG_Z_OPTIONS = {"num_chains": 100, "num_steps": 4000}


class MixtureComponent(NamedTuple):
    """One component: its model, weight, ``log Z`` at the mixture's ``beta`` (with its
    standard error: 0 when enumerated), the number of data points it was fitted to, its
    centre (the sign of the cluster's mean spin), the weight's standard error (nonzero only
    for sampled ``"free_energy"`` weights) and, for an RBM, the ``log Z`` bracket
    ``(forward AIS, reverse AIS)`` whose BAR combination is ``log_z`` (``log_z`` twice when
    there is no bracket)."""

    model: SpinModel
    weight: float
    log_z: float
    size: int
    centre: np.ndarray
    log_z_stderr: float = 0.0
    weight_stderr: float = 0.0
    log_z_bracket: tuple[float, float] | None = None

    @property
    def log_z_range(self) -> tuple[float, float]:
        """``(forward AIS, reverse AIS)`` ends of ``log Z`` (low, then high in expectation),
        or ``log_z`` twice."""
        return self.log_z_bracket if self.log_z_bracket is not None else (self.log_z,) * 2


class _Fitter:
    """Shared: the inverse temperature, the key, the options and a key per component."""

    defaults: dict = {}
    log_z_defaults: dict = PAIRWISE_LOG_Z_OPTIONS

    def __init__(self, beta, key, fit_options=None, log_z_options=None):
        self.beta, self.key = beta, key
        self.fit_options = {**self.defaults, **(fit_options or {})}
        decay = self.fit_options.get("learning_rate_decay", "cosine")
        if decay not in LEARNING_RATE_DECAYS:
            raise ValueError(
                f"`fit_options['learning_rate_decay']` must be one of {LEARNING_RATE_DECAYS}; "
                f"got {decay!r}."
            )
        self.log_z_options = {**self.log_z_defaults, **(log_z_options or {})}

    def _key(self, tag, what):
        salt = 10_000 + what if tag == "base" else 2 * int(tag) + what
        return jax.random.fold_in(self.key, salt)

    @functools.cached_property
    def optimizer(self):
        """One optimiser object for every component, so they share one compiled training
        step (``learning.compile_cache_info``): Adam (fully visible) or SGD with momentum
        (RBM), at ``learning_rate``, cosine-decayed by default."""
        import optax

        o = self.fit_options
        if o.get("optimizer") is not None:
            return o["optimizer"]
        rate = o["learning_rate"]
        if o["learning_rate_decay"] == "cosine":
            rate = optax.cosine_decay_schedule(rate, o["steps"])
        return self._transform(rate)

    def _train(self, model0, rows, tag, visible=None, init_spins=None):
        from ..learning.fit import fit as pcd_fit

        recipe = ("learning_rate", "learning_rate_decay", "optimizer", "momentum")
        options = {k: v for k, v in self.fit_options.items() if k not in recipe}
        return pcd_fit(model0, rows, self.beta, rng_key=self._key(tag, 0), optimizer=self.optimizer,
                       visible=visible, init_spins=init_spins, **options).model  # fmt: skip

    def _start_rows(self, rows, tag, num):
        seed = np.asarray(jax.random.key_data(self._key(tag, 1))).ravel()
        return rows[np.random.default_rng(seed).integers(len(rows), size=num)]


class ExactFitter(_Fitter):
    """n <= 20: exact maximum likelihood of ``orders``, ``log Z`` enumerated."""

    def __init__(self, beta, key, orders, l2, fit_options=None, log_z_options=None):
        if fit_options:
            raise ValueError("`fit_options` are for n > 20 (persistent chains); n <= 20 is exact.")
        super().__init__(beta, key, None, log_z_options)
        self.orders, self.l2 = orders, l2

    def model(self, rows, tag) -> SpinModel:
        from ..thermo.reduced import reduce

        return reduce(data=rows, orders=self.orders, method="fit", l2=self.l2,
                      l2_fields=FIELD_L2, temperature=1 / self.beta)  # fmt: skip

    def log_z(self, model, rows, tag) -> tuple[float, float, None]:
        return float(exact_log_z(model, self.beta)), 0.0, None


class PairwiseFitter(_Fitter):
    """Fully visible, n > 20: fields (and couplings) by persistent chains, ``log Z`` by AIS."""

    defaults = PAIRWISE_FIT_OPTIONS

    def __init__(self, beta, key, orders, l2, fit_options=None, log_z_options=None):
        super().__init__(beta, key, {"l2": l2, **(fit_options or {})}, log_z_options)
        self.orders = tuple(orders)
        if self.orders not in ((1, 2), (1,)):
            raise ValueError(f"`orders` must be (1, 2) or (1,) for n > 20; got {orders!r}.")

    def _transform(self, rate):
        import optax

        return optax.adam(rate)

    def model(self, rows, tag) -> SpinModel:
        from ..free_energy.rbm import base_rate_fields

        fields = base_rate_fields(rows, self.beta)
        if self.orders == (1,):
            return SpinModel(fields=fields)
        start = self._start_rows(rows, tag, self.fit_options["num_chains"])
        return self._train(SpinModel.fully_connected(rows.shape[1], fields=fields), rows, tag,
                           init_spins=start)  # fmt: skip

    def log_z(self, model, rows, tag) -> tuple[float, float, None]:
        if self.orders == (1,):  # independent spins: log Z = sum log 2 cosh(beta h)
            h = np.asarray(model.fields, np.float64)
            return float(np.sum(np.logaddexp(self.beta * h, -self.beta * h))), 0.0, None
        from ..free_energy.drivers import estimate_log_z

        est = estimate_log_z(model, self.beta, method="ais", rng_key=self._key(tag, 2),
                             **self.log_z_options)  # fmt: skip
        return float(est.value), float(est.stderr), None


class RBMFitter(_Fitter):
    """An RBM base: each component is the base fine-tuned on its rows (centred PCD, the
    block step), ``log Z`` bracketed on the visible marginal."""

    defaults = RBM_FIT_OPTIONS
    log_z_defaults = RBM_LOG_Z_OPTIONS

    def __init__(self, beta, key, base, fit_options=None, log_z_options=None):
        super().__init__(beta, key, fit_options, log_z_options)
        self.base = base

    def _transform(self, rate):
        import optax

        return optax.sgd(rate, momentum=self.fit_options.get("momentum", 0.9))

    def model(self, rows, tag) -> SpinModel:
        nv, num = rows.shape[1], self.fit_options["num_chains"]
        visible = self._start_rows(rows, tag, num)
        start = np.concatenate([visible, likely_hidden(self.base, visible)], axis=1)
        return self._train(self.base, rows, tag, visible=range(nv), init_spins=start)

    def log_z(self, model, rows, tag) -> tuple[float, float, tuple[float, float]]:
        from ..free_energy.rbm import base_rate_fields, rbm_log_z_bracket

        o = self.log_z_options
        start = rows[np.random.default_rng(int(tag) + 1).permutation(len(rows))[: o["num_chains"]]]
        br = rbm_log_z_bracket(model, self.beta, self._key(tag, 2), start,
                               base_fields=base_rate_fields(rows, self.beta), **o)  # fmt: skip
        return float(br.bar[0]), float(br.bar[1]), (float(br.lower.value), float(br.upper.value))


def likely_hidden(model: SpinModel, visible) -> np.ndarray:
    """An RBM's hidden spins at the sign of their field given ``visible`` rows, ``int8``."""
    nv = visible.shape[1]
    w, b = np.asarray(model.pair_weights), np.asarray(model.fields)[nv:]
    return np.where(np.asarray(visible, np.float32) @ w + b >= 0, 1, -1).astype(np.int8)


def fitter_for(base, n, beta, key, orders, l2, fit_options, log_z_options):
    """The fitter for a base model (None: fully visible) and ``n`` visible spins."""
    from ..exact import ENUMERATION_LIMIT

    if base is not None and base.n > n:
        return RBMFitter(beta, key, base, fit_options, log_z_options)
    if n <= ENUMERATION_LIMIT:
        return ExactFitter(beta, key, orders, l2, fit_options, log_z_options)
    return PairwiseFitter(beta, key, orders, l2, fit_options, log_z_options)
