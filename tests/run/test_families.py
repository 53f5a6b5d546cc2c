"""Every family honours the shared flags: the schedule, the time limit, metrics, model.pt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hyperfunc._cli import main

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

FAMILIES = {
    "continual": ["--method", "finetune", "--target-arg", "hidden=[8]"],
    "fewshot": [
        "--method",
        "maml",
        "--tasks",
        "sinusoid",
        "--target",
        "mlp",
        "--target-arg",
        "hidden=[8]",
        "--method-arg",
        "inner_lr=0.01",
        "--test-episodes",
        "5",
    ],
    "fields": [
        "--method",
        "image-hypernet",
        "--tasks",
        "omniglot-images",
        "--data",
        str(DATA),
        "--task-arg",
        "test_images=2",
        "--batch-size",
        "2",
        "--method-arg",
        "hidden=[8]",
        "--method-arg",
        "embedding_dim=8",
    ],
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_schedule_time_limit_metrics_and_model(family: str, tmp_path: Path) -> None:
    if family == "fields" and not (DATA / "omniglot_28.npz").exists():
        pytest.skip("needs ../shared/data")
    args = ["run", *FAMILIES[family], "--no-progress", "--log-every", "1", "--lr", "0.01"]
    out = tmp_path / "cos"
    assert main([*args, "--steps", "6", "--lr-schedule", "cosine", "--out", str(out)]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    first = rows[0]["phase"]
    lrs = [r["lr"] for r in rows if r.get("phase") == first and "lr" in r]
    assert len(lrs) == 6 and lrs[0] == pytest.approx(0.01 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi / 6))))
    assert all(a > b for a, b in zip(lrs, lrs[1:]))  # decays over the phase
    state = torch.load(out / "model.pt", weights_only=True)
    assert state and all(isinstance(k, str) for k in state)
    res = json.loads((out / "results.json").read_text())
    assert res["settings"]["lr_schedule"] == "cosine" and res["environment"]["torch"] == torch.__version__
    limited = tmp_path / "limited"
    assert main([*args, "--steps", "100000", "--time-limit", "0.002", "--out", str(limited)]) == 0
    res = json.loads((limited / "results.json").read_text())
    assert res["stopped_by_time_limit"] is True and res["steps_done"] < 100000
