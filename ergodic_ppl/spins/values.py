"""Spin values and integer indices: the checks every spin-model entry point shares.

Spins take values in {-1, +1} (docs/THEORY.md A.2). Integer arguments (spin indices, sizes) are
accepted as integers or integral floats; anything fractional is an error, never truncated.
Value checks run on concrete (host) arrays only; shapes are checked always, since they are
static even under ``jit``.

Bits and spins: the package's one convention
--------------------------------------------
``s = 1 - 2 b``: **bit 0 is spin +1, bit 1 is spin -1** (``b = (1 - s) / 2``), the
enumeration order of :mod:`ergodic_ppl.exact` (bit ``k`` of a state index is 0 exactly when
``s_k = +1``). It is implemented here only - :func:`bits_to_spins` / :func:`spins_to_bits`
(JAX) and their NumPy twins :func:`bits_to_spins_np` / :func:`spins_to_bits_np` - and every
other conversion in the package calls them: :func:`ergodic_ppl.datasets.load` (a 0/1 file),
``ergodic_ppl.datasets.digits`` (an "on" pixel is bit 1, spin -1), the Bernoulli draws read
by the diagnostics and the kernels, exact enumeration, and the 0/1 units of
``SpinModel.from_bernoulli_rbm`` / ``to_bernoulli_rbm`` (``s = 1 - 2x``). The core API (``learning.fit``,
``BasinMixture``, ``thermo``, ``basins``) takes ±1 spins only and refuses 0/1 arrays with
:data:`BITS_HINT` instead of guessing the encoding from the values.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "BITS_HINT",
    "bits_to_spins",
    "bits_to_spins_np",
    "check_spins",
    "relaxed_spins",
    "spins_to_bits",
    "spins_to_bits_np",
]

#: the fix every refusal of 0/1 values points at (the one convention, module docstring)
BITS_HINT = "convert 0/1 bits with ep.bits_to_spins(bits) (bit 0 → +1, bit 1 → −1)"

_RELAXED = contextvars.ContextVar("ergodic_ppl_relaxed_spins", default=False)


@contextlib.contextmanager
def relaxed_spins():
    """Evaluate the multilinear extension: spin *values* in [-1, 1] are accepted inside.

    ``E(s)`` is multilinear in ``s`` (docs/THEORY.md A.2), so it has a unique extension to real
    ``s``; analyses that probe it (the generic kernel's multilinearity and interaction-graph
    test, which evaluates the NumPyro model at interior points) run inside this context. There
    :meth:`SpinModel.energy`, ``local_fields``, ``flip_energies`` skip the value check (shapes
    are still checked) and ``BoltzmannSpins.log_prob`` returns ``-beta E(s)`` without the
    support mask. Outside it, concrete values other than ±1 are refused.

    >>> import ergodic_ppl as ep
    >>> with relaxed_spins():
    ...     float(ep.SpinModel(fields=[1.0]).energy([0.5]))
    -0.5
    """
    token = _RELAXED.set(True)
    try:
        yield
    finally:
        _RELAXED.reset(token)


def _values_checked() -> bool:
    return not _RELAXED.get()


def spins_to_bits(spins):
    """Map spins ±1 to bits: +1 -> 0, -1 -> 1 (``b = (1 - s) / 2``, the one convention).

    >>> spins_to_bits([1, -1]).tolist()
    [0, 1]
    """
    return ((1 - jnp.asarray(spins)) // 2).astype(jnp.int8)


def bits_to_spins(bits):
    """Map bits to spins: 0 -> +1, 1 -> -1, as ``int8`` (``s = 1 - 2 b``, the one convention).

    >>> bits_to_spins([0, 1]).tolist()
    [1, -1]
    """
    return (1 - 2 * jnp.asarray(bits)).astype(jnp.int8)


def spins_to_bits_np(spins) -> np.ndarray:
    """NumPy twin of :func:`spins_to_bits` (host arrays, no device transfer): ``int8`` bits.

    >>> spins_to_bits_np([1, -1]).tolist()
    [0, 1]
    """
    return (np.asarray(spins) < 0).astype(np.int8)


def bits_to_spins_np(bits) -> np.ndarray:
    """NumPy twin of :func:`bits_to_spins` (host arrays, no device transfer): ``int8`` spins,
    ``s = 1 - 2 b``; booleans are bits (True -> -1).

    >>> bits_to_spins_np([0, 1]).tolist()
    [1, -1]
    """
    b = np.asarray(bits)
    return (1 - 2 * b.astype(np.int8, copy=False)).astype(np.int8, copy=False)


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _check_spin_shape(shape: tuple, n: int, name: str) -> None:
    if len(shape) == 0 or shape[-1] != n:
        raise ValueError(
            f"`{name}` must have shape (..., n) with n={n} spins on the last axis; "
            f"got shape {tuple(shape)}."
        )


def _check_spin_values(arr: np.ndarray, name: str) -> None:
    ok = (arr == 1) | (arr == -1)
    if not np.all(ok):
        bad = np.unique(arr[~ok])[:5]
        raise ValueError(
            f"`{name}` must contain only -1 and +1; found {bad.tolist()}. "
            f"The core API takes ±1 spins: {BITS_HINT}."
        )


def check_spins(spins, n: int, name: str = "spins") -> np.ndarray:
    """Validate concrete spins: last axis of length ``n``, every value in {-1, +1}.

    Returns the spins as a NumPy ``int8`` array; raises ``ValueError`` naming ``name`` otherwise.

    >>> check_spins([1.0, -1.0], 2).tolist()
    [1, -1]
    """
    arr = np.asarray(spins)
    _check_spin_shape(arr.shape, n, name)
    _check_spin_values(arr, name)
    return arr.astype(np.int8, copy=False)


def validate_spins(spins, n: int, name: str = "spins") -> None:
    """Check ``spins (..., n)`` without converting: the shape always, the values when concrete.

    The cheap guard of :meth:`SpinModel.energy` and friends: a traced array is checked for its
    (static) shape only, and so is any array inside :func:`relaxed_spins`.
    """
    _check_spin_shape(np.shape(spins), n, name)
    if _is_concrete(spins) and _values_checked():
        _check_spin_values(np.asarray(spins), name)


def as_index_array(x, name: str) -> np.ndarray:
    """Integer spin indices as ``int64``; fractional, boolean or non-numeric values are refused.

    Integral floats (``1.0``) are accepted, since converting them loses nothing.
    """
    arr = np.asarray(x)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"`{name}` must contain integer spin indices; got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.floating):
        frac = ~np.isfinite(arr) | (arr != np.round(arr))
        if np.any(frac):
            raise ValueError(
                f"`{name}` must contain integer spin indices; found "
                f"{np.unique(arr[frac])[:5].tolist()}."
            )
    return arr.astype(np.int64)


def as_count(x, name: str, minimum: int = 1) -> int:
    """A size argument as a Python ``int >= minimum``; fractional values are refused."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        if not (isinstance(x, np.ndarray | jax.Array) and np.ndim(x) == 0):
            raise ValueError(f"`{name}` must be an integer; got {x!r}.")
    value = float(x) if not isinstance(x, numbers.Integral) else int(x)
    if not float(value).is_integer():
        raise ValueError(f"`{name}` must be an integer; got {x!r}.")
    if int(value) < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}; got {x!r}.")
    return int(value)
