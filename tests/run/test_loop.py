"""hyperfunc.run.train: phases, checkpoints, resume equal to an uninterrupted run, limits, faults."""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
import torch
from torch import Tensor, nn

from hyperfunc.run import (
    CheckpointError,
    CheckpointMismatchError,
    ConfigError,
    NonFiniteLossError,
    Phase,
    RunConfig,
    RunDirectoryError,
    RunInterrupted,
    load_checkpoint,
    train,
)


class Toy(nn.Module):
    """A linear regressor whose loss also draws from the global RNG (dropout-like noise)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(3, 1)
        self.register_buffer("seen", torch.zeros(()))

    def loss(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, dict[str, float]]:
        x, y = batch
        noise = 1 + 0.1 * torch.randn(())  # global RNG: must be restored on resume
        loss = ((self.lin(x).squeeze(-1) - y) * noise).pow(2).mean()
        self.seen += 1
        return loss, {"mse": float(loss.detach())}


def batch(step: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    x = torch.randn(8, 3, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5])


def phases(counter: list[str] | None = None) -> list[Phase]:
    def hook(what: str) -> Any:
        return lambda: None if counter is None else counter.append(what)

    return [
        Phase("one", batch, begin=hook("begin one"), end=hook("end one"), evaluate=lambda: {"ok": 1.0}),
        Phase("two", batch, steps=5, begin=hook("begin two"), end=hook("end two")),
    ]


CFG = RunConfig(steps=7, lr=0.05, lr_schedule="cosine", checkpoint_every=2, log_every=1, progress=False)


def state(path: Path) -> dict[str, Tensor]:
    out: dict[str, Tensor] = torch.load(path / "model.pt", weights_only=True)
    return out


def test_runs_phases_in_order_and_writes_the_folder(tmp_path: Path) -> None:
    calls: list[str] = []
    res = train(Toy(), phases(calls), CFG, out=tmp_path / "r")
    assert calls == ["begin one", "end one", "begin two", "end two"]
    assert res["steps_done"] == 12 and [p["steps"] for p in res["phases"]] == [7, 5]
    assert res["phases"][0]["ok"] == 1.0 and res["stopped_by_time_limit"] is False
    names = {p.name for p in (tmp_path / "r").iterdir()}
    assert {
        "checkpoint.pt",
        "model.pt",
        "results.json",
        "metrics.jsonl",
        "environment.json",
        ".hyperfunc-run",
    } <= names
    assert not [n for n in names if ".tmp" in n]
    lines = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines if "step" in ln and ln.get("phase") == "one"] == list(range(1, 8))
    assert any(ln.get("event") == "evaluation" for ln in lines)
    loaded = state(tmp_path / "r")  # weights_only: plain tensors
    assert set(loaded) == {"lin.weight", "lin.bias", "seen"}
    json.loads((tmp_path / "r" / "results.json").read_text(), parse_constant=pytest.fail)  # strict JSON


@pytest.mark.parametrize("stop_at", [1, 3, 7, 8, 11])
def test_resume_after_interrupt_equals_an_uninterrupted_run(tmp_path: Path, stop_at: int) -> None:
    """Interrupted mid-phase, at a phase end and in the second phase: the same model and metrics."""
    train(Toy(), phases(), CFG, out=tmp_path / "whole")

    class Stop(Exception):
        pass

    toy, calls = Toy(), [0]
    original = toy.loss

    def stopping(b: Any) -> Any:
        calls[0] += 1
        if calls[0] > stop_at:
            raise Stop  # like a kill: whatever happened after the last checkpoint is lost
        return original(b)

    toy.loss = stopping  # type: ignore[method-assign]
    with pytest.raises(Stop):
        train(toy, phases(), CFG, out=tmp_path / "cut")
    seen: list[str] = []
    res = train(Toy(), phases(seen), CFG, out=tmp_path / "cut", resume=True)
    assert res["steps_done"] == 12
    a, b = state(tmp_path / "whole"), state(tmp_path / "cut")
    for k in ("lin.weight", "lin.bias"):
        assert torch.equal(a[k], b[k]), k

    def drop_time(p: Path) -> list[dict[str, Any]]:
        rows = [json.loads(x) for x in (p / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert drop_time(tmp_path / "whole") == drop_time(tmp_path / "cut")
    if stop_at >= 8:  # phase one was complete: its hooks do not run again
        assert "begin one" not in seen and "end one" not in seen


def test_sigint_writes_a_checkpoint_and_resume_completes(tmp_path: Path) -> None:
    import signal

    train(Toy(), phases(), CFG, out=tmp_path / "whole")
    toy, n = Toy(), [0]
    original = toy.loss

    def interrupting(b: Any) -> Any:
        n[0] += 1
        if n[0] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return original(b)

    toy.loss = interrupting  # type: ignore[method-assign]
    with pytest.raises(RunInterrupted, match="--resume"):
        train(toy, phases(), CFG, out=tmp_path / "cut")
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["step"] == 4
    train(Toy(), phases(), CFG, out=tmp_path / "cut", resume=True)
    assert torch.equal(state(tmp_path / "whole")["lin.weight"], state(tmp_path / "cut")["lin.weight"])


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    toy, n = Toy(), [0]
    original = toy.loss

    def exploding(b: Any) -> Any:
        n[0] += 1
        loss, logs = original(b)
        return (loss * math.nan, logs) if n[0] == 6 else (loss, logs)

    toy.loss = exploding  # type: ignore[method-assign]
    with pytest.raises(NonFiniteLossError, match="became nan at step 6 of 'one'"):
        train(toy, phases(), CFG, out=tmp_path / "r")
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert ckpt["step"] == 4 and not (tmp_path / "r" / "results.json").exists()
    assert all(torch.isfinite(v).all() for v in ckpt["method"].values())


def test_time_limit_stops_and_is_recorded(tmp_path: Path) -> None:
    cfg = RunConfig(steps=10**6, time_limit=0.0005, progress=False)
    res = train(Toy(), [Phase("one", batch)], cfg, out=tmp_path / "r")
    assert res["stopped_by_time_limit"] is True and 0 < res["steps_done"] < 10**6
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["step"] == res["steps_done"]


class Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch PWNED",))


def test_a_tampered_checkpoint_is_refused_and_nothing_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    train(Toy(), phases(), CFG, out=tmp_path / "r")
    torch.save({"format": 2, "evil": Evil()}, tmp_path / "r" / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="checkpoint.pt.*nothing in it was run"):
        train(Toy(), phases(), CFG, out=tmp_path / "r", resume=True)
    assert not (tmp_path / "PWNED").exists()
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        train(Toy(), phases(), CFG, out=tmp_path / "r", resume=True)
    with open(tmp_path / "r" / "checkpoint.pt", "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "r" / "checkpoint.pt")


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    train(Toy(), phases(), CFG, out=tmp_path / "r")
    before = (tmp_path / "r" / "model.pt").read_bytes()
    other = RunConfig(steps=7, lr=0.01, lr_schedule="cosine", checkpoint_every=2, progress=False)
    with pytest.raises(CheckpointMismatchError, match="config.*0.05.*0.01"):
        train(Toy(), phases(), other, out=tmp_path / "r", resume=True)
    assert (tmp_path / "r" / "model.pt").read_bytes() == before


def test_stale_temporary_files_are_removed_on_the_next_start(tmp_path: Path) -> None:
    train(Toy(), phases(), CFG, out=tmp_path / "r")
    stale = tmp_path / "r" / ".checkpoint.pt.abc123.tmp.pt"
    stale.write_bytes(b"half a checkpoint")
    train(Toy(), phases(), CFG, out=tmp_path / "r", resume=True)
    assert not stale.exists()


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="nn.Module with loss"):
        train(object(), [], CFG)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        train(Toy(), [Phase("a", batch), Phase("a", batch)], CFG)
    with pytest.raises(ValueError, match="need a run folder"):
        train(Toy(), [], CFG, resume=True)


def test_no_folder_keeps_nothing_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = train(Toy(), phases(), CFG)
    assert res["steps_done"] == 12 and list(tmp_path.iterdir()) == []


def test_second_run_into_a_live_folder_is_refused(tmp_path: Path) -> None:
    toy = Toy()
    original = toy.loss
    errors: list[str] = []

    def nested(b: Any) -> Any:
        if not errors:
            try:
                train(Toy(), phases(), CFG, out=tmp_path / "r", overwrite=True)
            except RunDirectoryError as e:
                errors.append(str(e))
        return original(b)

    toy.loss = nested  # type: ignore[method-assign]
    train(toy, phases(), CFG, out=tmp_path / "r")
    assert errors and "another run is writing into" in errors[0]


def test_a_finished_run_resumed_with_more_steps_continues_its_last_phase(tmp_path: Path) -> None:
    cfg = RunConfig(steps=8, lr=0.05, checkpoint_every=3, progress=False)
    train(Toy(), [Phase("only", batch)], cfg, out=tmp_path / "whole")
    train(Toy(), [Phase("only", batch)], attrs.evolve(cfg, steps=5), out=tmp_path / "grown")
    res = train(Toy(), [Phase("only", batch)], cfg, out=tmp_path / "grown", resume=True)
    assert res["steps_done"] == 8
    assert torch.equal(state(tmp_path / "whole")["lin.weight"], state(tmp_path / "grown")["lin.weight"])
    # a phase with its own evaluation can't be reopened: refused, not silently ignored
    train(Toy(), phases(), attrs.evolve(CFG, lr_schedule="constant"), out=tmp_path / "q")
    with pytest.raises(CheckpointMismatchError, match=r"phases \['one'\] can't be given more steps"):
        train(
            Toy(),
            phases(),
            attrs.evolve(CFG, lr_schedule="constant", steps=9),
            out=tmp_path / "q",
            resume=True,
        )


def test_tensorboard_files_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorboard")
    train(Toy(), phases(), attrs.evolve(CFG, tensorboard=True), out=tmp_path / "r")
    events = list((tmp_path / "r" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    with pytest.raises(ConfigError, match="pip install 'torch-hyperfunc\\[tensorboard\\]'"):
        train(Toy(), phases(), attrs.evolve(CFG, tensorboard=True), out=tmp_path / "s")
    assert not (tmp_path / "s").exists()
