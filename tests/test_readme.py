"""The README's two set-up commands stay true: CI runs the second one verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must start with a bash block of set-up commands"
    assert text.index(block.group(0)) < 40, "the set-up commands must come first"
    return [ln for ln in block.group(1).splitlines() if ln.strip()]


def test_readme_starts_with_exactly_two_commands() -> None:
    cmds = readme_commands()
    assert len(cmds) == 2
    assert "torch==2.13.0" in cmds[0] and cmds[0].endswith("hyperfunc run")
    assert cmds[1].endswith("nox")


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci


def test_nox_pins_cpu_torch_and_runs_all_sessions() -> None:
    nox = (ROOT / "noxfile.py").read_text()
    assert 'TORCH = "torch==2.13.0"' in nox
    for session in ["lint", "typecheck", "tests", "plugins", "docs", "release"]:
        assert f"def {session}(" in nox
