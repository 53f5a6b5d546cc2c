import subprocess
import sys

import pytest

import hyperfunc as hf
from hyperfunc._cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hyperfunc {hf.__version__} (distribution torch-hyperfunc)"


def test_list_shows_name_distribution_and_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "targets", "hypernets"]) == 0
    out = capsys.readouterr().out
    assert "targets (" in out and "hypernets (" in out and "embeddings (" not in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("conv4"))
    assert "hyperfunc" in line and "few-shot standard backbone" in line


def test_list_all_and_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind in ["targets", "embeddings", "hypernets", "tasks", "methods"]:
        assert f"{kind} (" in out
    with pytest.raises(SystemExit):
        main(["list", "widgets"])
    assert "unknown kind(s) ['widgets']" in capsys.readouterr().err


def test_demo_learns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--steps", "150"]) == 0
    out = capsys.readouterr().out
    mean = float(out.strip().splitlines()[-1].split()[1])
    assert mean > 0.8, out


def test_console_script_entry() -> None:
    done = subprocess.run([sys.executable, "-m", "hyperfunc", "--version"], capture_output=True,
                          text=True, check=True)
    assert done.stdout.startswith("hyperfunc ")


def test_text_progress_bar_in_a_log_file(capsys: pytest.CaptureFixture[str]) -> None:
    from hyperfunc._progress import _TextBar

    bar = _TextBar(8, "task 1/2", enabled=True)
    bar.set_postfix_str("loss 0.1")
    assert list(bar) == list(range(8))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4 and lines[-1].startswith("task 1/2 [") and "8/8" in lines[-1]
    assert list(_TextBar(3, "quiet", enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_list_shows_every_registry_in_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "inner (" in out and "  adamw " in out and "  sgd " in out  # the inner optimisers too
    assert "``" not in out and ":class:`" not in out and ":func:`" not in out
    assert "FourierFeatures then an mlp" in out  # roles reduced to the name shown in the docs
    adadelta = next(line for line in out.splitlines() if line.startswith("  adadelta "))
    assert adadelta.endswith("p ← p − lr · δ.")  # a summary that wraps is shown whole
