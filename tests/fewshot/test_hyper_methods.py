"""HyperMAML and HyperShot against hand-built looped computations, learning on quick problems, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics.pairwise import cosine_similarity
from torch import nn

import hyperfunc as hf
from hyperfunc.fewshot import (
    EpisodeBatch,
    Episodes,
    HyperMAML,
    HyperShot,
    ProtoNets,
    Sinusoid,
    evaluate,
    feature_size,
    kernel_matrix,
)

from ._helpers import _clusters, _episodes, fit


def _shuffled(batch: EpisodeBatch, seed: int = 0) -> EpisodeBatch:
    """The same episodes with each support set in a random order."""
    g = torch.Generator().manual_seed(seed)
    b, s = batch.y_support.shape
    perm = torch.stack([torch.randperm(s, generator=g) for _ in range(b)])
    x = batch.x_support.gather(1, perm.reshape(b, s, *[1] * (batch.x_support.dim() - 2))
                               .expand_as(batch.x_support))
    return EpisodeBatch(x, batch.y_support.gather(1, perm), batch.x_query, batch.y_query, batch.n_way)


def _perturb(module: nn.Module, scale: float = 0.3) -> None:
    """Give zero-initialised outputs (the hypernetwork's last layer) non-zero weights."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


# ------------------------------------------------------------------------------ HyperMAML
@pytest.mark.parametrize("per_class", [True, False])
def test_hypermaml_equals_looped_hand_computation(per_class: bool) -> None:
    batch = _shuffled(_episodes(n_way=4, k_shot=2))
    method = HyperMAML(hf.stateless(hf.targets.mlp(8, 6, hidden=(16,))), n_way=4, k_shot=2, feature_dim=6,
                       hidden=(32,), per_class=per_class)
    _perturb(method.hypernet.head)
    logits = method.predict(batch)
    w, head = method.weights(), {n: p for n, p in method.head_params.items()}
    for b in range(3):
        order = sorted(range(8), key=lambda i: (int(batch.y_support[b, i]), i))
        feats = method.target(w, batch.x_support[b])[order]
        labels = batch.y_support[b][order]
        universal = _linear(head["weight"], head["bias"])
        probs = torch.softmax(universal(feats), -1)
        z = torch.cat([feats, probs, F.one_hot(labels, 4).float()], -1)
        if per_class:
            rows = [method.hypernet(z[2 * c: 2 * c + 2].flatten()) for c in range(4)]
            delta_w = torch.cat([r["weight"] for r in rows])
            delta_b = torch.cat([r["bias"] for r in rows])
        else:
            d = method.hypernet(z.flatten())
            delta_w, delta_b = d["weight"], d["bias"]
        assert delta_w.abs().sum() > 0  # the perturbed update is not trivially zero
        adapted = _linear(head["weight"] + delta_w, head["bias"] + delta_b)
        expected = adapted(method.target(w, batch.x_query[b]))
        torch.testing.assert_close(logits[b], expected, rtol=1e-5, atol=1e-5)


def test_hypermaml_update_starts_at_zero_and_one_shot_order_does_not_matter() -> None:
    batch = _episodes(n_way=4, k_shot=1)
    method = HyperMAML(hf.stateless(hf.targets.mlp(8, 6, hidden=(16,))), n_way=4, k_shot=1, feature_dim=6)
    head = method.adapted_head(batch)
    for n, p in method.head_params.items():
        torch.testing.assert_close(head[n], p.detach().expand_as(head[n]))  # Δ = 0 at initialisation
    _perturb(method.hypernet.head)
    torch.testing.assert_close(method.predict(_shuffled(batch, 1)), method.predict(batch))


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_hypermaml_warmup_step_equals_autograd_maml_step(loss: str) -> None:
    if loss == "mse":
        batch = Sinusoid(k_shot=5, q_query=3, batch_size=3, seed=0).batch(0)
        backbone, n_way, k_shot = hf.stateless(hf.targets.mlp(1, 6, hidden=(8,))), 1, 5
    else:
        batch = _shuffled(_episodes(n_way=4, k_shot=2))
        backbone, n_way, k_shot = hf.stateless(hf.targets.mlp(8, 6, hidden=(16,))), 4, 2
    method = HyperMAML(backbone, n_way=n_way, k_shot=k_shot, feature_dim=6, hidden=(16,),
                       warmup_steps=4, inner_lr=0.3, loss=loss)
    _perturb(method.hypernet.head)
    assert method.blend == 0.0
    head = method.adapted_head(batch)  # α = 0: one MAML step on the head, nothing from the hypernetwork
    w = method.weights()
    for b in range(3):
        feats = method.target(w, batch.x_support[b]).detach()
        theta = {n: p.detach().clone().requires_grad_() for n, p in method.head_params.items()}
        out = feats @ theta["weight"].T + theta["bias"]
        fn = F.mse_loss if loss == "mse" else F.cross_entropy
        inner = fn(out, batch.y_support[b])
        grads = torch.autograd.grad(inner, list(theta.values()))
        for (n, p), g in zip(theta.items(), grads):
            torch.testing.assert_close(head[n][b], p - 0.3 * g, rtol=1e-5, atol=1e-6)
    # the blend moves from the MAML step to the hypernetwork over the warm-up training calls
    blends = []
    for _ in range(5):
        blends.append(method.blend)
        method.loss(batch)
    assert blends == [0.0, 0.25, 0.5, 0.75, 1.0] and int(method.steps_done) == 5
    method.eval()
    method.loss(batch)  # evaluation calls do not advance the warm-up
    assert int(method.steps_done) == 5
    assert "steps_done" in method.state_dict()


def test_hypermaml_prototype_head_starts_as_protonets_and_adds_the_generated_update() -> None:
    batch = _shuffled(_episodes(n_way=4, k_shot=2))
    backbone = hf.stateless(hf.targets.mlp(8, 6, hidden=(16,)))
    method = HyperMAML(backbone, n_way=4, k_shot=2, feature_dim=6, hidden=(32,), head_init="prototypes")
    assert len(method.head_params) == 0 and method.describe()["head_init"] == "prototypes"
    protonets = ProtoNets(backbone, params=method.weights())
    # Δ = 0 at initialisation: the same class probabilities as ProtoNets (squared distances)
    torch.testing.assert_close(method.predict(batch).softmax(-1), protonets.predict(batch).softmax(-1))
    _perturb(method.hypernet.head)
    logits = method.predict(batch)
    w = method.weights()
    for b in range(3):
        order = sorted(range(8), key=lambda i: (int(batch.y_support[b, i]), i))
        feats = method.target(w, batch.x_support[b])[order]
        labels = batch.y_support[b][order]
        protos = torch.stack([feats[labels == c].mean(0) for c in range(4)])
        base = _linear(2 * protos, -(protos**2).sum(-1))
        z = torch.cat([feats, torch.softmax(base(feats), -1), F.one_hot(labels, 4).float()], -1)
        rows = [method.hypernet(z[2 * c: 2 * c + 2].flatten()) for c in range(4)]
        adapted = _linear(base.weight + torch.cat([r["weight"] for r in rows]),
                          base.bias + torch.cat([r["bias"] for r in rows]))
        expected = adapted(method.target(w, batch.x_query[b]))
        torch.testing.assert_close(logits[b], expected, rtol=1e-5, atol=1e-5)
    loss, _ = method.loss(batch)
    loss.backward()
    assert all(p.grad is not None for p in method.hypernet.parameters())


def test_hypermaml_learns_gaussian_clusters() -> None:
    data = _clusters()
    train = Episodes(data[:40], n_way=5, k_shot=1, q_query=5, batch_size=16, seed=0)
    test = Episodes(data[40:], n_way=5, k_shot=1, q_query=5, batch_size=50, seed=1)  # novel classes
    method = HyperMAML(hf.stateless(hf.targets.mlp(16, 16, hidden=(32,))), n_way=5, k_shot=1,
                       feature_dim=16, hidden=(64,))
    before, _ = evaluate(method, test, episodes=4 * test.batch_size)
    fit(method, train, steps=150, lr=3e-3)
    after, ci = evaluate(method, test, episodes=4 * test.batch_size)
    # measured: 0.20 -> 0.73 ± 0.02 after 150 steps
    assert before < 0.3 and after > 0.6 and ci < 0.05


def test_hypermaml_regression_learns_sinusoids() -> None:
    method = HyperMAML(hf.stateless(hf.targets.mlp(1, 40, hidden=(40,))), n_way=1, k_shot=10,
                       feature_dim=40, hidden=(64,), loss="mse")
    test = Sinusoid(k_shot=10, batch_size=50, seed=1)
    before, _ = evaluate(method, test, episodes=2 * test.batch_size)
    fit(method, Sinusoid(k_shot=10, batch_size=25), steps=300, lr=3e-3)
    after, _ = evaluate(method, test, episodes=2 * test.batch_size)
    # measured: 3.6 -> 0.84 query MSE (amplitudes up to 5: predicting 0 scores about 4.2)
    assert after < 0.6 * before


def test_hypermaml_bad_input() -> None:
    backbone = hf.stateless(hf.targets.mlp(8, 6, hidden=(16,)))
    method = HyperMAML(backbone, n_way=4, k_shot=2, feature_dim=6)
    with pytest.raises(ValueError, match="built for 4-way 2-shot episodes.*5-way with 5 support"):
        method.predict(_episodes(n_way=5, k_shot=1))
    with pytest.raises(ValueError, match="outputs 6 features but HyperMAML was built with feature_dim=7"):
        HyperMAML(backbone, n_way=4, k_shot=2, feature_dim=7).predict(_episodes(n_way=4, k_shot=2))
    with pytest.raises(ValueError, match="per_class=True.*loss='mse'"):
        HyperMAML(backbone, n_way=1, k_shot=2, feature_dim=6, per_class=True, loss="mse")
    with pytest.raises(ValueError, match="warmup_steps must be an int >= 0"):
        HyperMAML(backbone, n_way=4, k_shot=2, feature_dim=6, warmup_steps=-1)
    with pytest.raises(ValueError, match="n_way must be a positive int"):
        HyperMAML(backbone, n_way=0, k_shot=2, feature_dim=6)
    with pytest.raises(ValueError, match="head_init must be 'learned' or 'prototypes', got 'proto'"):
        HyperMAML(backbone, n_way=4, k_shot=2, feature_dim=6, head_init="proto")
    with pytest.raises(ValueError, match="head_init='prototypes'.*loss='mse'.*use head_init='learned'"):
        HyperMAML(backbone, n_way=1, k_shot=2, feature_dim=6, loss="mse", head_init="prototypes")
    reg = HyperMAML(backbone, n_way=1, k_shot=5, feature_dim=6, loss="mse")
    with pytest.raises(TypeError, match="needs a regression batch"):
        reg.predict(_episodes())
    with pytest.raises(ValueError, match="built for 5-shot regression.*10 support points"):
        HyperMAML(hf.stateless(hf.targets.mlp(1, 6)), n_way=1, k_shot=5, feature_dim=6,
                  loss="mse").predict(Sinusoid(k_shot=10, batch_size=2).batch(0))


def test_episode_shape_check_names_uneven_classes() -> None:
    batch = _episodes(n_way=4, k_shot=2)
    y = batch.y_support.clone()
    y[0, 0], y[0, 2] = 1, 0
    y[0, 1] = 1  # class 0 has one example, class 1 three
    uneven = EpisodeBatch(batch.x_support, y, batch.x_query, batch.y_query, batch.n_way)
    method = HyperShot(hf.stateless(hf.targets.mlp(8, 6, hidden=(16,))), n_way=4, k_shot=2)
    with pytest.raises(ValueError, match="exactly k_shot=2 support examples of every class"):
        method.predict(uneven)


# ------------------------------------------------------------------------------ HyperShot
def test_kernel_matrix_equals_sklearn_and_rejects_unknown_kernels() -> None:
    a, b = torch.randn(2, 5, 7, dtype=torch.float64), torch.randn(2, 3, 7, dtype=torch.float64)
    k = kernel_matrix(a, b)
    for i in range(2):
        torch.testing.assert_close(k[i], torch.from_numpy(cosine_similarity(a[i].numpy(), b[i].numpy())))
    torch.testing.assert_close(kernel_matrix(a, b, "dot"), a @ b.transpose(1, 2))
    with pytest.raises(ValueError, match="unknown kernel 'rbf'; choose one of cosine, dot"):
        kernel_matrix(a, b, "rbf")
    with pytest.raises(ValueError, match="unknown kernel 'rbf'"):
        HyperShot(hf.stateless(hf.targets.mlp(8, 6)), n_way=2, k_shot=1, kernel="rbf")


@pytest.mark.parametrize("classifier_hidden", [(), (5,)])
def test_hypershot_equals_looped_hand_computation(classifier_hidden: tuple[int, ...]) -> None:
    batch = _shuffled(_episodes(n_way=4, k_shot=2))
    method = HyperShot(hf.stateless(hf.targets.mlp(8, 6, hidden=(16,))), n_way=4, k_shot=2, hidden=(32,),
                       classifier_hidden=classifier_hidden)
    logits = method.predict(batch).detach()
    w = {n: p.detach() for n, p in method.weights().items()}
    for b in range(3):
        order = sorted(range(8), key=lambda i: (int(batch.y_support[b, i]), i))
        s = method.target(w, batch.x_support[b])[order]
        q = method.target(w, batch.x_query[b])
        cos = lambda u, v: float((u @ v) / (u.norm() * v.norm()))  # noqa: E731
        k_ss = torch.tensor([[cos(s[i], s[j]) for j in range(8)] for i in range(8)])
        k_qs = torch.tensor([[cos(q[i], s[j]) for j in range(8)] for i in range(len(q))])
        params = {n: p.detach() for n, p in method.hypernet(k_ss.flatten()).items()}
        net = hf.targets.mlp(8, 4, hidden=classifier_hidden)  # a hand-built nn.Module with those weights
        net.load_state_dict(params)
        with torch.no_grad():
            torch.testing.assert_close(logits[b], net(k_qs), rtol=1e-4, atol=1e-5)


def test_hypershot_learns_gaussian_clusters() -> None:
    data = _clusters()
    train = Episodes(data[:40], n_way=5, k_shot=1, q_query=5, batch_size=16, seed=0)
    test = Episodes(data[40:], n_way=5, k_shot=1, q_query=5, batch_size=50, seed=1)
    method = HyperShot(hf.stateless(hf.targets.mlp(16, 16, hidden=(32,))), n_way=5, k_shot=1, hidden=(64,))
    before, _ = evaluate(method, test, episodes=4 * test.batch_size)
    fit(method, train, steps=150, lr=3e-3)
    after, ci = evaluate(method, test, episodes=4 * test.batch_size)
    # measured: 0.20 -> 0.83 ± 0.02 after 150 steps
    assert before < 0.3 and after > 0.65 and ci < 0.05


def test_feature_size_leaves_the_global_random_state_alone() -> None:
    conv, mlp = hf.stateless(hf.targets.conv4(num_classes=0, hidden=8)), hf.stateless(hf.targets.mlp(3, 5))
    state = torch.get_rng_state()
    assert feature_size(conv, (1, 28, 28)) == 8 and feature_size(mlp, (3,)) == 5
    assert torch.equal(torch.get_rng_state(), state)


def test_conv4_pools_before_relu_and_equals_the_standard_order() -> None:
    ours = hf.targets.conv4(num_classes=5, hidden=8)
    layers: list[nn.Module] = []
    for m in ours:  # the textbook block order: conv, norm, ReLU, pool
        if isinstance(m, nn.ReLU):
            layers.insert(len(layers) - 1, m)
        else:
            layers.append(m)
    swapped = nn.Sequential(*layers)
    assert isinstance(swapped[2], nn.ReLU) and isinstance(swapped[3], nn.MaxPool2d)
    assert isinstance(ours[2], nn.MaxPool2d) and isinstance(ours[3], nn.ReLU)
    x = torch.randn(6, 1, 28, 28)
    torch.testing.assert_close(ours(x), swapped(x))
