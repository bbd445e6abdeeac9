"""Readable column headers with units, and what an infinite or missing cell means, for every
table of the reports (HTML and text); the ``summary.json`` keys stay the snake_case names.

Energies and free energies are in the model's energy units, the units of ``1/beta`` (``k_B T``
at ``beta = 1``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..diagnostics.observables import CHAIN_VISIT_MIN

__all__ = ["COLUMNS", "Column", "cell_text", "column", "footnotes", "text_table"]

UNITS = "units of 1/β"


class Column(NamedTuple):
    """A table column: ``label`` (HTML header), ``short`` (text header) and what a cell that is
    infinite (``inf``) or missing / NaN (``none``) means in it."""

    label: str
    short: str
    inf: str = "infinite"
    none: str = "not available"


_VISIT = f"≥ {CHAIN_VISIT_MIN * 100:g} % of their draws"
_NO_P = "no draw of the run landed in this basin (p_a = 0)"
COLUMNS = {
    # basin table
    "basin": Column("Basin a", "basin"),
    "energy": Column("Energy E_a of the minimum", "E_a"),
    "probability": Column("Share of draws p_a (chains)", "p_a chains"),
    "free_energy": Column(f"Free energy F_a, absolute (chains; {UNITS})", "F_a chains"),
    "relative_free_energy": Column(
        f"Free energy F_a − F (chains; {UNITS})", "F_a-F chains", inf=_NO_P
    ),
    "free_energy_stderr": Column(
        "± 1 s.e. (chains)", "± chains", none="not estimable from these chains"
    ),
    "barrier": Column(
        "Barrier min_b (saddle_ab − E_a)",
        "barrier",
        inf="no chain was seen to leave this basin: no observed saddle (not a proof of an "
        "infinite barrier)",
    ),
    "chains": Column(f"Chains visiting ({_VISIT})", "chains"),
    "mirror_basin": Column(
        "Mirror basin (minimum −s_a)",
        "mirror",
        none="the mirror image −s_a of this basin's minimum is not among the basins found",
    ),
    "mirror_reached": Column("Mirror reached by a draw", "mirror seen"),
    "tempered_probability": Column("Share p_a (tempering)", "p_a PT"),
    "tempered_relative_free_energy": Column(
        f"Free energy F_a − F (tempering; {UNITS})", "F_a-F PT", inf=_NO_P
    ),
    "tempered_relative_free_energy_stderr": Column("± 1 s.e. (tempering)", "± PT", inf=_NO_P),
    "tempered_free_energy": Column(
        f"Absolute F_a = −(log Z + log p_a)/β (tempering; {UNITS})", "F_a abs PT", inf=_NO_P
    ),
    "tempered_free_energy_stderr": Column(
        "± 1 s.e. of absolute F_a, with log Z's (tempering)", "± abs PT", inf=_NO_P
    ),
    # connections
    "basins": Column("Basins a – b", "basins"),
    "saddle": Column("Saddle energy (highest draw on the lowest observed path)", "saddle"),
    "barrier_deep": Column("Barrier from the deeper basin", "barrier deep"),
    "transitions": Column("Observed transitions (both ways)", "transitions"),
    "rate": Column("Transitions per draw", "rate"),
    # R-hat table
    "observable": Column("Observable", "observable"),
    "rhat": Column(
        "R-hat (rank-normalised split)",
        "R-hat",
        inf="every chain constant, at different values: maximal disagreement",
        none="the observable is constant over all draws: uninformative",
    ),
    "nested_rhat": Column("Nested R-hat", "nested R-hat", none="constant: uninformative"),
    "ess_bulk": Column("ESS bulk", "ESS bulk", none="undefined for a constant observable"),
    "ess_tail": Column("ESS tail", "ESS tail", none="undefined for a constant observable"),
    "note": Column("Note", "note"),
    # occupancy
    "chain": Column("Chain", "chain"),
    "other": Column("No basin (other)", "other"),
    # mixture
    "component": Column("Component a", "component"),
    "weight": Column("Weight w_a", "weight"),
    "size": Column("Training rows", "rows"),
    "log_z": Column("log Z_a", "log Z_a"),
    "log_z_stderr": Column("± 1 s.e. of log Z_a", "± log Z_a"),
    "log_z_bracket": Column("log Z_a bracket (reverse, forward AIS)", "log Z_a bracket"),
    # held-out log-likelihood (nats per row)
    "model": Column("Model", "model"),
    "held_out": Column("Held-out log-likelihood (nats/row)", "held-out"),
    "held_out_log_z_err": Column("± 1 s.e. (log Z)", "± log Z", none="not estimated"),
    "held_out_rows_err": Column("± 1 s.e. (held-out rows)", "± rows", none="one held-out row"),
    "held_out_bracket": Column(
        "Bracket: log Z by reverse AIS, by forward AIS",
        "bracket",
        none="log Z exact or unbracketed",
    ),
    "train": Column("Train log-likelihood (nats/row)", "train"),
    # the mixture's choice of size
    "n_components": Column("Components asked", "asked"),
    "num_components": Column("Components found", "found"),
    "valid_log_likelihood": Column("Validation log-likelihood (nats/row)", "validation"),
    "valid_bracket": Column("Validation bracket (reverse, forward AIS)", "bracket"),
    "valid_stderr": Column("± 1 s.e.", "±"),
    # key / value tables
    "quantity": Column("Quantity", "quantity"),
    "value": Column("Value", "value"),
}


def column(name: str) -> Column:
    """The :class:`Column` of ``name`` (basin ``k`` and pattern-overlap columns included)."""
    if name in COLUMNS:
        return COLUMNS[name]
    if name.startswith("overlap_pattern"):
        mu = name.removeprefix("overlap_pattern")
        return Column(f"Overlap q with pattern {mu}", f"q pattern{mu}")
    if name.startswith("basin") and name[5:].isdigit():
        return Column(f"Basin {name[5:]}", name)
    return Column(name.replace("_", " "), name)


def _kind(v) -> str | None:
    """``"inf"`` / ``"none"`` for a non-finite or missing cell, else None."""
    if v is None:
        return "none"
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return "none"
        if math.isinf(v):
            return "inf"
    return None


def cell_text(v, digits: int = 4) -> str:
    """A cell as text: ``∞`` / ``−∞`` for infinities, ``—`` for missing or NaN, numbers to
    ``digits`` significant figures, lists joined by commas (an empty list: ``none``)."""
    kind = _kind(v)
    if kind == "none":
        return "—"
    if kind == "inf":
        return "∞" if v > 0 else "−∞"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return f"{float(v):.{digits}g}"
    if isinstance(v, list | tuple | np.ndarray):
        items = [cell_text(x, digits) for x in v]
        return ", ".join(items) if items else "none"
    return str(v)


def footnotes(rows: list[dict], columns: list[str], labels: dict | None = None) -> list[str]:
    """One sentence per column holding an infinite or missing cell: what it means there
    (``labels``: headers that differ from :data:`COLUMNS` in this table)."""
    notes = []
    for c in columns:
        kinds = {_kind(r.get(c)) for r in rows if c in r} - {None}
        spec = column(c)
        label = (labels or {}).get(c, spec.label)
        if "inf" in kinds:
            notes.append(f"∞ in “{label}”: {spec.inf}.")
        if "none" in kinds:
            notes.append(f"— in “{label}”: {spec.none}.")
    return notes


def text_table(rows: list[dict], columns: list[str], digits: int = 4) -> str:
    """A fixed-width text table (short headers) with its footnotes below."""
    head = [column(c).short for c in columns]
    body = [[cell_text(r.get(c), digits) if c in r else "" for c in columns] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)) for line in body]
    lines += [f"  {n}" for n in footnotes(rows, columns)]
    return "\n".join(lines)
