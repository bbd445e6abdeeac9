"""A Sherrington–Kirkpatrick spin glass below its freezing temperature:
``ergodic-ppl analyze models/sk.py``.

64 spins with dense Gaussian couplings ``J_ij ~ Normal(0, 1/n)`` and no fields
(``ep.SpinModel.sherrington_kirkpatrick``), at ``beta = 2``: below the glass transition at
``beta = 1`` the landscape breaks into many valleys, and
chains from random starts settle in different ones.  Without fields ``E(-s) = E(s)``: every
valley has a mirror image of the same probability, which a chain confined to one valley never
visits (docs/THEORY.md A.6: chains that never visit some basin).

The file defines what the CLI reads (``ergodic_ppl/pipeline/models.py``,
``load_model_file``): ``model`` and ``model_kwargs``; ``glass`` is the ``SpinModel``.
"""

from __future__ import annotations

import jax
import numpyro

import ergodic_ppl as ep

N, BETA, SEED = 64, 2.0, 0

glass = ep.SpinModel.sherrington_kirkpatrick(N, jax.random.key(SEED))


def model(beta=1.0):
    numpyro.sample("s", ep.BoltzmannSpins(glass, beta=beta))


model_kwargs = {"beta": BETA}
