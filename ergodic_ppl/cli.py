"""The ``ergodic-ppl`` command.

``ergodic-ppl analyze [MODEL_FILE] [--out DIR]`` (the default command) samples a NumPyro spin
model with several ``SpinGibbs`` chains, diagnoses ergodicity (``ep.diagnose``), builds the basin
graph (``ep.basin_graph``) and writes a report folder: ``summary.json`` (verdict, R-hat/ESS per
observable, occupancy, basins and barriers), ``report.txt`` and ``report.html``, figures
(``traces.png``, ``ranks.png``, ``occupancy.png``, ``disconnectivity.png``,
``basin_graph.png``), ``basin_graph.json`` (networkx node-link data) and ``idata.nc`` (the
ArviZ ``InferenceData`` with each draw's basin in ``sample_stats``).  With no file it runs an
embedded default that breaks ergodicity: a Hopfield network of 64 spins storing 3 random
patterns, at beta = 2 (below its retrieval temperature), where chains from random starts stay
in different pattern basins.

``ergodic-ppl sample [MODEL_FILE]`` only samples: ``summary.json`` (energy and magnetisation
statistics, R-hat/ESS, throughput) and ``idata.nc``; its default is a 16x16 periodic Ising
ferromagnet at beta = 0.3 and 0.6.

``MODEL_FILE`` is a Python file defining a callable ``model`` (a NumPyro model whose latent
sites are binary) and optionally a dict ``model_kwargs`` and, for ``analyze``, an array
``patterns`` (P, n) of ±1 patterns whose overlaps are diagnosed.  Errors in the file exit with
status 2 and a message.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_BETAS = (0.3, 0.6)
HOPFIELD_N, HOPFIELD_PATTERNS, HOPFIELD_BETA = 64, 3, 2.0


class ModelFileError(Exception):
    """A model file that cannot be used; reported on stderr with exit status 2."""


def _default_hopfield():
    import numpyro

    from .distributions import BoltzmannSpins
    from .spins import SpinModel

    rng = np.random.default_rng(0)
    patterns = rng.choice(np.array([-1, 1], np.int8), size=(HOPFIELD_PATTERNS, HOPFIELD_N))
    network = SpinModel.hopfield(patterns)

    def hopfield(beta):
        numpyro.sample("s", BoltzmannSpins(network, beta=beta))

    name = f"hopfield{HOPFIELD_N}_p{HOPFIELD_PATTERNS}_beta{HOPFIELD_BETA}"
    return [(name, hopfield, {"beta": HOPFIELD_BETA}, patterns)]


def _default_models():
    import numpyro

    from .distributions import BoltzmannSpins
    from .spins import SpinModel

    lattice = SpinModel.ising_2d(16, 16, coupling=1.0)

    def ising(beta):
        numpyro.sample("s", BoltzmannSpins(lattice, beta=beta))

    return [(f"ising16x16_beta{beta}", ising, {"beta": beta}, None) for beta in DEFAULT_BETAS]


def _load_model_file(path: Path):
    """``[(name, model, model_kwargs, patterns or None)]`` from a user's model file."""
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist.")
    try:
        namespace = runpy.run_path(str(path))
    except Exception as exc:  # noqa: BLE001 - report any failure of the user's file
        raise ModelFileError(f"running {str(path)!r} failed: {type(exc).__name__}: {exc}") from exc
    model = namespace.get("model")
    if not callable(model):
        raise ModelFileError(
            f"{str(path)!r} must define a callable `model` "
            "(a NumPyro model with binary latent sites)."
        )
    kwargs = namespace.get("model_kwargs", {})
    if not isinstance(kwargs, dict):
        raise ModelFileError(f"`model_kwargs` in {str(path)!r} must be a dict.")
    return [(path.stem, model, kwargs, namespace.get("patterns"))]


def _run_mcmc(model, kwargs, args):
    """Sample ``model(**kwargs)`` with ``SpinGibbs`` chains as the options say; (mcmc, seconds)."""
    import jax
    from numpyro.infer import MCMC

    from .kernels import SpinGibbs

    mcmc = MCMC(
        SpinGibbs(model, scan=args.scan),
        num_warmup=args.warmup,
        num_samples=args.draws,
        num_chains=args.chains,
        chain_method="vectorized",
        progress_bar=args.progress,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.key(args.seed), **kwargs)
    jax.block_until_ready(mcmc.get_samples())
    return mcmc, time.perf_counter() - start


def _kwargs_summary(kwargs) -> dict:
    return {k: (float(v) if np.ndim(v) == 0 else "array") for k, v in kwargs.items()}


def _sample_one(name, model, kwargs, args, out: Path) -> dict:
    import arviz as az

    mcmc, seconds = _run_mcmc(model, kwargs, args)
    idata = az.from_numpyro(mcmc)
    energy = idata.sample_stats["energy"].values
    mag = idata.sample_stats["magnetization"].values
    n_spins = sum(int(np.prod(v.shape[2:])) for v in idata.posterior.data_vars.values())
    summary = {
        "model": name,
        "kwargs": _kwargs_summary(kwargs),
        "chains": args.chains,
        "draws": args.draws,
        "warmup": args.warmup,
        "n_spins": n_spins,
        "seconds_including_compile": seconds,
        "spin_updates_per_second": args.chains * (args.draws + args.warmup) * n_spins / seconds,
        "energy_per_spin_mean": float(energy.mean() / n_spins),
        "energy_rhat": float(az.rhat(energy)),
        "energy_ess_bulk": float(az.ess(energy)),
        "magnetization_rhat": float(az.rhat(mag)),
        "magnetization_per_chain": [round(float(v), 4) for v in mag.mean(1)],
        "abs_magnetization_mean": float(np.abs(mag).mean()),
    }
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(folder / "idata.nc"))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _stage(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"[ergodic-ppl] {message}", file=sys.stderr, flush=True)


def _analyze_one(name, model, kwargs, patterns, args, out: Path) -> dict:
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plots
    from .basins import basin_graph
    from .diagnostics import diagnose

    quiet = not args.progress
    _stage(f"{name}: sampling {args.chains} chains x {args.draws} draws", quiet)
    mcmc, seconds_sampling = _run_mcmc(model, kwargs, args)
    _stage(f"{name}: quenching every draw and diagnosing", quiet)
    start = time.perf_counter()
    report = diagnose(mcmc, patterns=patterns)
    diagnosed = time.perf_counter()
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    beta = kwargs.get("beta")
    beta = float(beta) if beta is not None and np.ndim(beta) == 0 else None
    graph = basin_graph(report, beta=beta) if report.landscape is not None else None

    _stage(f"{name}: writing figures and the report to {folder}", quiet)
    figures = []

    def save(fig_name, draw):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        try:
            draw(ax)
            fig.tight_layout()
            fig.savefig(folder / fig_name, dpi=110)
            figures.append(fig_name)
        finally:
            plt.close(fig)

    observable = "energy" if "energy" in report.observables else "magnetization"
    save("traces.png", lambda ax: plots.plot_traces(report, observable, ax=ax))
    save("occupancy.png", lambda ax: plots.plot_occupancy(report, ax=ax))
    axes = plots.plot_ranks(report)
    np.ravel(axes)[0].figure.savefig(folder / "ranks.png", dpi=110)
    plt.close(np.ravel(axes)[0].figure)
    figures.append("ranks.png")
    if graph is not None and graph.number_of_nodes():
        save("disconnectivity.png", lambda ax: plots.plot_disconnectivity(report.landscape, ax=ax))
        save("basin_graph.png", lambda ax: plots.plot_basin_graph(graph, ax=ax))

    idata = az.from_numpyro(mcmc)
    if report.landscape is not None:
        idata.sample_stats["basin"] = (("chain", "draw"), report.landscape.labels)
    idata.to_netcdf(str(folder / "idata.nc"))
    (folder / "report.txt").write_text(str(report) + "\n")
    (folder / "report.html").write_text(report._repr_html_())
    summary = _analyze_summary(name, kwargs, args, report, graph, patterns)
    summary["seconds_sampling"] = seconds_sampling
    summary["seconds_diagnosing"] = diagnosed - start
    summary["figures"] = figures
    if graph is not None:
        (folder / "basin_graph.json").write_text(json.dumps(_graph_json(graph), indent=1))
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _finite(x):
    x = float(x)
    return x if np.isfinite(x) else (None if np.isnan(x) else ("inf" if x > 0 else "-inf"))


def _analyze_summary(name, kwargs, args, report, graph, patterns) -> dict:
    basins = []
    if graph is not None:
        for a, data in graph.nodes(data=True):
            entry = {
                "basin": a,
                "energy": data["energy"],
                "occupancy": data.get("occupancy"),
                "chains": data.get("chains"),
            }
            if patterns is not None:
                q = np.asarray(patterns, np.float64) @ data["state"].astype(np.float64)
                entry["overlaps_with_patterns"] = [round(v, 4) for v in q / len(data["state"])]
            basins.append(entry)
    return {
        "model": name,
        "kwargs": _kwargs_summary(kwargs),
        "chains": args.chains,
        "draws": args.draws,
        "warmup": args.warmup,
        "n_spins": report.info["n"],
        "ergodic": report.ergodic,
        "status": report.info["status"],
        "n_basins": report.n_basins,
        "verdict": report.verdict,
        "columns": report.columns,
        "occupancy": np.round(report.occupancy, 4).tolist(),
        "chain_basins": report.chain_basins,
        "rhat": {k: _finite(v) for k, v in report.rhat.items()},
        "ess_bulk": {k: _finite(v) for k, v in report.ess.items()},
        "ess_tail": {k: _finite(v) for k, v in report.ess_tail.items()},
        "notes": report.notes,
        "remedies": report.remedies,
        "warnings": report.warnings,
        "basins": basins,
        "connections": (
            [
                {"basins": [a, b], **{k: _finite(v) for k, v in d.items()}}
                for a, b, d in graph.edges(data=True)
            ]
            if graph is not None
            else []
        ),
    }


def _graph_json(graph) -> dict:
    import networkx as nx

    g = graph.copy()
    for _, data in g.nodes(data=True):
        data["state"] = data["state"].tolist()
    g.graph.pop("minimax_saddles", None)
    return nx.node_link_data(g, edges="edges")


def _add_common(p, default_chains: int) -> None:
    p.add_argument(
        "model_file",
        nargs="?",
        type=Path,
        help="Python file defining a NumPyro `model` with binary latent sites (optional: "
        "`model_kwargs` dict, `patterns` array); default: the embedded model",
    )
    p.add_argument(
        "--out", type=Path, default=Path("ergodic-ppl-report"), help="report folder (%(default)s)"
    )
    p.add_argument("--chains", type=int, default=default_chains, help="chains (%(default)s)")
    p.add_argument("--draws", type=int, default=1000, help="draws per chain (%(default)s)")
    p.add_argument("--warmup", type=int, default=200, help="warm-up sweeps (%(default)s)")
    p.add_argument(
        "--scan",
        default="chromatic",
        choices=("chromatic", "sequential", "random"),
        help="SpinGibbs scan order (%(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("sample", "analyze", "-h", "--help"):
        argv = ["analyze", *argv]
    parser = argparse.ArgumentParser(
        prog="ergodic-ppl",
        description="Sample binary-spin NumPyro models and diagnose broken ergodicity.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    analyze = sub.add_parser(
        "analyze",
        help="sample, diagnose ergodicity, build the basin graph, write a report (default)",
        description="Sample a spin model with several chains, diagnose ergodicity, find the "
        "basins and their connections, and write a report folder. Without MODEL_FILE: a "
        "Hopfield network storing 3 patterns at low temperature.",
    )
    _add_common(analyze, default_chains=8)
    analyze.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars"
    )
    sample = sub.add_parser("sample", help="only sample a model and write a report folder")
    _add_common(sample, default_chains=8)
    sample.add_argument("--progress", action="store_true", help="show NumPyro progress bars")
    args = parser.parse_args(argv)
    for name in ("chains", "draws"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must be non-negative")
    if args.command == "analyze" and (args.chains < 2 or args.draws < 4):
        parser.error("analyze needs --chains >= 2 and --draws >= 4 to compare chains")

    try:
        if args.model_file:
            runs = _load_model_file(args.model_file)
        else:
            runs = _default_hopfield() if args.command == "analyze" else _default_models()
    except ModelFileError as exc:
        print(f"ergodic-ppl: error: {exc}", file=sys.stderr)
        return 2
    for name, model, kwargs, patterns in runs:
        try:
            if args.command == "analyze":
                summary = _analyze_one(name, model, kwargs, patterns, args, args.out)
            else:
                summary = _sample_one(name, model, kwargs, args, args.out)
        except ValueError as exc:
            print(f"ergodic-ppl: error: {exc}", file=sys.stderr)
            return 2
        if args.command == "analyze":
            print(f"{name}: {summary['verdict']}")
        else:
            print(
                f"{name}: E/n = {summary['energy_per_spin_mean']:+.4f}, "
                f"<|m|> = {summary['abs_magnetization_mean']:.3f}, "
                f"R-hat(E) = {summary['energy_rhat']:.3f}, "
                f"ESS(E) = {summary['energy_ess_bulk']:.0f}, "
                f"R-hat(m) = {summary['magnetization_rhat']:.2f}, chain m = "
                + " ".join(f"{v:+.2f}" for v in summary["magnetization_per_chain"])
            )
    print(f"report written to {args.out}/")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
