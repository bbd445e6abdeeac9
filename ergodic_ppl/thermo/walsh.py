"""The full ("Walsh") description of an energy table (docs/THEORY.md A.2).

Any energy table on ``n`` spins is a sum over all ``2^n`` subsets (masks) ``a``::

    E(s) = - sum_a J_a chi_a(s),     chi_a(s) = prod_{k in a} s_k = (-1)^popcount(a & i)

    J = -2^{-n} H E,    E = -H J,    H_{a,i} = (-1)^popcount(a & i),    H^2 = 2^n I

States follow the order of :mod:`ergodic_ppl.exact` (bit ``k`` of ``i`` is 0 <=> ``s_k = +1``);
bit ``k`` of a mask ``a`` is set <=> spin ``k`` is in the subset. ``H`` is applied by the fast
Walsh–Hadamard transform in ``O(n 2^n)`` float64 operations (n <= 24: 2^24 doubles = 128 MiB).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg

from ..checks import check_spin_model
from ..exact import MAX_EXACT_N
from ..spins import SpinModel

__all__ = [
    "MAX_WALSH_N",
    "fwht",
    "from_spin_model",
    "mask_of",
    "subset_of",
    "to_spin_model",
    "walsh_couplings",
    "walsh_energies",
]

MAX_WALSH_N = MAX_EXACT_N


def _n_of_table(values, name: str) -> tuple[np.ndarray, int]:
    """A float64 copy of a ``(2^n,)`` table and its ``n``, or a clear error."""
    arr = np.array(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2 or arr.size & (arr.size - 1):
        raise ValueError(
            f"`{name}` must be a 1-D table of 2^n values (one per state, in the order of "
            f"ep.exact.all_states(n)); got shape {np.shape(values)}."
        )
    n = arr.size.bit_length() - 1
    if n > MAX_WALSH_N:
        raise ValueError(
            f"`{name}` has 2^{n} entries; the Walsh transform is limited to n <= {MAX_WALSH_N}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"`{name}` has non-finite entries; every state needs a finite energy (give unseen "
            "states the gap energy, as ep.thermo.data_energies does)."
        )
    return arr, n


_BLOCK_BITS = 7  # bits handled by one dense 128 x 128 Hadamard product at each end


@functools.cache
def _hadamard(bits: int) -> np.ndarray:
    """Sylvester's ``H`` of size ``2^bits``: ``H[a, i] = (-1)^popcount(a & i)``."""
    return scipy.linalg.hadamard(1 << bits).astype(np.float64)


def _butterflies(x: np.ndarray, lo: int, hi: int) -> None:
    """In place, the passes over bits ``lo .. hi-1``: pairs ``(i, i + 2^k)`` with bit ``k`` of
    ``i`` clear become ``(a + b, a - b)``."""
    for k in range(lo, hi):
        v = x.reshape(-1, 2, 1 << k)
        a = v[:, 0, :].copy()
        v[:, 0, :] += v[:, 1, :]
        a -= v[:, 1, :]
        v[:, 1, :] = a


def fwht(values, *, name: str = "values") -> np.ndarray:
    """Walsh–Hadamard transform ``H x`` of a ``(2^n,)`` table (a new float64 array).

    ``(H x)_a = sum_i (-1)^popcount(a & i) x_i``: the lowest and highest 7 bits by one dense
    ``128 x 128`` Hadamard product each (BLAS), the bits between by butterfly passes; ``O(n
    2^n)`` either way, about 2-3 times faster than passes alone for n >= 16.

    >>> fwht([1.0, 0.0, 0.0, 0.0]).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    x, n = _n_of_table(values, name)
    if n < 2 * _BLOCK_BITS:
        _butterflies(x, 0, n)
        return x
    lo = hi = _BLOCK_BITS
    x = (x.reshape(-1, 1 << lo) @ _hadamard(lo)).reshape(-1)
    _butterflies(x, lo, n - hi)
    return (_hadamard(hi) @ x.reshape(1 << hi, -1)).reshape(-1)


def walsh_couplings(energies) -> np.ndarray:
    """All ``2^n`` couplings ``J = -2^{-n} H E`` of an energy table (docs/THEORY.md A.2).

    ``energies``: a ``(2^n,)`` table in the order of ``ep.exact.all_states`` or an
    :class:`~ergodic_ppl.thermo.EnergyTable`. ``J[a]`` couples the spins of mask ``a``
    (``J[0] = -mean(E)`` is the constant shift).

    >>> walsh_couplings(np.arange(8.0)).tolist()
    [-3.5, 0.5, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0]
    """
    table = getattr(energies, "energies", energies)
    x = fwht(table, name="energies")
    x *= -1.0 / x.size
    x += 0.0  # no negative zeros
    return x


def walsh_energies(couplings) -> np.ndarray:
    """The energy table ``E = -H J`` of ``2^n`` Walsh couplings (inverse of
    :func:`walsh_couplings`).

    >>> walsh_energies([-3.5, 0.5, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0]).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    """
    x = fwht(couplings, name="couplings")
    x *= -1.0
    x += 0.0
    return x


def subset_of(mask: int) -> tuple[int, ...]:
    """Spins of a mask, ``subset_of(0b101) == (0, 2)``."""
    return tuple(k for k in range(int(mask).bit_length()) if (int(mask) >> k) & 1)


def mask_of(subset) -> int:
    """Mask of a subset of spins, ``mask_of((0, 2)) == 5``."""
    return sum(1 << int(k) for k in set(subset))


def to_spin_model(couplings, *, tol: float = 0.0) -> SpinModel:
    """The :class:`~ergodic_ppl.SpinModel` of ``2^n`` Walsh couplings (``J[0]``, a constant,
    is dropped; couplings with ``|J_a| <= tol`` are left out).

    >>> to_spin_model(walsh_couplings(np.arange(8.0))).walsh_couplings()
    {(0,): 0.5, (1,): 1.0, (2,): 2.0}
    """
    J, n = _n_of_table(couplings, "couplings")
    tol = float(tol)
    if not tol >= 0:
        raise ValueError(f"`tol` must be >= 0; got {tol}.")
    masks = np.flatnonzero(np.abs(J) > tol)
    masks = masks[masks != 0]
    terms = {subset_of(a): float(J[a]) for a in masks.tolist()}
    if not terms:
        return SpinModel(n=n)
    return SpinModel.from_walsh(n, terms)


def from_spin_model(model: SpinModel) -> np.ndarray:
    """The ``(2^n,)`` Walsh couplings of a model (``J[0] = 0``), from
    :meth:`SpinModel.walsh_couplings` (n <= 24)."""
    check_spin_model(model)
    if model.n > MAX_WALSH_N:
        raise ValueError(f"A full Walsh table has 2^n entries; n={model.n} exceeds {MAX_WALSH_N}.")
    J = np.zeros(1 << model.n)
    for subset, w in model.walsh_couplings().items():
        J[mask_of(subset)] += w
    return J
