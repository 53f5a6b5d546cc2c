"""nox sessions: ``nox`` runs them all (the README's test command).

Every session pins the CPU build of PyTorch first, so nothing pulls a CUDA build.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "plugins", "docs"]
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
    """Build the Sphinx docs with warnings as errors."""
    _install(session, "docs")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )
