"""Shared helpers for tests that drive kernels through numpyro.infer.MCMC."""

import functools

import jax
from numpyro.infer import MCMC

import models


def boltzmann_model(spin_model, beta):
    """A NumPyro model with one BoltzmannSpins site ``"s"`` at a fixed ``beta``."""
    return functools.partial(models.boltzmann(spin_model), beta=beta)


def run_mcmc(kernel, *, chains=4, warmup=50, samples=200, method="vectorized", seed=0, **kw):
    """Run ``MCMC`` quietly and return it."""
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method=method,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(seed), **kw)
    return mcmc


#: a model file (for ``ergodic-ppl analyze FILE``): a 16-spin ferromagnet as a one-pattern Hopfield net
FERRO_MODEL_FILE = (
    "import numpy as np, numpyro\n"
    "import ergodic_ppl as ep\n"
    "net = ep.SpinModel.hopfield(np.ones((1, 16), np.int8))\n"
    "def model(beta):\n"
    "    numpyro.sample('s', ep.BoltzmannSpins(net, beta=beta))\n"
    "model_kwargs = {'beta': 2.0}\n"
)
