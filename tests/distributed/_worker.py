"""One process of a distributed test run (started by test_processes.py; not collected by pytest).

    python tests/distributed/_worker.py CASE OUT [--steps N] [--resume]

With torchrun's variables (RANK, WORLD_SIZE, ...) in the environment it joins the others;
without, it is a single process. float64 throughout, one thread. ``HF_TEST_DIE_AT=K`` /
``HF_TEST_HANG_AT=K`` make rank 1 exit / hang at its K-th loss (fault tests).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch

import hyperfunc as hf
import hyperfunc.distributed as hd
from hyperfunc.run import RunError


def _sabotage(method: Any) -> None:
    stop_after = os.environ.get("HF_TEST_STOP_AFTER_TASK")
    if stop_after is not None:  # Ctrl-C once that task ends: the run checkpoints and stops
        end = method.end_task

        def end_task(t: int, *args: Any) -> None:
            end(t, *args)
            if t == int(stop_after):
                os.kill(os.getpid(), signal.SIGINT)

        method.end_task = end_task
    die, hang = os.environ.get("HF_TEST_DIE_AT"), os.environ.get("HF_TEST_HANG_AT")
    if hd.current().rank != 1 or not (die or hang):
        return
    loss, calls = method.loss, [0]

    def wrapped(batch: Any) -> Any:
        calls[0] += 1
        if die and calls[0] == int(die):
            os._exit(17)
        if hang and calls[0] == int(hang):
            time.sleep(3600)
        return loss(batch)

    method.loss = wrapped


class _Synthetic(hf.continual.TaskStream):
    """Two 2-class tasks of 8 features: the class shifts the mean."""

    def __init__(self) -> None:
        self.name, self.num_tasks, self.num_outputs, self.flatten = "synthetic", 2, 2, True

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (8,)

    def classes_of(self, index: int) -> tuple[int, ...]:
        return (2 * index, 2 * index + 1)

    def _build(self, index: int) -> hf.continual.Task:
        g = torch.Generator().manual_seed(index)
        y = torch.randint(0, 2, (80,), generator=g)
        x = torch.randn(80, 8, generator=g) + (2.0 * y - 1)[:, None] * (index + 1)
        return hf.continual.Task(index, self.classes_of(index), x[:60], y[:60], x[60:], y[60:])


def run(case: str, out: str, steps: int, resume: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    lr = float(os.environ.get("HF_TEST_LR_RANK1", "0.01")) if hd.current().rank == 1 else 0.01
    common: dict[str, Any] = {
        "steps": steps,
        "lr": lr,
        "progress": False,
        "seed": 3,
        "collective_timeout": 10.0,
    }
    if case == "hnet":
        from hyperfunc.continual import HNET, ContinualConfig, run_continual

        net = HNET(
            hf.stateless(hf.targets.mlp(8, 2, hidden=(16,))), 2, emb_dim=4, hypernet_args={"hidden": (16,)}
        )
        _sabotage(net)
        return run_continual(
            net, _Synthetic(), ContinualConfig(batch_size=10, **common), out=out, resume=resume
        )
    if case in ("maml", "protonets"):
        from hyperfunc.fewshot import MAML, Episodes, FewShotConfig, ProtoNets, run_fewshot

        images = torch.randn(12, 6, 16, generator=torch.Generator().manual_seed(1))
        images += torch.randn(12, 1, 16, generator=torch.Generator().manual_seed(2))  # class means
        train = Episodes(images[:8], n_way=3, k_shot=1, q_query=2, batch_size=5, seed=4)
        test = Episodes(images[8:], n_way=3, k_shot=1, q_query=2, batch_size=4, seed=5)
        if case == "maml":  # second order: the outer gradient goes through 2 inner steps
            method: Any = MAML(hf.stateless(hf.targets.mlp(16, 3, hidden=(16,))), inner_steps=2, inner_lr=0.3)
        elif os.environ.get("HF_TEST_BATCH_NORM"):
            backbone = torch.nn.Sequential(
                torch.nn.Linear(16, 16), torch.nn.BatchNorm1d(16), torch.nn.Linear(16, 8)
            )
            method = ProtoNets(hf.stateless(backbone))
        else:
            method = ProtoNets(hf.stateless(hf.targets.mlp(16, 8, hidden=(16,))))
        _sabotage(method)
        return run_fewshot(
            method, train, test, FewShotConfig(test_episodes=9, **common), out=out, resume=resume
        )
    if case == "image-hypernet":
        from hyperfunc.fields import FieldsConfig, ImageHyperNet, train_fields

        g = torch.Generator().manual_seed(6)
        images = torch.rand(20, 1, 8, 8, generator=g)
        fields = ImageHyperNet(1, 8, embedding_dim=8, encoder_widths=(8,), hidden=(16,))
        _sabotage(fields)
        cfg = FieldsConfig(batch_size=6, **common)
        return train_fields(fields, images[:14], cfg, test=images[14:], out=out, resume=resume)
    if case == "gradients":  # all_reduce_gradients: tiny buckets, a gradient missing on one rank
        w = hd.current()
        ps = [
            torch.zeros(5, requires_grad=True),
            torch.zeros(3, 2, requires_grad=True),
            torch.zeros(2, requires_grad=True),
        ]
        ps[0].grad = torch.full((5,), float(w.rank + 1))
        ps[1].grad = torch.arange(6.0).view(3, 2) * (w.rank + 1)
        if w.rank == 1:
            ps[2].grad = torch.ones(2)
        hd.all_reduce_gradients(ps, bucket_mib=40 / 2**20)  # about 5 float64 numbers per bucket
        gathered = hd.gather(torch.tensor([float(w.rank)]))
        return {"grads": [p.grad.tolist() for p in ps], "gathered": gathered.tolist()}  # type: ignore[union-attr]
    raise SystemExit(f"unknown case {case!r}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("case")
    p.add_argument("out")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    try:
        hd.init("cpu", timeout=10.0)
        results = run(args.case, args.out, args.steps, args.resume)
    except (RunError, hd.DistributedError) as e:
        print(f"ERROR {type(e).__name__}: {e}", file=sys.stderr)
        hd.shutdown()
        return 1
    several = hd.current().size > 1
    hd.shutdown()
    if args.case == "gradients":
        Path(args.out, f"rank{os.environ.get('RANK', '0')}.json").write_text(json.dumps(results))
    if several:  # as hyperfunc run does: no interpreter finalisation after gloo (PyTorch #179291)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
