"""`hyperfunc run`: user mistakes are one line and exit 2 with nothing created; faults lose nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hyperfunc._cli import main

SMALL = [
    "--target-arg",
    "hidden=[16]",
    "--method-arg",
    "emb_dim=8",
    "--method-arg",
    'hypernet_args={"chunk_size": 128, "hidden": [16]}',
    "--no-progress",
]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "batch_size=0 (expected an int >= 1)"),
        (["--lr", "inf"], "lr=inf (expected a finite number > 0)"),
        (["--lr", "nan"], "lr=nan"),
        (["--lr", "-1", "--steps", "0"], "steps=0 (expected an int >= 1); lr=-1.0"),
        (["--threads", "-1"], "threads=-1"),
        (["--device", "cuda:7" if torch.cuda.is_available() else "cuda"], "device="),
        (["--device", "gpu0"], "not a torch device"),
        (["--steps", "abc"], "invalid int value: 'abc'"),
        (["--method-arg", "bogus=1"], "--method-arg: method 'hnet' takes no argument(s) bogus"),
        (["--method-arg", "nonsense"], "KEY=VALUE"),
        (["--target-arg", "depth=3"], "takes no argument(s) depth"),
        (["--task-arg", "colour=1"], "takes no argument(s) colour"),
        (["--mask-rate", "0.3"], "--mask-rate (a flag of family fields): not a flag of family 'continual'"),
        (["--test-episodes", "5"], "not a flag of family 'continual'"),
        (["--method", "hnett"], "Did you mean 'hnet'?"),
        (["--tasks", "nope"], "can't find 'nope' in the tasks registry"),
        (["--resume"], "nothing to resume"),
        (["--resume", "--overwrite"], "not allowed with argument"),
        (
            ["--method", "hypermaml", "--tasks", "sinusoid", "--lr-schedule", "linear"],
            "invalid choice: 'linear'",
        ),
    ],
)
def test_user_mistakes_are_one_line_exit_2_and_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "run"
    code, err = run([*args, "--out", str(out)], capsys)
    assert code == 2
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("hyperfunc run: error: ")
    assert not out.exists()


def test_folder_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    code, err = run(["--overwrite", "--steps", "1", "--out", str(mine)], capsys)
    assert code == 2 and "was not written by hyperfunc" in err and "thesis.tex" in err
    assert (mine / "thesis.tex").read_text() == "years of work"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert run(["--out", str(a_file)], capsys)[0] == 2
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root can write anywhere
            code, err = run(["--out", str(locked / "run")], capsys)
            assert code == 2 and "not writable" in err
    finally:
        locked.chmod(0o700)


def test_overwrite_validates_before_deleting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run([*SMALL, "--steps", "5", "--out", str(out)], capsys)[0] == 0
    before = sorted(p.name for p in out.iterdir())
    code, err = run([*SMALL, "--overwrite", "--lr", "-1", "--out", str(out)], capsys)
    assert code == 2 and "lr=-1.0" in err
    assert sorted(p.name for p in out.iterdir()) == before  # the old run is still there
    code, err = run([*SMALL, "--steps", "5", "--out", str(out)], capsys)
    assert code == 2 and "already holds a run; pass --resume" in err
    assert run([*SMALL, "--steps", "5", "--overwrite", "--out", str(out)], capsys)[0] == 0


def test_corrupted_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run([*SMALL, "--steps", "5", "--out", str(out)], capsys)[0] == 0
    (out / "checkpoint.pt").write_bytes(b"\x00" * 10)
    code, err = run([*SMALL, "--steps", "5", "--resume", "--out", str(out)], capsys)
    assert code == 2 and "checkpoint.pt" in err and "corrupted" in err and err.count("\n") == 1


def test_help_shows_the_family_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--method", "image-hypernet", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--mask-rate" in text and "--checkpoint-every" in text and "%%" not in text
    assert main(["run", "--help"]) == 0
    assert "--mask-rate" not in capsys.readouterr().out


# ----------------------------------------------------------------------------- processes
CLI = [sys.executable, "-m", "hyperfunc", "run", *SMALL, "--steps", "60", "--checkpoint-every", "7"]


def _model(out: Path) -> dict[str, object]:
    state: dict[str, object] = torch.load(out / "model.pt", weights_only=True)
    return state


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def _metrics(out: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _start(out: Path, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*CLI, "--threads", "1", "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=stderr
    )


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    ref = _start(whole)
    t0 = time.perf_counter()
    assert ref.wait(timeout=300) == 0
    duration = time.perf_counter() - t0
    rng = random.Random(0)
    for trial in range(3):
        out = tmp_path / f"cut{trial}"
        proc = _start(out)
        started = time.perf_counter()
        while not (out / "checkpoint.pt").exists() and time.perf_counter() - started < 120:
            time.sleep(0.02)  # the run has started (killed before that, there is nothing to resume)
        time.sleep(rng.uniform(0.0, 0.6) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        resumed = subprocess.run(
            [*CLI, "--threads", "1", "--resume", "--out", str(out)], capture_output=True, timeout=300
        )
        if resumed.returncode == 2 and b"already holds a run" in resumed.stderr:
            continue  # (never: --resume is accepted for any folder with a checkpoint)
        assert resumed.returncode == 0, resumed.stderr.decode()
        assert _same(_model(whole), _model(out))
        assert _metrics(whole) == _metrics(out)
        assert not [p for p in out.iterdir() if ".tmp" in p.name]
        res = json.loads((out / "results.json").read_text())
        assert res["R"] == json.loads((whole / "results.json").read_text())["R"]


@pytest.mark.slow
def test_sigterm_checkpoints_and_hints_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _start(out, subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "checkpoint.pt").exists():
        time.sleep(0.05)  # the first checkpoint: training starts now
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal (a very fast machine)")
    assert proc.returncode == 130
    text = err.decode()
    assert "--resume" in text and "Traceback" not in text
    assert (
        subprocess.run(
            [*CLI, "--threads", "1", "--resume", "--out", str(out)], capture_output=True, timeout=300
        ).returncode
        == 0
    )


def test_two_runs_into_one_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _start(out)
    deadline = time.time() + 60
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run([*CLI, "--overwrite", "--out", str(out)], capture_output=True, timeout=120)
    assert second.returncode == 2 and b"another run is writing into" in second.stderr
    assert first.wait(timeout=300) == 0


DYING = """
import os, signal, sys, torch
from hyperfunc._cli import main
real, calls = torch.save, [0]
def dying(obj, f, *a, **k):
    calls[0] += 1
    if calls[0] == int(os.environ["DIE_AT_SAVE"]):  # killed half-way through writing a checkpoint
        with open(f, "wb") as h:
            h.write(b"half a checkpoint")
        os.kill(os.getpid(), signal.SIGKILL)
    return real(obj, f, *a, **k)
torch.save = dying
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_kill_9_during_a_checkpoint_write_loses_nothing(tmp_path: Path) -> None:
    args = ["run", *SMALL, "--steps", "20", "--checkpoint-every", "7", "--threads", "1"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    out = tmp_path / "cut"
    env = {**os.environ, "DIE_AT_SAVE": "4", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", DYING, *args, "--out", str(out)], env=env, capture_output=True, timeout=300
    )
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in out.iterdir() if ".tmp" in p.name]  # the half-written file is there
    torch.load(out / "checkpoint.pt", weights_only=True)  # and the last checkpoint is whole
    assert main([*args, "--resume", "--out", str(out)]) == 0
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]  # cleaned up on the next start
    assert _same(_model(tmp_path / "whole"), _model(out))
    assert _metrics(tmp_path / "whole") == _metrics(out)


def test_a_damaged_data_file_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    code, err = run(["--tasks", "split-mnist", "--data", str(tmp_path), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and str(tmp_path / "mnist.npz") in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()
