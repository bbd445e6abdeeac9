"""The docstring examples (``>>>``) of every ``ergodic_ppl`` module run and print what they show.

Modules are discovered with ``pkgutil.walk_packages``, so a module added or removed needs no edit
here; one test per module that has examples.  Each docstring runs in its own copy of its module's
namespace plus the names the examples assume (``jax``, ``jnp``, ``np``, ``numpyro``, ``ep``),
with ``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``; ``# doctest: +SKIP`` is honoured.
"""

import doctest
import importlib
import importlib.util
import pkgutil
import types

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import numpyro
import pytest

import ergodic_ppl as ep

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
EXTRA_GLOBS = {"jax": jax, "jnp": jnp, "np": np, "numpyro": numpyro, "ep": ep}


def _module_names() -> list[str]:
    names = ["ergodic_ppl"]
    for info in pkgutil.walk_packages(ep.__path__, "ergodic_ppl.", onerror=lambda name: None):
        names.append(info.name)
    return sorted(names)


def _has_examples(name: str) -> bool:
    """Whether the module's source holds a ``>>>`` line (read without importing it)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return False
    with open(spec.origin, encoding="utf-8") as f:
        return any(line.lstrip().startswith(">>>") for line in f)


MODULES = _module_names()
WITH_EXAMPLES = [name for name in MODULES if _has_examples(name)]


def test_discovery_finds_the_package():
    """Discovery walks subpackages too, and some module has examples."""
    assert {"ergodic_ppl", "ergodic_ppl.spins", "ergodic_ppl.cli"} <= set(MODULES)
    assert any(name.startswith("ergodic_ppl.kernels.") for name in MODULES)
    assert WITH_EXAMPLES


def run_examples(module) -> tuple[int, int, int, str]:
    """Run the docstring examples of ``module``: ``(docstrings, failed, attempted, report)``."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    globs = {**vars(module), **EXTRA_GLOBS}
    tests = finder.find(module, module.__name__, module=module, globs=globs)
    report = []
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    for test in tests:
        runner.run(test, out=report.append)
    failed, attempted = runner.summarize(verbose=False)
    return len(tests), failed, attempted, "".join(report)


def test_runner_reports_a_wrong_example():
    """The runner sees a failing example (and the assumed names are available)."""
    module = types.ModuleType("fake_module")
    exec(  # noqa: S102 - a module with one right and one wrong example
        'def f():\n    """\n    >>> int(jnp.asarray(np.int8(2)) + 1)\n    3\n'
        '    >>> 1 + 1\n    3\n    """\n',
        vars(module),
    )
    module.f.__module__ = "fake_module"
    docstrings, failed, attempted, report = run_examples(module)
    assert (docstrings, failed, attempted) == (1, 1, 2)
    assert "Expected:\n    3\nGot:\n    2" in report


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    matplotlib.use("Agg")
    docstrings, failed, attempted, report = run_examples(importlib.import_module(name))
    assert docstrings, f"{name} has '>>>' lines but no docstring examples were found"
    if failed:
        pytest.fail(f"{failed} of {attempted} examples failed in {name}:\n{report}")
