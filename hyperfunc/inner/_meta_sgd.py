"""Meta-SGD: gradient descent with a learned learning rate for every weight."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch
from torch import Tensor

from hyperfunc.inner._base import Grads, InnerOptimizer, updates

__all__ = ["MetaSGD"]


def _broadcasts(small: tuple[int, ...], big: tuple[int, ...]) -> bool:
    """Whether a tensor of shape ``small`` broadcasts to ``big`` without changing it."""
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(reversed(small), reversed(big)))


def _as_dict(rates: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return dict(rates)


@attrs.frozen(eq=False)
class MetaSGD(InnerOptimizer[None]):
    """Meta-SGD (Li et al. 2017): ``p ← p − α ⊙ g`` with a learned rate tensor ``α`` per parameter.

    The rates are ordinary tensors, trained in the outer loop together with the
    initial weights: the adapted weights are differentiable functions of them
    (in first- and in second-order adaptation alike). Make them with
    :meth:`init_rates` and hand them to your outer ``torch.optim`` optimiser.

    Args:
        lrs: one rate tensor per parameter name, of the parameter's shape (one
            rate per weight) or any shape that broadcasts to it (a scalar gives
            one rate per tensor). Parameters without a gradient need no rate.

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import MetaSGD
        >>> params = {"w": torch.tensor([1.0, 2.0])}
        >>> rates = MetaSGD.init_rates(params, lr=0.5)          # learnable, requires grad
        >>> opt = MetaSGD(rates)
        >>> new, _ = opt.step(params, {"w": torch.tensor([1.0, 1.0])}, opt.init_state(params))
        >>> new["w"].sum().backward()
        >>> rates["w"].grad                                      # -g: the rates learn
        tensor([-1., -1.])
    """

    lrs: Mapping[str, Tensor] = attrs.field(converter=_as_dict)

    def __attrs_post_init__(self) -> None:
        bad = sorted(n for n, r in self.lrs.items() if not isinstance(r, Tensor))
        if bad:
            raise TypeError(
                f"MetaSGD rates must be tensors, got {[type(self.lrs[n]).__name__ for n in bad]} for "
                f"{bad}; make them with MetaSGD.init_rates(params, lr=...)"
            )

    @staticmethod
    def init_rates(params: Mapping[str, Tensor], lr: float, *, per_weight: bool = True) -> dict[str, Tensor]:
        """Learnable rates (leaf tensors that require grad), all equal to ``lr``.

        Args:
            params: the parameters to adapt (only names and shapes are used; a
                leading batch axis is not expected).
            lr: the initial rate.
            per_weight: one rate per weight (the paper's choice) or, if ``False``,
                one scalar rate per tensor.
        """
        return {
            n: torch.full(p.shape if per_weight else (), float(lr), dtype=p.dtype, device=p.device)
            .requires_grad_()
            for n, p in params.items()
        }

    def init_state(self, params: Mapping[str, Tensor]) -> None:
        """Meta-SGD keeps no state."""
        return None

    def step(self, params: Mapping[str, Tensor], grads: Grads, state: None) -> tuple[dict[str, Tensor], None]:
        """``p − α ⊙ g`` for every parameter with a gradient.

        Raises:
            KeyError: a parameter with a gradient has no rate.
            ValueError: a rate does not broadcast to its parameter's shape.
        """
        new = dict(params)
        todo = list(updates(params, grads))
        missing = [n for n, _, _ in todo if n not in self.lrs]
        if missing:
            raise KeyError(
                f"MetaSGD has no learning rate for {missing} (it has rates for {sorted(self.lrs)}); "
                "make rates for every adapted parameter with MetaSGD.init_rates(params, lr=...)"
            )
        for name, p, g in todo:
            rate = self.lrs[name]
            if not _broadcasts(rate.shape, p.shape):
                raise ValueError(
                    f"MetaSGD rate for {name!r} has shape {list(rate.shape)}, which does not broadcast to "
                    f"the parameter's shape {list(p.shape)}; use the parameter's shape (one rate per "
                    "weight) or a scalar (one rate per tensor)"
                )
            new[name] = p - rate * g
        return new, None
