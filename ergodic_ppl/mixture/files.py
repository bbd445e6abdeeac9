"""``BasinMixture.save`` / ``BasinMixture.load``: one ``.npz`` with documented keys.

Scalars and per-component arrays (``K`` components, ``n`` visible spins):

- ``format`` (:data:`FORMAT`), ``beta``, ``kind`` (``"rbm"`` or ``"visible"``);
- ``weights``, ``weight_stderr``, ``sizes``, ``log_z``, ``log_z_stderr``, ``log_z_forward``,
  ``log_z_reverse`` (``(K,)``: the bracket's ends, both ``log_z`` without one), ``centres``
  ``(K, n)``;
- ``labels`` (the training rows' clusters) and ``selection`` (JSON: the validation curve);
- per component ``k``: an RBM's ``W_k`` ``(n, H)``, ``b_k``, ``c_k`` in 0/1 units
  (:meth:`SpinModel.to_bernoulli_rbm`, float64), or a fully visible model's ``fields_k``,
  ``edges_k`` (its pairs), ``dense_k`` and ``couplings_k`` (±1 units: the dense symmetric
  matrix when ``dense_k``, else one weight per edge).

Loading rebuilds every component, so a loaded mixture scores and samples as the saved one.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..spins import SpinModel
from .components import MixtureComponent

FORMAT = "ergodic_ppl.BasinMixture/1"


def save_mixture(mixture, path) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"`path` must end in .npz (numpy.savez adds it); got {str(path)!r}.")
    comps = mixture.components_
    rbm = comps[0].model.n != mixture.n_features_in_
    arrays = {
        "format": np.array(FORMAT), "beta": np.float64(mixture._beta),
        "kind": np.array("rbm" if rbm else "visible"),
        "weights": mixture.weights_, "weight_stderr": _col(comps, "weight_stderr"),
        "sizes": np.array([c.size for c in comps], np.int64),
        "log_z": _col(comps, "log_z"), "log_z_stderr": _col(comps, "log_z_stderr"),
        "log_z_forward": np.array([c.log_z_range[0] for c in comps]),
        "log_z_reverse": np.array([c.log_z_range[1] for c in comps]),
        "centres": np.stack([c.centre for c in comps]).astype(np.int8),
        "labels": np.asarray(mixture.labels_, np.int64),
        "selection": np.array(json.dumps(mixture.selection_)),
    }  # fmt: skip
    for k, c in enumerate(comps):
        if rbm:
            W, b, c_ = c.model.to_bernoulli_rbm()
            arrays.update({f"W_{k}": W, f"b_{k}": b, f"c_{k}": c_})
        elif c.model.max_order > 2:
            raise ValueError(
                "save writes fields and couplings (or RBMs); component "
                f"{k} has terms of order {c.model.max_order}: fit with orders=(1, 2)."
            )
        else:  # the model's own storage, so a loaded one computes bit for bit the same
            arrays.update({f"fields_{k}": np.asarray(c.model.fields),
                           f"edges_{k}": np.asarray(c.model.edges, np.int64),
                           f"dense_{k}": np.bool_(c.model.is_dense),
                           f"couplings_{k}": np.asarray(c.model.pair_weights)})  # fmt: skip
    np.savez(path, **arrays)
    return path


def _col(comps, name) -> np.ndarray:
    return np.array([getattr(c, name) for c in comps], np.float64)


def _visible_model(fields, edges, couplings, dense: bool) -> SpinModel:
    """A fully visible model from its saved storage: dense couplings on ``edges``, or the
    weights of ``edges``."""
    n = len(fields)
    if dense:
        return SpinModel._dense_with_edges(n, edges, couplings, fields)
    return SpinModel.from_edges(n, edges, couplings, fields)


def load_mixture(cls, path):
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"`path` {str(path)!r} is not a saved BasinMixture (.npz): {err}") from err
    with f:
        if "format" not in f.files or str(f["format"]) != FORMAT:
            raise ValueError(
                f"`path` {str(path)!r} is not a saved BasinMixture: no `format` = {FORMAT!r} "
                "(write it with BasinMixture.save)."
            )
        d = {name: f[name] for name in f.files}
    rbm = str(d["kind"]) == "rbm"
    comps = []
    for k in range(len(d["weights"])):
        if rbm:
            model = SpinModel.from_bernoulli_rbm(d[f"W_{k}"], d[f"b_{k}"], d[f"c_{k}"])
        else:
            model = _visible_model(d[f"fields_{k}"], d[f"edges_{k}"], d[f"couplings_{k}"],
                                   bool(d[f"dense_{k}"]))  # fmt: skip
        bracket = (float(d["log_z_forward"][k]), float(d["log_z_reverse"][k])) if rbm else None
        comps.append(MixtureComponent(
            model, float(d["weights"][k]), float(d["log_z"][k]), int(d["sizes"][k]),
            d["centres"][k], float(d["log_z_stderr"][k]), float(d["weight_stderr"][k]), bracket,
        ))  # fmt: skip
    mixture = cls(beta=float(d["beta"]))
    mixture.base_, mixture.n_features_in_ = None, d["centres"].shape[1]
    mixture._beta = float(d["beta"])
    mixture.selection_ = json.loads(str(d["selection"]))
    mixture._set(comps, d["labels"], None)
    return mixture
