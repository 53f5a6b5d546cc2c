"""Meta-training a few-shot method with checkpoints and resume, then testing it on ≥ 600 episodes."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs
import torch

from hyperfunc._device import check_device
from hyperfunc._progress import progress
from hyperfunc._rundir import CHECKPOINT, RESULTS, atomic_save, check_identity, prepare_out
from hyperfunc._target import Target
from hyperfunc.fewshot._method import Batch, FewShotMethod

__all__ = ["FewShotConfig", "run_fewshot", "Sampler"]


class Sampler(Protocol):
    """Anything with ``batch(i)``: meta-batch ``i`` as a pure function of ``i`` (Episodes, Sinusoid)."""

    batch_size: int

    def batch(self, index: int) -> Batch: ...


@attrs.frozen
class FewShotConfig:
    """Settings of :func:`run_fewshot`.

    Attributes:
        steps: meta-training steps (one meta-batch each).
        lr: Adam's learning rate.
        lr_schedule: ``"constant"`` or ``"cosine"`` (decays to 0 over ``steps``).
        test_episodes: test episodes to score (rounded up to whole test meta-batches).
        seed: seeds the initialisation (the samplers carry their own seeds).
        device: where to train and test; batches are sampled on the CPU and moved.
        time_limit_minutes: stop meta-training early after this much wall time
            (``None``: no limit); the steps done are recorded.
        checkpoint_every: steps between checkpoints (with ``out``).
    """

    steps: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    lr: float = attrs.field(default=1e-3, validator=attrs.validators.gt(0))
    lr_schedule: str = attrs.field(default="constant", validator=attrs.validators.in_(("constant", "cosine")))
    test_episodes: int = attrs.field(default=600, validator=attrs.validators.ge(1))
    seed: int = 0
    device: str = attrs.field(default="cpu", validator=check_device)
    time_limit_minutes: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    checkpoint_every: int = attrs.field(default=500, validator=attrs.validators.ge(1))


def _move_targets(method: FewShotMethod, device: torch.device) -> None:
    """Targets keep their buffers outside the module tree: move them with the method."""
    for name, value in list(vars(method).items()):
        if isinstance(value, Target):
            setattr(method, name, value.to(device))


def run_fewshot(
    method: FewShotMethod,
    train: Sampler,
    test: Sampler,
    config: FewShotConfig = FewShotConfig(),
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
    identity: Mapping[str, Any] | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Meta-train ``method`` on ``train``'s meta-batches, then score it on ``test``'s.

    Step ``i`` uses ``train.batch(i)``, so a resumed run sees the same batches as
    an uninterrupted one. With ``out``, a checkpoint is written atomically every
    ``config.checkpoint_every`` steps and at the end of training, and the summary
    goes to ``results.json``; ``resume=True`` continues from the last checkpoint
    (refused if the method, samplers or settings differ).

    Returns:
        The summary: test mean and 95 % half-width (accuracy in ``[0, 1]``, or the
        query MSE for regression), episodes, steps done, wall times, settings.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.fewshot import Episodes, FewShotConfig, ProtoNets, run_fewshot
        >>> data = torch.randn(20, 8, 6)
        >>> train = Episodes(data[:12], n_way=3, k_shot=1, q_query=2, batch_size=4)
        >>> test = Episodes(data[12:], n_way=3, k_shot=1, q_query=2, batch_size=10, seed=1)
        >>> method = ProtoNets(hf.stateless(hf.targets.mlp(6, 8, hidden=(16,))))
        >>> summary = run_fewshot(method, train, test, FewShotConfig(steps=5, test_episodes=20),
        ...                       show_progress=False, verbose=False)
        >>> summary["test_episodes"], summary["steps_done"]
        (20, 5)
    """
    if not isinstance(method, FewShotMethod):
        raise TypeError(f"run_fewshot needs a FewShotMethod, got {type(method).__name__}")
    device = torch.device(config.device)
    ident = {
        "method": type(method).__name__,
        "method_settings": method.describe(),
        "train": repr(train),
        "test": repr(test),
        "spec": repr(method.target.spec),
        "config": attrs.asdict(config),
        **(identity or {}),
    }
    ident = json.loads(json.dumps(ident, default=str))
    path = Path(out) if out is not None else None
    if path is not None:
        prepare_out(path, resume, overwrite)
    torch.manual_seed(config.seed)
    method.to(device)
    _move_targets(method, device)
    opt = torch.optim.Adam(method.parameters(), lr=config.lr)
    sched = (
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
        if config.lr_schedule == "cosine" else None
    )
    start, history, train_seconds = 0, [], 0.0
    if path is not None and resume:
        ckpt = torch.load(path / CHECKPOINT, weights_only=False, map_location=device)
        check_identity(ckpt, ident, path)
        method.load_state_dict(ckpt["state"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        start, history, train_seconds = ckpt["steps_done"], list(ckpt["history"]), ckpt["train_seconds"]
        torch.set_rng_state(ckpt["rng"])
        if verbose:
            print(f"resuming {path} after step {start}")

    def save(steps_done: int) -> None:
        if path is not None:
            atomic_save({
                "format": 1, "identity": ident, "state": method.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict() if sched is not None else None,
                "steps_done": steps_done, "history": history, "train_seconds": train_seconds,
                "rng": torch.get_rng_state(),
            }, path / CHECKPOINT)

    method.train()
    limit = None if config.time_limit_minutes is None else 60.0 * config.time_limit_minutes
    stopped_early = False
    step = start
    t0 = time.perf_counter()
    bar = progress(config.steps - start, f"meta-train {type(method).__name__}", show_progress)
    for i in bar:
        step = start + i
        if limit is not None and train_seconds + (time.perf_counter() - t0) > limit:
            stopped_early = True
            break
        loss, logs = method.loss(train.batch(step).to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        if sched is not None:
            sched.step()
        history.append(float(logs["loss"]))
        if step % 20 == 0:
            bar.set_postfix_str(" ".join(f"{k}={v:.4g}" for k, v in logs.items()))
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < config.steps:
            train_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            save(step + 1)
    else:
        step = config.steps
    train_seconds += time.perf_counter() - t0
    save(step)
    method.eval()
    t1 = time.perf_counter()
    n_batches = math.ceil(config.test_episodes / test.batch_size)
    scores = []
    for i in progress(n_batches, "test episodes", show_progress):
        scores.append(method.accuracy(test.batch(i).to(device)).double().cpu())
    s = torch.cat(scores)
    ci = 1.96 * float(s.std()) / math.sqrt(s.numel()) if s.numel() > 1 else 0.0
    summary = {
        **ident,
        "metric": "mse" if method.regression else "accuracy",
        "test_mean": float(s.mean()),
        "test_ci95": ci,
        "test_episodes": int(s.numel()),
        "steps_done": step,
        "stopped_by_time_limit": stopped_early,
        "final_train_loss": float(sum(history[-100:]) / max(1, len(history[-100:]))),
        "train_seconds": train_seconds,
        "test_seconds": time.perf_counter() - t1,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else
        (platform.processor() or platform.machine()),
    }
    if verbose:
        scale, unit = (1.0, "") if method.regression else (100.0, " %")
        print(
            f"{type(method).__name__}: test {summary['metric']} {scale * summary['test_mean']:.4g} ± "
            f"{scale * ci:.2g}{unit} over {summary['test_episodes']} episodes after {step} steps "
            f"({train_seconds / 60:.1f} min training)"
        )
    if path is not None:
        atomic_save(summary, path / RESULTS)
    return summary
