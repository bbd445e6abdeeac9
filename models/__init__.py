"""Example model definitions in NumPyro syntax, importable by tests, tutorials and the CLI."""

from .ising import bernoulli_ising, boltzmann, hopfield_retrieval

__all__ = ["bernoulli_ising", "boltzmann", "hopfield_retrieval"]
