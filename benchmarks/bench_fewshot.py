"""Few-shot accuracy runs (issue: HyperMAML, HyperShot, MAML, ProtoNets on Omniglot; sinusoid MSE).

Each configuration meta-trains one method with ``hyperfunc.fewshot.run_fewshot``
(Omniglot from ``../shared/data`` or ``--data``: background split for training,
evaluation split for testing, rotations as extra classes) and appends its summary
to ``benchmarks/fewshot_runs.jsonl``; ``--table --record`` writes the collected
runs into RESULTS.md (mean ± 95 % interval over the test episodes).

    python benchmarks/bench_fewshot.py --config omniglot-5w1s-protonets
    python benchmarks/bench_fewshot.py --config omniglot-5w1s-hypermaml --time-limit 55
    python benchmarks/bench_fewshot.py --table --record
    python benchmarks/bench_fewshot.py --quick        # CI smoke run (sinusoid, seconds)

These are long runs (up to an hour each on 2 CPU cores): run them one at a time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from _results import record_section

import hyperfunc as hf
from hyperfunc.fewshot import FewShotConfig, feature_size, run_fewshot

HERE = Path(__file__).resolve().parent
RUNS = HERE / "fewshot_runs.jsonl"
DATA = HERE.parents[1] / "shared" / "data"

# Omniglot: train episodes with 5 queries per class (cheaper), test with 15 as is usual.
SETTINGS = {"5w1s": (5, 1), "5w5s": (5, 5), "20w1s": (20, 1)}
METHODS: dict[str, dict[str, Any]] = {
    "protonets": {"method": "protonets", "args": {}},
    "hypershot": {"method": "hypershot", "args": {}},
    "hypermaml": {"method": "hypermaml", "args": {}},
    # MAML's Omniglot settings (Finn et al.): one step of 0.4 for 5-way, five of 0.1 for 20-way
    "maml": {"method": "maml", "args": {"inner_steps": 1, "inner_lr": 0.4}},
}
CONFIGS: dict[str, dict[str, Any]] = {}
for _s, (_n, _k) in SETTINGS.items():
    for _m, _c in METHODS.items():
        _args = dict(_c["args"])
        if _m == "maml" and _n == 20:
            _args = {"inner_steps": 5, "inner_lr": 0.1}
        CONFIGS[f"omniglot-{_s}-{_m}"] = {
            "tasks": "omniglot", "n_way": _n, "k_shot": _k, "q_train": 5, "q_test": 15,
            "batch_size": 16 if _n == 5 else 4, "steps": 3500, "lr": 1e-3, "method": _c["method"],
            "args": _args,
        }
# sinusoid regression, MLP 1-40-40-1 (MAML's setting: 10 queries, 25 tasks per meta-batch)
for _k in (5, 10):
    CONFIGS[f"sinusoid-{_k}shot-maml"] = {
        "tasks": "sinusoid", "k_shot": _k, "q_train": 10, "q_test": 10, "batch_size": 25, "steps": 20000,
        "lr": 1e-3, "method": "maml", "args": {"inner_steps": 1, "inner_lr": 0.01},
    }
    CONFIGS[f"sinusoid-{_k}shot-hypermaml"] = {
        "tasks": "sinusoid", "k_shot": _k, "q_train": 10, "q_test": 10, "batch_size": 25, "steps": 20000,
        "lr": 1e-3, "method": "hypermaml", "args": {"hidden": [256, 256]},
    }
# HyperMAML with the MAML warm-up of the authors (the hypernetwork blended in over 1000 steps)
CONFIGS["omniglot-5w1s-hypermaml-warmup"] = {
    **CONFIGS["omniglot-5w1s-hypermaml"], "args": {"warmup_steps": 1000, "inner_lr": 0.4},
}
# variants at the same budget: support-set loss, a higher cosine-decayed learning rate, a wider hypernetwork
_H = CONFIGS["omniglot-5w1s-hypermaml"]
CONFIGS["omniglot-5w1s-hypermaml-sl"] = {**_H, "args": {"support_loss": True}}
CONFIGS["omniglot-5w1s-hypermaml-cos3"] = {**_H, "lr": 3e-3, "schedule": "cosine"}
CONFIGS["omniglot-5w1s-hypermaml-sl-cos3"] = {**_H, "args": {"support_loss": True}, "lr": 3e-3,
                                              "schedule": "cosine"}
CONFIGS["omniglot-5w1s-hypermaml-wide"] = {**_H, "args": {"hidden": [512, 512]}}
CONFIGS["omniglot-5w1s-hypermaml-warmup-sl"] = {**_H, "args": {"warmup_steps": 1000, "inner_lr": 0.4,
                                                               "support_loss": True}}
# the same with 4 episodes per meta-batch: a quarter of the cost per step, for more steps in a CPU budget
CONFIGS["omniglot-5w1s-hypermaml-sl-cos3-b4"] = {
    **CONFIGS["omniglot-5w1s-hypermaml-sl-cos3"], "batch_size": 4,
}
# ... and with a prototype head (Proto-MAML's init; not the paper's universal head)
CONFIGS["omniglot-5w1s-hypermaml-proto-sl-cos3-b4"] = {
    **CONFIGS["omniglot-5w1s-hypermaml-sl-cos3-b4"],
    "args": {"support_loss": True, "head_init": "prototypes"},
}
CONFIGS["quick"] = {
    "tasks": "sinusoid", "k_shot": 5, "q_train": 10, "q_test": 10, "batch_size": 10, "steps": 100,
    "lr": 3e-3, "method": "hypermaml", "args": {"hidden": [64]},
}


def build(cfg: dict[str, Any], data: Path, seed: int) -> tuple[Any, Any, Any]:
    """The method and its train / test samplers for a configuration."""
    method_cls = hf.methods.get(cfg["method"])
    if cfg["tasks"] == "omniglot":
        n, k = cfg["n_way"], cfg["k_shot"]
        make = hf.tasks.get("omniglot")
        train = make("background", n, k, cfg["q_train"], cfg["batch_size"], seed=seed, root=data)
        test = make("evaluation", n, k, cfg["q_test"], 50 if n == 5 else 20, seed=seed + 10_000, root=data)
        torch.manual_seed(seed)
        if cfg["method"] == "maml":
            return method_cls(hf.stateless(hf.targets.conv4(num_classes=n)), **cfg["args"]), train, test
        backbone = hf.stateless(hf.targets.conv4(num_classes=0))
        kw: dict[str, Any] = {"n_way": n, "k_shot": k, **cfg["args"]}
        if cfg["method"] == "hypermaml":
            kw["feature_dim"] = feature_size(backbone, train.example_shape)
        if cfg["method"] == "protonets":
            kw = {}
        return method_cls(backbone, **kw), train, test
    k = cfg["k_shot"]
    train = hf.fewshot.Sinusoid(k_shot=k, q_query=cfg["q_train"], batch_size=cfg["batch_size"], seed=seed)
    test = hf.fewshot.Sinusoid(k_shot=k, q_query=cfg["q_test"], batch_size=100, seed=seed + 10_000)
    torch.manual_seed(seed)
    if cfg["method"] == "maml":
        target = hf.stateless(hf.targets.mlp(1, 1, hidden=(40, 40)))
        return method_cls(target, loss="mse", **cfg["args"]), train, test
    backbone = hf.stateless(hf.targets.mlp(1, 40, hidden=(40,)))  # MLP 1-40-40 + a generated head 40-1
    return method_cls(backbone, n_way=1, k_shot=k, feature_dim=40, loss="mse", **cfg["args"]), train, test


class _Timed:
    """A test sampler that notes when its first meta-batch is drawn (the start of the test episodes)."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler
        self.started: float | None = None

    @property
    def batch_size(self) -> int:
        return int(self.sampler.batch_size)

    def batch(self, index: int) -> Any:
        if self.started is None:
            self.started = time.perf_counter()
        return self.sampler.batch(index)

    def __repr__(self) -> str:  # the run's identity names the sampler itself
        return repr(self.sampler)


def run(name: str, seed: int, data: Path, threads: int, device: str, time_limit: float | None,
        steps: int | None, save: bool, runs: Path = RUNS, test_episodes: int = 600) -> dict[str, Any]:
    cfg = CONFIGS[name]
    torch.set_num_threads(threads)
    method, train, test = build(cfg, data, seed)
    config = FewShotConfig(steps=steps or cfg["steps"], lr=cfg["lr"], test_episodes=test_episodes, seed=seed,
                           device=device, time_limit=time_limit,
                           lr_schedule=cfg.get("schedule", "constant"), progress=sys.stderr.isatty())
    timed = _Timed(test)
    summary = run_fewshot(method, train, timed, config)
    # the results' "seconds" cover training and the test episodes: split them at the first test batch
    test_seconds = time.perf_counter() - timed.started if timed.started is not None else None
    train_seconds = summary["seconds"] - (test_seconds or 0.0)
    row = {
        "config": name, "seed": seed, "method": cfg["method"], "tasks": cfg["tasks"],
        "n_way": cfg.get("n_way"), "k_shot": cfg["k_shot"], "batch_size": cfg["batch_size"],
        "q_train": cfg["q_train"], "q_test": cfg["q_test"], "args": cfg["args"],
        "steps_planned": config.steps, "lr": cfg["lr"], "lr_schedule": config.lr_schedule,
        "time_limit_min": time_limit,
        **{k: summary[k] for k in ("metric", "test_mean", "test_ci95", "test_episodes", "steps_done",
                                   "stopped_by_time_limit")},
        "train_seconds": train_seconds, "test_seconds": test_seconds,
        "method_settings": summary["method_settings"],
        "device": device, "device_name": summary["environment"]["device_name"], "threads": threads,
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if save:
        with runs.open("a") as f:
            f.write(json.dumps(row) + "\n")
    return row


def table(runs: Path = RUNS) -> str:
    lines = runs.read_text().splitlines() if runs.exists() else []
    rows = [json.loads(line) for line in lines if line.strip()]
    out = [
        "| config | device | settings | meta-batch | steps done | test | train time | test time |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["tasks"], r["config"], r["device"] != "cpu", r["date"])):
        args = ", ".join(f"{k} {v}" for k, v in r["args"].items())
        if r["lr"] != 1e-3 or r.get("lr_schedule", "constant") != "constant":
            cos = " cos" if r.get("lr_schedule") == "cosine" else ""
            args += f"{', ' if args else ''}lr {r['lr']:g}{cos}"
        args = args or "–"
        if r["metric"] == "accuracy":
            score = f"{100 * r['test_mean']:.2f} ± {100 * r['test_ci95']:.2f} %"
        else:
            score = f"MSE {r['test_mean']:.3f} ± {r['test_ci95']:.3f}"
        where = "CPU 2 thr" if r["device"] == "cpu" else r["device_name"]
        stop = " (time limit)" if r["stopped_by_time_limit"] else ""
        if r.get("from_log"):
            stop += " ¹"
        out.append(
            f"| {r['config']} | {where} | {args} | {r['batch_size']} | {r['steps_done']}{stop} | {score} "
            f"({r['test_episodes']} ep.) | {r['train_seconds'] / 60:.1f} min | "
            + (f"{r['test_seconds']:.0f} s |" if r["test_seconds"] is not None else "– |")
        )
    return "\n".join(out)


def summary(runs: Path = RUNS) -> str:
    """Method × setting matrix of the GPU sweep (the runs with a 6-minute time limit), and the CPU runs."""
    lines = runs.read_text().splitlines() if runs.exists() else []
    rows = [json.loads(line) for line in lines if line.strip()]
    out = ["| method | 5-way 1-shot | 5-way 5-shot | 20-way 1-shot | sinusoid 5-shot MSE "
           "| sinusoid 10-shot MSE |", "|---|---:|---:|---:|---:|---:|"]
    for m in METHODS:
        cells = []
        for key in [f"omniglot-{s}-{m}" for s in SETTINGS] + [f"sinusoid-{k}shot-{m}" for k in (5, 10)]:
            hit = [r for r in rows if r["config"] == key and r.get("time_limit_min") == 6.0]
            if not hit:
                cells.append("–")
            elif hit[0]["metric"] == "accuracy":
                cells.append(f"{100 * hit[0]['test_mean']:.2f} ± {100 * hit[0]['test_ci95']:.2f} %")
            else:
                cells.append(f"{hit[0]['test_mean']:.3f} ± {hit[0]['test_ci95']:.3f}")
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def record(text: str) -> None:
    record_section("bench_fewshot", [
        "## Few-shot accuracy (Omniglot) and sinusoid regression",
        "",
        "- command per run: `python benchmarks/bench_fewshot.py --config CONFIG [--time-limit MIN] "
        "[--device cuda]`; table: `python benchmarks/bench_fewshot.py --table --record`; every run is "
        "in `benchmarks/fewshot_runs.jsonl`",
        "- Omniglot 28×28, rotations as extra classes; meta-train on the background split (3,856 "
        "classes), test on the evaluation split (2,636 classes, never seen); training episodes have 5 "
        "queries per class, test episodes 15; mean ± 1.96·std/√n over the test episodes",
        "- backbone conv4 (64 channels, batch norm with the episode's statistics); Adam 1e-3",
        "- sinusoid: MLP 1-40-40-1 (HyperMAML: backbone 1-40-40, generated head 40-1); test MSE on 10 "
        "query points per task after adaptation, 600 tasks",
        "- GPU rows: one H200, all 17 configurations at once (one process each, `--device cuda --threads 1 "
        "--steps 40000 --time-limit 6`, sinusoid `--steps 20000`), so each had a share of the GPU for 6 "
        "minutes of training; the log is `benchmarks/fewshot_gpu_2026-11-26.log`. ¹ the JSON row of "
        "this run was not fetched back from the GPU machine: the figures are the rounded ones of its "
        "printed summary line. Later on the same day: six HyperMAML 5-way 1-shot variants at the CPU "
        "budget (`--steps 3500`, six at once, 1.5 min each), then two of them with `--steps 15000` "
        "(two at once, 2.5 min)",
        "",
        "GPU sweep (H200, 6 minutes of training each, seed 0; published: MAML 98.7 / 99.9 / 95.8 %, "
        "ProtoNets 98.8 / 99.7 / 96.0 % after far longer training):",
        "",
        summary(),
        "",
        "CPU target (about an hour on this 2-core CPU, 5-way 1-shot, >= 97 %): ProtoNets met it "
        "(97.78 %, 55 min). HyperMAML as in the paper (a learned universal head) missed it: 96.12 % "
        "(16 episodes per meta-batch, 3,279 steps) and 96.36 % (4 episodes, 19,804 steps), 58 min each; "
        "on the GPU it passes 97 % after ~15,000 steps of 16 episodes (97.37 / 97.51 %), about four hours "
        "of this CPU. HyperMAML with `head_init=\"prototypes\"` (the generated update added to each "
        "episode's prototype head, as in Proto-MAML: a departure from the paper) met it: **98.19 ± 0.25 %** "
        "after 15,000 steps of 4 episodes in 58 min (config omniglot-5w1s-hypermaml-proto-sl-cos3-b4, "
        "`--steps 21000 --time-limit 58`; niced tests shared the CPU for part of the hour), and 96.68 % "
        "after 2,000 steps (7.3 min) against 91.96 % for the universal head.",
        "",
        "Every run:",
        "",
        text,
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=None, help="override the configuration's steps")
    p.add_argument("--time-limit", type=float, default=None, metavar="MIN", help="stop training after MIN")
    p.add_argument("--runs-file", type=Path, default=RUNS)
    p.add_argument("--test-episodes", type=int, default=600)
    p.add_argument("--quick", action="store_true", help="CI smoke run (sinusoid, seconds)")
    p.add_argument("--table", action="store_true")
    p.add_argument("--record", action="store_true")
    a = p.parse_args()
    if a.quick:
        row = run("quick", 0, a.data, a.threads, a.device, None, None, save=False)
        print(f"quick: sinusoid 5-shot test MSE {row['test_mean']:.3f}")
        return 0 if row["test_mean"] < 4.0 else 1  # an untrained net predicts ~4.3 (mean A²/2)
    if a.table:
        text = table(a.runs_file)
        print(text)
        if a.record:
            record(text)
        return 0
    if not a.config:
        p.error("give --config, --quick or --table")
    row = run(a.config, a.seed, a.data, a.threads, a.device, a.time_limit, a.steps, save=True,
              runs=a.runs_file, test_episodes=a.test_episodes)
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
