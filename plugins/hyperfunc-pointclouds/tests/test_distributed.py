"""evaluate() split over two processes (gloo) gives one process's numbers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from hyperfunc_pointclouds import HyperCloud, evaluate, shapes

SCRIPT = """
import json, torch
import hyperfunc.distributed as hd
from hyperfunc_pointclouds import HyperCloud, evaluate, shapes
hd.init("cpu", timeout=30)
torch.manual_seed(0)
model = HyperCloud(dim=16, hypernet_hidden=(32,))
result = evaluate(model, shapes(7, 64, seed=1), batch_size=2, seed=3)
if hd.current().main:
    print(json.dumps(result))
hd.shutdown()
"""


def test_two_processes_score_the_clouds_as_one_does() -> None:
    torch.manual_seed(0)
    model = HyperCloud(dim=16, hypernet_hidden=(32,))
    expected = evaluate(model, shapes(7, 64, seed=1), batch_size=2, seed=3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"}
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        cmd = [sys.executable, "-c", SCRIPT]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    got = json.loads(outputs[0])
    assert outputs[1] == ""
    assert got["num_clouds"] == 7 and got["per_kind"].keys() == expected["per_kind"].keys()
    assert got["per_cloud"] == pytest.approx(expected["per_cloud"], rel=1e-5)
    assert got["chamfer"] == pytest.approx(expected["chamfer"], rel=1e-5)
