"""nox sessions: ``nox`` runs them all (the README's test command).

Every session pins the CPU build of PyTorch first, so nothing pulls a CUDA build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "plugins", "docs", "release"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

TORCH = "torch==2.13.0"
ROOT = Path(__file__).parent


def _install(session: nox.Session, *extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the library, tests, plugins, benchmarks and this file."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", "hyperfunc", "tests", "plugins", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library."""
    _install(session)
    session.install("mypy>=1.8")
    session.run("mypy", "--strict", "hyperfunc")


@nox.session
def tests(session: nox.Session) -> None:
    """The pytest suite (unit, property-based, end-to-end) and the benchmark smoke runs."""
    _install(session, "test")
    # pytest exits with 5 when it collects no tests; nox fails on any non-zero status.
    session.run("pytest", *session.posargs)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), "--quick")


@nox.session
def plugins(session: nox.Session) -> None:
    """pip-install each package in plugins/ and run its tests against hyperfunc."""
    _install(session, "test")
    found = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    if not found:
        session.error("no plugin packages found under plugins/")
    for plugin in found:
        session.install(f"{plugin}[test]")
        session.run("pytest", "-c", str(plugin / "pyproject.toml"), str(plugin / "tests"))


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx docs with warnings as errors and every cross-reference resolved (``-n``)."""
    _install(session, "docs")
    session.run(
        "sphinx-build", "-n", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )


_RELEASE_CHECK = """
import importlib.metadata as m, pathlib, sys, hyperfunc
names = {d.metadata["Name"].lower() for d in m.distributions()}
wanted = {"torch-hyperfunc", "hyperfunc-resnet", "hyperfunc-pointclouds"}
assert wanted <= names, f"missing {wanted - names}"
assert "hyperfunc" not in names, "the unrelated PyPI project 'hyperfunc' was installed"
assert "site-packages" in hyperfunc.__file__, f"imported {hyperfunc.__file__}, not the installed wheel"
print("installed:", ", ".join(sorted(wanted)), "from", pathlib.Path(hyperfunc.__file__).parent)
"""


@nox.session(reuse_venv=False)
def release(session: nox.Session) -> None:
    """The wheels of the library and both plugins, alone in a fresh environment, run every family.

    Data comes in the layouts it is published in (Omniglot's zips of PNGs, MNIST's idx
    files, CIFAR-10's python batches: small copies made from ../shared/data), and
    Omniglot is prepared with ``hyperfunc data prepare``, as a user would.
    """
    tmp = Path(session.create_tmp()).resolve()
    dist, data, runs = tmp / "dist", tmp / "data", tmp / "runs"
    for path in (dist, data, runs):
        shutil.rmtree(path, ignore_errors=True)
    plugins = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    session.run("pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(ROOT), *map(str, plugins))
    wheels = sorted(dist.glob("*.whl"))
    library = next(w for w in wheels if w.name.startswith("torch_hyperfunc-"))
    session.install(TORCH)
    session.install(f"{library}[data]", *(str(w) for w in wheels if w != library))
    session.chdir(tmp)  # away from the checkout: the installed wheels are what gets imported
    session.run("pip", "check")
    session.run("python", "-c", _RELEASE_CHECK)
    session.run("python", str(ROOT / "tests" / "public_layouts.py"), str(data))
    session.run("hyperfunc", "data", "prepare", "omniglot", str(data / "omniglot"), "--dest", str(data))
    on_data = ["--data", str(data)]
    for name, args in {
        "continual": ["--tasks", "split-mnist", "--steps", "20", *on_data],
        "fewshot": ["--method", "maml", "--tasks", "omniglot", "--steps", "3", "--batch-size", "2",
                    "--test-episodes", "4", *on_data],
        "fields": ["--method", "image-hypernet", "--tasks", "cifar10-images", "--steps", "3",
                   "--task-arg", "test_images=8", *on_data],
        "resnet-plugin": ["--tasks", "split-cifar10", "--target", "resnet20", "--steps", "2", *on_data],
        "pointclouds-plugin": ["--method", "hypercloud", "--tasks", "shapes", "--steps", "3",
                               "--task-arg", "num_clouds=16", "--task-arg", "num_points=128"],
    }.items():
        session.run("hyperfunc", "run", *args, "--no-progress", "--out", str(runs / name))
        if not (runs / name / "results.json").is_file():
            session.error(f"hyperfunc run ({name}) wrote no results.json")
