"""The one home of version-specific ArviZ API: ArviZ 0.2x and ArviZ 1.x behind one set of calls.

Two generations of ArviZ are live (docs/DESIGN.md, "Dependencies"):

* **0.2x** (Python 3.10-3.11 and later): ``az.InferenceData``, ``az.from_dict(posterior=...)``,
  ``idata.add_groups``, ``az.plot_rank`` returning matplotlib Axes;
* **1.x** (Python >= 3.12; the ``arviz`` meta-package of arviz-base, arviz-stats and
  arviz-plots): ``xarray.DataTree`` in the role of ``InferenceData``,
  ``az.from_dict({"posterior": ...})``, ``az.ess(method="tail")`` requiring ``prob``,
  ``az.plot_rank`` returning a ``PlotCollection``, and ``idata.nc`` written by xarray through
  ``h5netcdf`` (declared in pyproject for Python >= 3.12).

Every other module of the package calls the functions here and never branches on the ArviZ
version itself.  The branch is taken on the *installed* ArviZ (``ARVIZ_1``), not on the Python
version, so an ArviZ 0.2x on Python 3.12 works too.  ArviZ is imported on first use (it is slow
to import and most of the package never needs it).

The returned container is what the installed ArviZ's users expect: an ``InferenceData`` under
0.2x, a ``DataTree`` under 1.x.  :func:`is_idata` accepts either, on either generation.
"""

from __future__ import annotations

import functools
from importlib.metadata import version

import numpy as np

__all__ = [
    "ARVIZ_1",
    "ARVIZ_VERSION",
    "TAIL_PROB",
    "add_variable",
    "ess",
    "from_dict",
    "from_netcdf",
    "from_numpyro",
    "get_group",
    "group_names",
    "is_idata",
    "mcse",
    "plot_rank",
    "plot_trace",
    "rhat",
    "summary",
    "to_netcdf",
    "with_group",
]

ARVIZ_VERSION = version("arviz")
ARVIZ_1 = int(ARVIZ_VERSION.split(".")[0]) >= 1
# The tail ESS is the smaller of the ESS of the 5 % and 95 % quantile indicators (Vehtari et
# al. 2021, eq. 19): ArviZ 0.2x's default, which ArviZ 1.x asks for explicitly.
TAIL_PROB = (0.05, 0.95)


@functools.cache
def _az():
    import warnings

    with warnings.catch_warnings():  # 0.2x announces the 1.x refactor on import
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


# --- statistics on plain (chains, draws) arrays ------------------------------------------------


def rhat(x) -> float:
    """Rank-normalised split R-hat (Vehtari et al. 2021) of ``x`` ``(chains, draws)``."""
    return float(_az().rhat(np.asarray(x), method="rank"))


def ess(x, method: str = "bulk") -> float:
    """Effective sample size of ``x`` ``(chains, draws)``: ``method`` "bulk", "tail" or "mean"."""
    kwargs = {"prob": TAIL_PROB} if method == "tail" else {}
    return float(_az().ess(np.asarray(x), method=method, **kwargs))


def mcse(x, method: str = "mean", prob: float | None = None) -> float:
    """Monte Carlo standard error of an estimate from ``x`` ``(chains, draws)``: of the mean
    (``method="mean"``: ``sd / sqrt(ESS_mean)``) or of the ``prob`` quantile
    (``method="quantile"``: the half-width of the ESS-based interval of the quantile, mapped
    through the draws; Vehtari et al. 2021).  Both generations take the same
    keywords on arrays (0.2x ``az.mcse``, 1.x ``arviz_stats.mcse``): no branch needed."""
    kwargs = {"prob": prob} if prob is not None else {}
    return float(_az().mcse(np.asarray(x), method=method, **kwargs))


# --- the container: InferenceData (0.2x) or DataTree (1.x) -------------------------------------


def is_idata(obj) -> bool:
    """Whether ``obj`` is an ArviZ 0.2x ``InferenceData`` or an ``xarray.DataTree`` (ArviZ 1.x)."""
    if _is_tree(obj):
        return True
    return not ARVIZ_1 and isinstance(obj, _az().InferenceData)


def group_names(idata) -> tuple[str, ...]:
    """The names of ``idata``'s groups ("posterior", "sample_stats", ...), without "/"."""
    if _is_tree(idata):
        return tuple(idata.children)
    return tuple(idata.groups())


def get_group(idata, name: str):
    """Group ``name`` of ``idata`` as an ``xarray.Dataset``, or ``None`` when it has none."""
    if name not in group_names(idata):
        return None
    if _is_tree(idata):
        return idata[name].to_dataset()
    return getattr(idata, name)


def from_dict(**groups):
    """An ArviZ container from ``{group: {variable: array (chains, draws, ...)}}`` keywords,
    e.g. ``from_dict(posterior={"s": spins}, sample_stats={"energy": energy})``."""
    groups = {k: v for k, v in groups.items() if v is not None}
    if ARVIZ_1:
        return _az().from_dict(groups)
    return _az().from_dict(**groups)


def from_numpyro(mcmc):
    """``az.from_numpyro(mcmc)``: posterior and sample_stats of a ``numpyro.infer.MCMC``."""
    return _az().from_numpyro(mcmc)


def add_variable(idata, group: str, name: str, values, dims) -> None:
    """Set variable ``name`` (``values`` over ``dims``) in ``idata``'s ``group`` in place,
    creating the group when it is missing."""
    import xarray as xr

    array = xr.DataArray(np.asarray(values), dims=tuple(dims))
    if group in group_names(idata):
        if _is_tree(idata):
            idata[group][name] = array
        else:
            getattr(idata, group)[name] = array
        return
    dataset = xr.Dataset({name: array})
    if _is_tree(idata):
        idata[group] = xr.DataTree(dataset)
    else:
        idata.add_groups({group: dataset})


def with_group(idata, group: str, dataset):
    """A copy of ``idata`` with ``dataset`` (an ``xarray.Dataset``) as group ``group``."""
    import xarray as xr

    out = idata.copy()
    if _is_tree(out):
        out[group] = xr.DataTree(dataset)
    else:
        out.add_groups({group: dataset})
    return out


def to_netcdf(idata, path) -> None:
    """Write ``idata`` (every group) to the netCDF-4 file ``path``."""
    idata.to_netcdf(str(path))


def from_netcdf(path):
    """Read an ArviZ container written by :func:`to_netcdf` (either generation's file)."""
    return _az().from_netcdf(str(path))


def summary(idata, var_names=None):
    """``az.summary``: a DataFrame with mean, sd, interval, ``ess_bulk``, ``ess_tail``, ``r_hat``."""
    return _az().summary(idata, var_names=var_names)


# --- plots -------------------------------------------------------------------------------------


def plot_rank(idata, var_names, **kwargs) -> np.ndarray:
    """ArviZ rank plots of ``var_names``: bars of each chain's ranks (0.2x) or their ECDF
    difference (1.x).  Returns the matplotlib Axes as an object array, one per variable."""
    return _axes(_az().plot_rank(idata, var_names=list(var_names), **kwargs))


def plot_trace(idata, var_names, **kwargs) -> np.ndarray:
    """ArviZ trace plots of ``var_names``; returns the matplotlib Axes as an object array."""
    return _axes(_az().plot_trace(idata, var_names=list(var_names), **kwargs))


def _axes(result) -> np.ndarray:
    """Axes of a 0.2x plot (an Axes or array of them) or of a 1.x ``PlotCollection``."""
    viz = getattr(result, "viz", None)
    if viz is None:
        return np.atleast_1d(np.asarray(result, dtype=object))
    plots = viz["plot"].to_dataset()
    axes = [ax for var in plots.data_vars.values() for ax in np.ravel(var.values)]
    return np.asarray(list(dict.fromkeys(axes)), dtype=object)


def _is_tree(idata) -> bool:
    import xarray as xr

    return isinstance(idata, getattr(xr, "DataTree", ()))
