"""The public API against its glossary and its one-home rules (docs/DESIGN.md, "Names").

In the style of BlackJAX's ``test_api_protocols.py``: walk every public callable of the package
(everything in a public module's ``__all__``, and the public methods of public classes) and
check its parameter names against the glossary, and check that each shared concept has one
home (one constant, one function) that every other place reads.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import ergodic_ppl as ep
from ergodic_ppl import basins, exact

PACKAGE = Path(ep.__file__).parent


def _public_modules():
    names = ["ergodic_ppl"]
    for info in pkgutil.walk_packages(ep.__path__, "ergodic_ppl."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return [importlib.import_module(name) for name in names]


def _public_callables():
    """``{qualified name: callable}`` of every public function, class and public method."""
    found = {}
    for module in _public_modules():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not callable(obj):
                continue
            found[f"{module.__name__}.{name}"] = obj
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    value = (
                        value.__func__ if isinstance(value, classmethod | staticmethod) else value
                    )
                    if inspect.isfunction(value):
                        found[f"{module.__name__}.{name}.{attr}"] = value
    return found


def _parameters():
    """``[(qualified name, parameter)]`` over every public signature."""
    out = []
    for qualname, obj in _public_callables().items():
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        out += [(qualname, p) for p in sig.parameters.values()]
    return out


def _sources():
    return {p: p.read_text() for p in PACKAGE.rglob("*.py")}


# --------------------------------------------------------------------------- one home
def test_every_overlap_threshold_defaults_to_the_one_constant():
    """Basins are grouped at one overlap threshold, ``basins.OVERLAP_THRESHOLD``: every public
    function with an ``overlap_threshold`` default uses it (a literal 0.6 in nine signatures
    before)."""
    seen = [
        (name, p.default)
        for name, p in _parameters()
        if p.name == "overlap_threshold" and p.default is not inspect.Parameter.empty
    ]
    assert len(seen) >= 5, seen
    wrong = [(name, d) for name, d in seen if d is not None and d != basins.OVERLAP_THRESHOLD]
    assert not wrong, wrong
    literal = [
        str(path.relative_to(PACKAGE))
        for path, text in _sources().items()
        if re.search(r"overlap_threshold(: float)? ?= ?0\.\d", text)
        or re.search(r"^\w*OVERLAP_THRESHOLD = ", text, re.M)
        and path.name != "landscape.py"
    ]
    assert not literal, literal


def test_one_enumeration_limit():
    """ "Exact for n <= 20, else estimate" reads one value, ``ep.exact.ENUMERATION_LIMIT``: no
    module defines its own limit (``MAX_TABLE_N``, ``MAX_LANDSCAPE_N``, ... before)."""
    assert exact.ENUMERATION_LIMIT == 20
    own = [
        f"{path.relative_to(PACKAGE)}: {m.group(0).strip()}"
        for path, text in _sources().items()
        for m in re.finditer(r"^\s*\w*(_N|LIMIT)\w* = 20$|limit\w* = 20$", text, re.M)
        if path.name != "exact.py"
    ]
    assert not own, own


def test_minima_are_grouped_by_one_rule():
    """Sampled landscapes, comparisons, training monitors and basin mixtures group quenched
    minima with ``basins.group_minima``; only it calls ``cluster_minima`` (three copies of
    "unique, order by energy, cluster" before)."""
    callers = sorted(
        str(path.relative_to(PACKAGE))
        for path, text in _sources().items()
        if re.search(r"(?<!def )\bcluster_minima\(", text)
    )
    assert callers == ["basins/landscape.py"], callers


@pytest.mark.parametrize(
    "fn",
    [basins.sampled_landscape, ep.compare, ep.learning.monitor.monitor_chains],
    ids=lambda f: f.__name__,
)
def test_overlap_threshold_parameter_documented_default(fn):
    assert inspect.signature(fn).parameters["overlap_threshold"].default == basins.OVERLAP_THRESHOLD


# --------------------------------------------------------------------------- the glossary
#: NumPyro fixes ``Distribution.sample(key, sample_shape)``; scikit-learn fixes the ``n_*``
#: names of an estimator (``n_components``, ``n_samples``); the model's size is ``n`` spins,
#: ``n_visible`` + ``n_hidden`` (the physicist's N); ``arviz_compat`` mirrors ArviZ's own
#: function names (``ess``, ``mcse``).
NUMPYRO_SAMPLE = (
    "BoltzmannSpins.sample",
    "BasinMixtureSpins.sample",
    "PseudoLikelihoodSpins.sample",
)
SKLEARN_COUNTS = {"n_components", "n_samples", "n_visible", "n_hidden"}
MIRRORS_ARVIZ = "ergodic_ppl.arviz_compat."

FORBIDDEN = {
    "key": "rng_key",
    "n_basins": "num_basins",
    "ess": "ess_bulk",
    "magnetisation": "magnetization",
    "magnetisations": "magnetizations",
}


def _forbidden(name: str) -> str | None:
    if name in FORBIDDEN:
        return FORBIDDEN[name]
    if name.endswith(("_se", "_mcse")) or name == "mcse":
        return name.rsplit("_", 1)[0] + "_stderr" if "_" in name else "stderr"
    if "colour" in name:
        return name.replace("colour", "color")
    if "magnetisation" in name:
        return name.replace("magnetisation", "magnetization")
    if name.startswith("n_") and name not in SKLEARN_COUNTS:
        return "num_" + name[2:]
    return None


def test_public_parameters_follow_the_glossary():
    """Every public parameter name (including NamedTuple/dataclass result fields, which are
    constructor parameters) is the glossary's one name for its concept."""
    bad = sorted(
        f"{name}({p.name}) -> {_forbidden(p.name)}"
        for name, p in _parameters()
        if _forbidden(p.name) and not name.endswith(NUMPYRO_SAMPLE)
    )
    assert not bad, "\n".join(bad)


def test_public_names_follow_the_glossary():
    """Public functions, classes and methods are spelt as the glossary says."""
    bad = sorted(
        f"{name} -> {_forbidden(name.rsplit('.', 1)[-1])}"
        for name in _public_callables()
        if _forbidden(name.rsplit(".", 1)[-1])
        and name.rsplit(".", 1)[-1] not in SKLEARN_COUNTS
        and not name.startswith(MIRRORS_ARVIZ)
    )
    assert not bad, "\n".join(bad)


def test_result_attributes_follow_the_glossary():
    """Properties of the public result types (e.g. ``ErgodicityReport.num_basins``)."""
    bad = []
    for name, obj in _public_callables().items():
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if isinstance(value, property) and _forbidden(attr) and attr not in SKLEARN_COUNTS:
                bad.append(f"{name}.{attr} -> {_forbidden(attr)}")
    assert not bad, "\n".join(sorted(bad))


def test_result_keys_follow_the_glossary():
    """Table columns and JSON keys written by the package (string literals such as
    ``"free_energy_stderr"``) use ``_stderr``, never ``_se`` or ``mcse`` (``"probability_se"``
    and ``"free_energy_se"`` in the comparison tables before)."""
    bad = [
        f"{path.relative_to(PACKAGE)}: {m.group(0)}"
        for path, text in _sources().items()
        for m in re.finditer(r"[\"'][a-z_]*(_se|_mcse|mcse)(_\{?[a-z]*\}?)?[\"']", text)
        if path.name != "arviz_compat.py"
    ]
    assert not bad, bad
