"""Spin models written as NumPyro models.

Each function returns a NumPyro model (a callable) so that one definition can be sampled by
``SpinGibbs`` inside ``numpyro.infer.MCMC`` with different arguments.
"""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist

import ergodic_ppl as ep


def boltzmann(spin_model: ep.SpinModel, site: str = "s"):
    """``model(beta)``: one ``BoltzmannSpins`` site — the fast path of ``SpinGibbs``."""

    def model(beta=1.0):
        numpyro.sample(site, ep.BoltzmannSpins(spin_model, beta=beta))

    return model


def bernoulli_ising(spin_model: ep.SpinModel, site: str = "x"):
    """``model(beta)``: the same Boltzmann distribution written with plain ``Bernoulli`` bits
    (bit 0 is spin +1) and a ``numpyro.factor`` energy — the generic path, and the form
    NumPyro's ``DiscreteGibbs`` samples."""

    def model(beta=1.0):
        with numpyro.plate(f"{site}_plate", spin_model.n):
            x = numpyro.sample(site, dist.Bernoulli(0.5))
        numpyro.factor("energy", -beta * spin_model.energy(1 - 2 * x))

    return model


def hopfield_retrieval(n: int = 64, num_patterns: int = 3, seed: int = 0):
    """A Hopfield network storing ``num_patterns`` random patterns; returns ``(model, patterns)``.

    At low temperature (``beta`` ≳ 2) each stored pattern and its mirror is a separate basin.
    """
    rng = np.random.default_rng(seed)
    patterns = rng.choice(np.array([-1, 1], dtype=np.int8), size=(num_patterns, n))
    return boltzmann(ep.SpinModel.hopfield(patterns)), patterns
