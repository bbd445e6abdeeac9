"""Other forms of a :class:`~ergodic_ppl.SpinModel`: Walsh couplings ``{subset: J_S}``
(docs/THEORY.md A.2) and the 0/1 units of an RBM (scikit-learn's ``BernoulliRBM``), both
ways.

:class:`_SpinConversions` is a base of :class:`~ergodic_ppl.SpinModel`, never used alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .storage import _finite
from .structure import _group_terms, _validate_index_array
from .values import as_count, as_index_array

if TYPE_CHECKING:
    from .model import SpinModel


class _SpinConversions:
    """Walsh couplings and 0/1 RBM units of :class:`~ergodic_ppl.SpinModel`."""

    def walsh_couplings(self) -> dict[tuple[int, ...], float]:
        """All non-zero couplings as ``{subset: J_S}`` (the Walsh form of docs/THEORY.md A.2)."""
        out: dict[tuple[int, ...], float] = {}
        for i, h in enumerate(np.asarray(self.fields).tolist()):
            if h != 0:
                out[(i,)] = h
        for (i, j), w in zip(
            self.edges.tolist(), np.asarray(self.edge_weights).tolist(), strict=True
        ):
            if w != 0:
                out[(i, j)] = w
        for idx, w in self.kbody_terms:
            for row, wv in zip(idx.tolist(), np.asarray(w).tolist(), strict=True):
                if wv != 0:
                    out[tuple(row)] = out.get(tuple(row), 0.0) + wv
        return out

    @classmethod
    def from_walsh(cls, n: int, couplings: Mapping[Sequence[int], float]) -> SpinModel:
        """Model from Walsh couplings ``{subset: J_S}``, ``E = -sum_S J_S chi_S``.

        The Walsh form of docs/THEORY.md A.2. Subsets of size 1 become fields, size 2 pairwise
        couplings, larger sizes k-body terms. The empty subset (a constant energy shift) is
        rejected.
        """
        n = as_count(n, "n")
        terms = {}
        for subset, w in couplings.items():
            key = tuple(as_index_array(subset, "couplings").reshape(-1).tolist())
            if len(key) == 0:
                raise ValueError("`couplings` has the empty subset (a constant); drop it.")
            _validate_index_array(np.array([key]), n, "couplings")
            if tuple(sorted(key)) in terms:
                raise ValueError(f"`couplings` lists subset {sorted(key)} twice.")
            terms[tuple(sorted(key))] = float(w)
        # group by order for construction (orders 1, 2 are folded in by __init__)
        return cls(n=n, terms=_group_terms(terms))

    @classmethod
    def from_bernoulli_rbm(cls, W, b, c) -> SpinModel:
        """The RBM of 0/1 units ``x`` (visible) and ``y`` (hidden) with energy
        ``E01(x, y) = -x^T W y - b.x - c.y`` (scikit-learn's ``BernoulliRBM``:
        ``W = components_.T``, ``b = intercept_visible_``, ``c = intercept_hidden_``; PyTorch
        RBM code uses the same form) as a ±1 :meth:`rbm`.

        Units map by the package's one bit convention (:func:`ergodic_ppl.bits_to_spins`, as
        :mod:`ergodic_ppl.datasets` reads data: an "on" pixel, bit 1, is spin -1),
        ``s = 1 - 2x``, ``t = 1 - 2y``, so ``E(1 - 2x, 1 - 2y) = E01(x, y) + const`` and both
        define one distribution: ``W_pm = W / 4``, ``a = -(b/2 + W 1 / 4)``,
        ``b_pm = -(c/2 + W^T 1 / 4)``.
        """
        W = np.asarray(W, np.float64)
        if W.ndim != 2:
            raise ValueError(f"`W` must have shape (n_visible, n_hidden); got {W.shape}.")
        nv, nh = W.shape
        b, c = np.asarray(b, np.float64), np.asarray(c, np.float64)
        if b.shape != (nv,):
            raise ValueError(f"`b` (visible biases) must have shape ({nv},); got {b.shape}.")
        if c.shape != (nh,):
            raise ValueError(f"`c` (hidden biases) must have shape ({nh},); got {c.shape}.")
        for value, name in ((W, "W"), (b, "b"), (c, "c")):
            _finite(value, name)
        fields = -np.concatenate([b / 2 + W.sum(1) / 4, c / 2 + W.sum(0) / 4])
        return cls._bipartite(nv, nh, W / 4, fields)

    def to_bernoulli_rbm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W, b, c)`` in 0/1 units (the inverse of :meth:`from_bernoulli_rbm`): ``W``
        ``(n_visible, n_hidden)``, visible biases ``b``, hidden biases ``c``; for scikit-learn
        set ``components_ = W.T``, ``intercept_visible_ = b``, ``intercept_hidden_ = c``."""
        if not self.is_bipartite:
            raise ValueError(
                f"to_bernoulli_rbm needs a bipartite model (SpinModel.rbm); this is {self!r}."
            )
        nv = self.n_visible
        w = np.asarray(self.pair_weights, np.float64)
        fields = np.asarray(self.fields, np.float64)
        W = 4 * w
        b = -2 * fields[:nv] - W.sum(1) / 2
        c = -2 * fields[nv:] - W.sum(0) / 2
        return W, b, c
