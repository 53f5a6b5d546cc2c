import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import grad

import hyperfunc as hf
from hyperfunc.continual import (
    HNET,
    ContinualConfig,
    FineTune,
    HyperMask,
    OnlineEWC,
    TaskBatch,
    TaskStream,
    run_continual,
    split_stream,
)
from hyperfunc.datasets import load_digits
from hyperfunc.run import CheckpointMismatchError, RunDirectoryError

CONFIG = ContinualConfig(steps=60, batch_size=32, lr=3e-3, progress=False)


@pytest.fixture(scope="module")
def stream() -> TaskStream:
    return split_stream(load_digits(), groups=[[0, 1], [2, 3], [4, 5]])


def target() -> hf.Target:
    return hf.stateless(hf.targets.mlp(64, 2, hidden=(32,)))


def hnet(**kw: object) -> HNET:
    return HNET(target(), 3, emb_dim=8, hypernet_args={"chunk_size": 256, "hidden": (32,)}, **kw)  # type: ignore[arg-type]


def test_regulariser_keeps_old_weights(stream: TaskStream) -> None:
    drift = {}
    for beta in (0.0, 1.0):
        torch.manual_seed(0)
        method = hnet(beta=beta)
        snap = []
        for t in range(3):
            method.begin_task(t)
            opt = torch.optim.Adam(method.trainable(t), lr=3e-3)
            task = stream[t]
            for _ in range(150):
                idx = torch.randint(0, len(task.x_train), (32,))
                loss, _ = method.loss(TaskBatch(t, task.x_train[idx], task.y_train[idx]))
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                snap.append(method.target.spec.flatten(method.weights(t)))
        with torch.no_grad():
            now = method.target.spec.flatten(method.weights(0))
        drift[beta] = float((now - snap[0]).norm() / snap[0].norm())
    assert drift[1.0] < 0.02, drift
    assert drift[0.0] > 5 * drift[1.0], drift


def test_batched_regulariser_equals_loop() -> None:
    torch.manual_seed(0)
    a = hnet(beta=0.5)
    b = hnet(beta=0.5, batched_regulariser=False)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():  # make the outputs differ from the stored ones
        a.begin_task(2)
        b.begin_task(2)
        for m in (a, b):
            for p in m.hnet.parameters():
                p.add_(0.01)
    x, y = torch.rand(16, 64), torch.randint(0, 2, (16,))
    la, loga = a.loss(TaskBatch(2, x, y))
    lb, _ = b.loss(TaskBatch(2, x, y))
    assert loga["regulariser"] > 0
    torch.testing.assert_close(la, lb)
    ga = torch.autograd.grad(la, list(a.hnet.parameters()))
    gb = torch.autograd.grad(lb, list(b.hnet.parameters()))
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-6)


def test_reg_subset_samples_earlier_tasks() -> None:
    m = hnet(beta=1.0, reg_subset=1)
    m.begin_task(2)
    ids = {tuple(m._old_ids(2).tolist()) for _ in range(30)}
    assert ids == {(0,), (1,)}
    with pytest.raises(ValueError, match="reg_subset must be >= 1"):
        hnet(reg_subset=0)


def test_task_id_beyond_method() -> None:
    with pytest.raises(IndexError, match=r"task id 3 is beyond this HNET, built for tasks 0..2"):
        hnet().weights(3)


def test_ewc_fisher_equals_looped_per_example_gradients(stream: TaskStream) -> None:
    torch.manual_seed(0)
    m = OnlineEWC(target(), 3, fisher_samples=20)
    task = stream[0]
    state = torch.get_rng_state()
    m.end_task(0, task)
    torch.set_rng_state(state)  # replay the same sample choice and sampled labels
    idx = torch.randperm(len(task.x_train))[:20]
    w = m.flat.detach()
    with torch.no_grad():
        probs = torch.softmax(m.target(m.weights_from(w, 0), task.x_train[idx]), -1)
    ys = torch.multinomial(probs, 1).squeeze(1)
    ref = torch.zeros_like(w)

    def nll(v: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(m.target(m.weights_from(v, 0), x[None]), y[None])

    for x, y in zip(task.x_train[idx], ys):
        ref += grad(nll)(w, x, y).pow(2)
    torch.testing.assert_close(m.fisher, ref / 20, rtol=1e-4, atol=1e-8)
    assert torch.equal(m.anchor, w)


@pytest.mark.parametrize("cls", [HNET, HyperMask, FineTune, OnlineEWC])
def test_every_method_learns_the_first_task(cls: type, stream: TaskStream) -> None:
    torch.manual_seed(0)
    kw = {"emb_dim": 8} if cls in (HNET, HyperMask) else {}
    res = run_continual(cls(target(), 3, **kw), stream, CONFIG)
    assert res["R"][0][0] > 0.9
    assert len(res["phases"]) == 3 and res["steps_done"] == 3 * CONFIG.steps


def test_hnet_forgets_less_than_finetuning(stream: TaskStream) -> None:
    torch.manual_seed(0)
    ft = run_continual(FineTune(target(), 3), stream, CONFIG)
    torch.manual_seed(0)
    hn = run_continual(hnet(beta=0.05), stream, CONFIG)
    assert hn["backward_transfer"] > -0.02
    assert hn["backward_transfer"] > ft["backward_transfer"]
    cil = hn["class_incremental_accuracy"]
    assert len(cil) == 3 and 0 <= cil[-1] <= 1


class Interrupt(Exception):
    pass


def test_resume_gives_identical_results(stream: TaskStream, tmp_path: Path) -> None:
    torch.manual_seed(0)
    full = run_continual(hnet(), stream, CONFIG, out=tmp_path / "full")

    class Breaking(TaskStream):
        def __init__(self, inner: TaskStream) -> None:
            super().__init__(inner.name, inner.dataset, inner.num_tasks, inner.num_outputs, inner.flatten)
            self.inner = inner

        def classes_of(self, index: int) -> tuple[int, ...]:
            return self.inner.classes_of(index)

        def _build(self, index: int):  # type: ignore[no-untyped-def]
            if index == 2:
                raise Interrupt
            return self.inner._build(index)

    torch.manual_seed(0)
    with pytest.raises(Interrupt):
        run_continual(hnet(), Breaking(stream), CONFIG, out=tmp_path / "part")
    assert not (tmp_path / "part" / "results.json").exists()
    torch.manual_seed(123)  # resuming must not depend on the caller's RNG
    resumed = run_continual(hnet(), stream, CONFIG, out=tmp_path / "part", resume=True)
    assert resumed["R"] == full["R"]
    assert resumed["class_incremental_accuracy"] == full["class_incremental_accuracy"]
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "model.pt", weights_only=True)
    for k in a:
        if k != "_extra_state":
            assert torch.equal(a[k], b[k]), k
    assert torch.equal(a["_extra_state"]["old_outputs"], b["_extra_state"]["old_outputs"])
    data = json.loads((tmp_path / "part" / "results.json").read_text())
    assert data["average_accuracy"] == full["average_accuracy"]
    assert (tmp_path / "part" / "accuracy.png").stat().st_size > 1000


def test_checkpoint_from_another_method_is_refused(stream: TaskStream, tmp_path: Path) -> None:
    torch.manual_seed(0)
    run_continual(FineTune(target(), 3), stream, CONFIG, out=tmp_path)
    with pytest.raises(
        CheckpointMismatchError, match=r"another run \(method: checkpoint 'FineTune', now 'HNET'"
    ):
        run_continual(hnet(), stream, CONFIG, out=tmp_path, resume=True)
    other = hf.stateless(hf.targets.mlp(64, 2, hidden=(16,)))
    with pytest.raises(CheckpointMismatchError, match="spec"):
        run_continual(FineTune(other, 3), stream, CONFIG, out=tmp_path, resume=True)


def test_out_directory_rules(stream: TaskStream, tmp_path: Path) -> None:
    run = tmp_path / "run"
    small = ContinualConfig(steps=2, progress=False)
    run_continual(FineTune(target(), 3), stream, small, out=run)
    with pytest.raises(RunDirectoryError, match="already holds a run; pass --resume"):
        run_continual(FineTune(target(), 3), stream, small, out=run)
    run_continual(FineTune(target(), 3), stream, small, out=run, overwrite=True)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("precious")
    with pytest.raises(RunDirectoryError, match="was not written by hyperfunc"):
        run_continual(
            FineTune(target(), 3),
            stream,
            small,
            out=other,
            overwrite=True,
        )
    assert (other / "notes.txt").read_text() == "precious"
    with pytest.raises(RunDirectoryError, match="nothing to resume"):
        run_continual(
            FineTune(target(), 3),
            stream,
            small,
            out=tmp_path / "new",
            resume=True,
        )


def test_multihead_baselines_keep_a_head_per_task(stream: TaskStream) -> None:
    torch.manual_seed(0)
    m = FineTune(target(), 3)
    assert m.head_names == ["2.weight", "2.bias"]
    w0, w1 = m.weights(0), m.weights(1)
    assert torch.equal(w0["0.weight"], w1["0.weight"]) and not torch.equal(w0["2.weight"], w1["2.weight"])
    before = {k: v.detach().clone() for k, v in m.weights(0).items()}
    task = stream[1]
    opt = torch.optim.SGD(m.trainable(1), lr=0.5)
    loss, _ = m.loss(TaskBatch(1, task.x_train[:32], task.y_train[:32]))
    loss.backward()
    opt.step()
    after = m.weights(0)
    assert torch.equal(after["2.weight"], before["2.weight"])  # task 0's head untouched
    assert not torch.equal(after["0.weight"], before["0.weight"])  # shared trunk trained
    single = FineTune(target(), 3, multihead=False)
    assert single.head_names == [] and single.flat.numel() == single.target.spec.size
    assert m.flat.numel() == m.target.spec.size + 2 * (32 * 2 + 2)


def test_cosine_schedule_decays_the_learning_rate_within_each_task(
    stream: TaskStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    lrs: list[float] = []
    step = torch.optim.Adam.step

    def spy(self: torch.optim.Adam, *a: object, **k: object) -> object:
        lrs.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    cfg = ContinualConfig(steps=10, batch_size=16, lr=1e-2, lr_schedule="cosine", progress=False)
    torch.manual_seed(0)
    run_continual(FineTune(target(), 3), stream, cfg)
    assert len(lrs) == 30
    per_task = np.array(lrs).reshape(3, 10)
    expected = 0.5 * 1e-2 * (1 + np.cos(np.pi * np.arange(10) / 10))  # restarts every task
    np.testing.assert_allclose(per_task, np.tile(expected, (3, 1)), rtol=1e-6)


def test_bad_device_and_schedule_are_refused() -> None:
    with pytest.raises(ValueError, match="not a torch device"):
        ContinualConfig(device="gpu0")
    with pytest.raises(ValueError, match="lr_schedule"):
        ContinualConfig(lr_schedule="linear")


def test_results_do_not_depend_on_the_device_string(stream: TaskStream) -> None:
    # "cpu" and "cpu:0" take the same path, and minibatch sampling stays on the CPU generator
    cfgs = [ContinualConfig(steps=5, batch_size=16, device=d, progress=False) for d in ("cpu", "cpu:0")]
    rs = []
    for cfg in cfgs:
        torch.manual_seed(0)
        rs.append(run_continual(hnet(), stream, cfg)["R"])
    assert rs[0] == rs[1]
