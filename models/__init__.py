"""Example model files for ``ergodic-ppl analyze models/<file>.py`` (not an installed package).

Each file is self-contained (it imports only ``ergodic_ppl``, NumPyro, JAX and NumPy) and
defines ``model`` and ``model_kwargs`` (``hopfield.py`` also ``patterns``), the contract of
the CLI's model files.  Load a file by path (``runpy.run_path("models/ising.py")``); this
``__init__`` only lets code run from the repository root (the tests) write ``import models``.
"""

from .hopfield import hopfield_retrieval
from .ising import bernoulli_ising, boltzmann

__all__ = ["bernoulli_ising", "boltzmann", "hopfield_retrieval"]
