"""Recurrent targets (RNN, GRU, LSTM) work with Target.batched by default and equal a loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hyperfunc as hf
from hyperfunc.inner import SGD, adapt, adapt_batched


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
def test_batched_recurrent_target_equals_a_loop_and_says_so_once(cls: type[nn.RNNBase]) -> None:
    torch.manual_seed(0)
    target = hf.stateless(cls(3, 4, batch_first=True, num_layers=2).double())
    params = {k: v.requires_grad_() for k, v in target.init_params((3,)).items()}
    x = torch.randn(3, 5, 6, 3, dtype=torch.float64)
    with pytest.warns(hf.LoopFallbackWarning, match=f"nn.{cls.__name__}.*one after another"):
        out, _ = target.batched(params, x)
    looped = torch.stack([target({k: v[i] for k, v in params.items()}, x[i])[0] for i in range(3)])
    torch.testing.assert_close(out, looped, rtol=0, atol=0)
    (g,) = torch.autograd.grad(out.square().sum(), [params["weight_hh_l1"]])
    (h,) = torch.autograd.grad(looped.square().sum(), [params["weight_hh_l1"]])
    torch.testing.assert_close(g, h)
    target.batched(params, x)  # a one-time notice: this second call says nothing (warnings are errors)


def test_maml_on_a_gru_target_batched_over_episodes_equals_one_episode_at_a_time() -> None:
    torch.manual_seed(0)

    class Head(nn.Module):  # GRU features → the last step's hidden state → a linear head
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(2, 8, batch_first=True)
            self.out = nn.Linear(8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, _ = self.gru(x)
            return self.out(h[:, -1])  # type: ignore[no-any-return]

    target = hf.stateless(Head().double())
    theta = {k: v.requires_grad_() for k, v in target.init_params().items()}
    xs, ys = torch.randn(4, 6, 7, 2, dtype=torch.float64), torch.randn(4, 6, 1, dtype=torch.float64)
    mse = nn.functional.mse_loss
    with pytest.warns(hf.LoopFallbackWarning):
        fast = adapt_batched(target, theta, mse, xs, ys, optimizer=SGD(lr=0.1), steps=2)
    for e in range(4):
        one = adapt(target, theta, mse, xs[e], ys[e], optimizer=SGD(lr=0.1), steps=2)
        for k in one:
            torch.testing.assert_close(fast[k][e], one[k])
