"""Free energies with error bars: exact, thermodynamic integration, AIS, BAR/stepping stone,
MBAR over a tempering ladder, per-basin free energies and profiles along an order parameter.

- pure functions of arrays: :mod:`.estimators` (``LogZEstimate``, AIS weights, profiles),
  :mod:`.integration` (TI), :mod:`.reweighting` (MBAR, BAR, stepping stone);
- :mod:`.drivers` - the sampling that feeds them, :func:`estimate_log_z`,
  :func:`log_z_from_ladder` (log Z from a tempering run down to beta = 0) and
  :func:`log_z_bracket` (forward AIS below, reverse AIS from given states above, BAR);
- :mod:`.rbm` - the RBM's visible-marginal AIS from base-rate fields (Salakhutdinov & Murray
  2008) and its bracket with the reverse run from held-out data (:func:`rbm_log_z_bracket`);
- :mod:`.basins` - the basin vocabulary: occupancy, probability and free energies of basins
  from basin labels (:func:`basin_free_energies`).
"""

from .basins import BasinFreeEnergies, basin_free_energies
from .drivers import (
    ais_log_weights,
    estimate_log_z,
    log_z_bracket,
    log_z_from_ladder,
    reverse_ais_log_weights,
)
from .estimators import (
    MIN_AIS_ESS_FRACTION,
    MIN_OVERLAP,
    LogZBracket,
    LogZEstimate,
    ais_from_log_weights,
    bar_from_log_weights,
    free_energy_profile,
)
from .integration import thermodynamic_integration
from .rbm import base_rate_fields, rbm_ais_log_weights, rbm_log_z_bracket, rbm_schedule
from .reweighting import (
    MBARResult,
    bar,
    mbar,
    mbar_from_ladder,
    profile_from_ladder,
    stepping_stone,
)

__all__ = [
    "BasinFreeEnergies",
    "LogZBracket",
    "LogZEstimate",
    "MBARResult",
    "MIN_AIS_ESS_FRACTION",
    "MIN_OVERLAP",
    "ais_from_log_weights",
    "ais_log_weights",
    "bar",
    "bar_from_log_weights",
    "base_rate_fields",
    "basin_free_energies",
    "estimate_log_z",
    "free_energy_profile",
    "log_z_bracket",
    "log_z_from_ladder",
    "mbar",
    "mbar_from_ladder",
    "profile_from_ladder",
    "rbm_ais_log_weights",
    "rbm_log_z_bracket",
    "rbm_schedule",
    "reverse_ais_log_weights",
    "stepping_stone",
    "thermodynamic_integration",
]
