"""A Hopfield network retrieving its stored patterns: ``ergodic-ppl analyze models/hopfield.py``.

64 spins store 3 random ±1 patterns ``xi`` with Hebbian couplings
``J_ij = (1/n) sum_mu xi_i^mu xi_j^mu`` (``ep.SpinModel.hopfield``).  At ``beta = 2``, below
the retrieval temperature (``T = 1`` for a small load ``p / n``), each pattern and its mirror
image ``-xi`` is the minimum of a separate basin, and a chain that falls into one stays there:
the analysis (docs/THEORY.md A.6) reports broken ergodicity, with every basin overlapping one stored
pattern (up to sign).

The file defines what the CLI reads (``ergodic_ppl/pipeline/models.py``,
``load_model_file``): ``model``, ``model_kwargs`` and ``patterns`` (whose overlaps are
diagnosed).  ``hopfield_retrieval`` builds the same for other sizes.
"""

from __future__ import annotations

import numpy as np
import numpyro

import ergodic_ppl as ep

N, NUM_PATTERNS, BETA, SEED = 64, 3, 2.0, 0


def hopfield_retrieval(n: int = N, num_patterns: int = NUM_PATTERNS, seed: int = SEED):
    """``(model, patterns)``: a NumPyro model ``model(beta)`` of a Hopfield network storing
    ``num_patterns`` random ±1 patterns of ``n`` spins (drawn with ``seed``), and the
    ``(num_patterns, n)`` ``int8`` patterns."""
    rng = np.random.default_rng(seed)
    stored = rng.choice(np.array([-1, 1], dtype=np.int8), size=(num_patterns, n))
    network = ep.SpinModel.hopfield(stored)

    def hopfield(beta=1.0):
        numpyro.sample("s", ep.BoltzmannSpins(network, beta=beta))

    return hopfield, stored


model, patterns = hopfield_retrieval()
model_kwargs = {"beta": BETA}
