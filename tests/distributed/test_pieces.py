"""hyperfunc.distributed's pieces on one process: launcher variables, shares, shards, errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import hyperfunc.distributed as hd
from hyperfunc.continual import TaskBatch
from hyperfunc.distributed._world import _launch
from hyperfunc.fewshot import Episodes
from hyperfunc.fields import ImageBatch


def _world(rank: int, size: int) -> hd.World:
    return hd.World(rank=rank, size=size, local_rank=rank, backend="gloo")


@given(st.integers(0, 200), st.integers(1, 17))
def test_shares_cover_every_item_once_in_rank_order(n: int, size: int) -> None:
    parts = [range(n)[hd.share(n, _world(r, size))] for r in range(size)]
    assert [i for p in parts for i in p] == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.parametrize("size", [2, 3, 4])
def test_shards_of_a_batch_put_together_are_the_batch_and_weigh_their_share(size: int) -> None:
    episodes = Episodes(torch.rand(10, 4, 1, 5, 5), n_way=3, k_shot=1, q_query=2, batch_size=7, seed=1)
    batches: list[Any] = [
        episodes.batch(0),
        TaskBatch(2, torch.rand(9, 4), torch.arange(9)),
        ImageBatch(torch.rand(8, 1, 4, 4), None, None, torch.randint(0, 16, (8, 5))),
        (torch.rand(6, 2), torch.arange(6)),
        {"x": torch.rand(5, 3), "y": torch.arange(5), "scale": torch.tensor(2.0), "name": "kept"},
    ]
    for batch in batches:
        parts = [hd.shard(batch, _world(r, size)) for r in range(size)]
        assert sum(w for _, w in parts) == pytest.approx(1.0)
        n = hd.batch_size(batch)
        for part, weight in parts:
            assert hd.batch_size(part) == pytest.approx(weight * n)
        first = [p for p, _ in parts]
        if isinstance(batch, TaskBatch):
            assert all(p.task == 2 for p in first)
            torch.testing.assert_close(torch.cat([p.x for p in first]), batch.x)
        elif isinstance(batch, ImageBatch):
            assert all(p.mask is None and p.targets is None for p in first)
            torch.testing.assert_close(torch.cat([p.pixels for p in first]), batch.pixels)
        elif isinstance(batch, dict):
            assert all(p["name"] == "kept" and p["scale"] == 2.0 for p in first)
            torch.testing.assert_close(torch.cat([p["x"] for p in first]), batch["x"])
        elif isinstance(batch, tuple):
            torch.testing.assert_close(torch.cat([p[0] for p in first]), batch[0])
        else:
            torch.testing.assert_close(torch.cat([p.x_query for p in first]), batch.x_query)


def test_one_process_keeps_the_whole_batch() -> None:
    batch = (torch.rand(3, 2),)
    assert hd.shard(batch) == (batch, 1.0)


def test_a_batch_that_cannot_be_split_is_refused_naming_why() -> None:
    with pytest.raises(ValueError, match=r"leading sizes differ: \{'batch\[0\]': 4, 'batch\[1\]': 3\}"):
        hd.shard((torch.rand(4), torch.rand(3)), _world(0, 2))
    with pytest.raises(ValueError, match="holds no tensor"):
        hd.shard({"a": 1}, _world(0, 2))
    with pytest.raises(ValueError, match="a batch of 2 can't be split over 3 processes"):
        hd.shard(torch.rand(2, 5), _world(0, 3))


def test_the_launchers_variables() -> None:
    assert _launch({}) is None
    assert _launch({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (1, 4, 1)
    assert _launch({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1"}) == (5, 8, 1)
    assert _launch({"SLURM_NTASKS": "1", "SLURM_PROCID": "0"}) is None  # a one-task job: one process
    with pytest.raises(hd.DistributedError, match=r"missing \['LOCAL_RANK'\]"):
        _launch({"RANK": "0", "WORLD_SIZE": "2"})
    with pytest.raises(hd.DistributedError, match=r"not a number \['RANK'\]"):
        _launch({"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(hd.DistributedError, match="RANK=2 is not in 0..1"):
        _launch({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_init_without_rank_0s_address_says_which_variable_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_LOCALID", "0")
    with pytest.raises(hd.DistributedError, match="MASTER_ADDR and MASTER_PORT must be set"):
        hd.init()
    assert hd.current() == hd.World()
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        hd.init(timeout=0)


def test_a_bare_cuda_device_means_this_process_s_own_gpu() -> None:
    w = hd.World(rank=5, size=8, local_rank=1, backend="nccl")
    assert w.device("cuda") == torch.device("cuda", 1)
    assert w.device("cuda:0") == torch.device("cuda", 0)
    assert w.device("cpu") == torch.device("cpu")
    assert hd.World().device("cuda") == torch.device("cuda")


def test_collectives_on_one_process_return_their_input() -> None:
    x = torch.tensor([1.0, 2.0])
    assert hd.reduce_sum(x) is x and hd.gather(x) is x
    assert hd.broadcast_json({"a": [1]}) == {"a": [1]}
    hd.check_same("settings", {"lr": 1})
