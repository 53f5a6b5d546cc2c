"""A ``higher``-compatible front end: ``innerloop_ctx`` on torch.func, without monkey-patching.

Code written for `higher <https://github.com/facebookresearch/higher>`_ ports by
changing the import::

    import hyperfunc.higher as higher          # was: import higher

    with higher.innerloop_ctx(model, inner_opt, copy_initial_weights=False) as (fmodel, diffopt):
        for _ in range(steps):
            diffopt.step(loss_fn(fmodel(x_support), y_support))
        loss_fn(fmodel(x_query), y_query).backward()     # meta-gradient on model's parameters

``fmodel`` evaluates a :class:`~hyperfunc.Target` made from ``model`` (a copy
whose parameters hold no storage) with the current fast weights through
``torch.func.functional_call``; ``diffopt`` runs the differentiable optimisers of
:mod:`hyperfunc.inner`. ``model`` itself is never patched nor changed.
Supported optimisers: every one ``higher`` 0.2.1 supports, with every option —
``torch.optim.SGD`` (momentum, dampening, Nesterov, weight decay), ``Adam``
(amsgrad), ``RMSprop`` (centered, momentum), ``Adagrad``, ``Adadelta``, ``Adamax``,
``ASGD``, ``Rprop`` — and ``AdamW`` (which higher lacks), with parameter groups,
``override``, ``grad_callback`` and the state of an optimiser that was already used;
Adam follows higher's own update by default (``adam_eps``). Only ``maximize=True``
is refused. See the guide *Coming from higher* for the differences.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hyperfunc._target import Target, stateless
from hyperfunc.inner import (
    ASGD,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    InnerOptimizer,
    RMSprop,
    Rprop,
    check_second_order,
    import_state,
)

__all__ = ["innerloop_ctx", "FunctionalModule", "DifferentiableOptimizer", "UnsupportedOptimizerError"]

GradCallback = Callable[[list["Tensor | None"]], Sequence["Tensor | None"]]
Override = Mapping[str, Sequence[Any]]

# For each torch.optim class: the hyperfunc.inner optimiser and the param-group settings it takes.
# Other keys (foreach, fused, capturable, differentiable, keys added by LR schedulers such as
# initial_lr) do not change the update's value and are ignored; maximize=True is refused.
_SUPPORTED: dict[type[torch.optim.Optimizer], tuple[Callable[..., InnerOptimizer[Any]], tuple[str, ...]]] = {
    torch.optim.SGD: (SGD, ("lr", "momentum", "dampening", "weight_decay", "nesterov")),
    torch.optim.Adam: (Adam, ("lr", "betas", "eps", "weight_decay", "amsgrad", "decoupled_weight_decay")),
    torch.optim.AdamW: (AdamW, ("lr", "betas", "eps", "weight_decay", "amsgrad")),
    torch.optim.RMSprop: (RMSprop, ("lr", "alpha", "eps", "weight_decay", "momentum", "centered")),
    torch.optim.Adagrad: (Adagrad, ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")),
    torch.optim.Adadelta: (Adadelta, ("lr", "rho", "eps", "weight_decay")),
    torch.optim.Adamax: (Adamax, ("lr", "betas", "eps", "weight_decay")),
    torch.optim.ASGD: (ASGD, ("lr", "lambd", "alpha", "t0", "weight_decay")),
    torch.optim.Rprop: (Rprop, ("lr", "etas", "step_sizes")),
}

class UnsupportedOptimizerError(TypeError):
    """The ``torch.optim`` optimiser, or one of its settings, has no differentiable counterpart here."""


def _unsupported_type(opt: object) -> UnsupportedOptimizerError:
    name = type(opt).__name__
    known = [k.__name__ for k in _SUPPORTED]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean torch.optim.{close[0]}? subclasses are not accepted)" if close else ""
    return UnsupportedOptimizerError(
        f"hyperfunc.higher supports the optimisers torch.optim.{', torch.optim.'.join(known)}; got "
        f"{type(opt).__module__}.{name}{hint}. Use one of those as the inner optimiser, or write the "
        "inner loop with hyperfunc.inner (its optimisers and adapt), where any InnerOptimizer works."
    )


def _check_group(kind: type[torch.optim.Optimizer], group: Mapping[str, Any], index: int) -> None:
    if group.get("maximize", False):
        raise UnsupportedOptimizerError(
            f"torch.optim.{kind.__name__} option maximize=True (param group {index}) is not supported by "
            "hyperfunc.higher (nor by higher); use maximize=False and step on the negated objective"
        )


class FunctionalModule:
    """The ``fmodel`` of :func:`innerloop_ctx`: the model as a function of its fast weights.

    ``fmodel(*args, **kwargs)`` runs the model's forward with the current fast
    weights (``fmodel(x, params=new)`` first makes ``new`` the fast weights, as in
    higher). The fast weights are a list in the order of ``model.parameters()``:
    :attr:`fast_params`, :meth:`parameters`; :meth:`named_parameters` and
    :attr:`params` give them by name, as a dict for :mod:`hyperfunc.inner`.

    Buffers: the model's buffers are copied when the context is entered
    (:attr:`buffers`). Batch norm in training mode uses batch statistics (as the
    model would); it updates the running statistics in :attr:`buffers` at every
    forward only with ``innerloop_ctx(..., track_running_stats=True)`` (higher
    loses them: its issue #103). In eval mode it uses :attr:`buffers`. The
    model's own buffers never change.
    """

    def __init__(
        self,
        target: Target,
        params: list[Tensor],
        track_higher_grads: bool,
        track_running_stats: bool = False,
    ) -> None:
        self._target = target
        self._buffers = target.buffers
        self._track_stats = bool(track_running_stats)
        self._names = list(target.spec.names)
        self._track = bool(track_higher_grads)
        self._history: list[list[Tensor]] = []
        self.fast_params = params

    def __repr__(self) -> str:
        return f"FunctionalModule({self._target!r}, step {len(self._history) - 1})"

    # -------------------------------------------------------------- calling
    def __call__(
        self, *args: Any, params: Sequence[Tensor] | Mapping[str, Tensor] | None = None, **kwargs: Any
    ) -> Any:
        """Run the model's forward on the current fast weights (or on ``params``, which become them)."""
        if params is not None:
            self.fast_params = params
        if self._track_stats and self._target.training:
            out, self._buffers = self._target.with_stats(self.params, *args, buffers=self._buffers, **kwargs)
            return out
        return self._target(self.params, *args, buffers=self._buffers, **kwargs)

    @property
    def buffers(self) -> dict[str, Tensor]:
        """The running statistics (and other buffers) the model is evaluated with.

        Copied from the model, and updated by every training-mode forward with
        ``track_running_stats=True``.
        """
        return dict(self._buffers)

    forward = __call__

    # ---------------------------------------------------------- fast weights
    @property
    def fast_params(self) -> list[Tensor]:
        """The current fast weights, in the order of ``model.parameters()``."""
        return list(self._history[-1])

    @fast_params.setter
    def fast_params(self, value: Sequence[Tensor] | Mapping[str, Tensor]) -> None:
        if isinstance(value, Mapping):
            missing, extra = sorted(set(self._names) - set(value)), sorted(set(value) - set(self._names))
            if missing or extra:
                raise KeyError(f"fast weights by name: missing {missing}, unexpected {extra}")
            value = [value[n] for n in self._names]
        value = list(value)
        problems = []
        if len(value) != len(self._names):
            problems.append(f"got {len(value)} tensors for {len(self._names)} parameters")
        else:
            for name, t, shape in zip(self._names, value, self._target.spec.shapes):
                if not isinstance(t, Tensor):
                    problems.append(f"{name}: not a tensor ({type(t).__name__})")
                elif tuple(t.shape) != tuple(shape):
                    problems.append(f"{name}: shape {list(t.shape)}, expected {list(shape)}")
        if problems:
            raise ValueError(
                "fast weights do not match the model (one tensor per model.parameters(), in that order): "
                + "; ".join(problems)
            )
        if self._track or not self._history:
            self._history.append(value)
        else:
            self._history[-1] = value

    def update_params(self, params: Sequence[Tensor] | Mapping[str, Tensor]) -> None:
        """Make ``params`` the fast weights (what ``diffopt.step`` does after each update)."""
        self.fast_params = params

    @property
    def init_fast_params(self) -> list[Tensor]:
        """The fast weights the loop started from (only while tracking higher-order gradients)."""
        if not self._track:
            raise RuntimeError(
                "init_fast_params is only kept with track_higher_grads=True; with False only the latest "
                "fast weights are stored"
            )
        return list(self._history[0])

    @property
    def params(self) -> dict[str, Tensor]:
        """The current fast weights by name (the ``params`` dict of the :attr:`target`)."""
        return dict(zip(self._names, self._history[-1]))

    def parameters(self, recurse: bool = True, time: int | None = None) -> Iterator[Tensor]:
        """The fast weights; ``time=k`` gives those after ``k`` updates (needs track_higher_grads)."""
        if time is None or time == -1:
            return iter(self._history[-1])
        if not self._track and time != 0:
            raise ValueError(
                "only the latest fast weights are kept with track_higher_grads=False; "
                f"parameters(time={time}) needs track_higher_grads=True"
            )
        if not -len(self._history) <= time < len(self._history):
            raise IndexError(f"parameters(time={time}): only {len(self._history)} sets of fast weights exist")
        return iter(self._history[time])

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """``(name, fast weight)`` pairs (tied weights appear once, under their first name)."""
        return iter(zip(self._names, self._history[-1]))

    # ---------------------------------------------------------------- modes
    @property
    def track_higher_grads(self) -> bool:
        """Whether updates keep their graph (second order) or are detached (first order)."""
        return self._track

    @track_higher_grads.setter
    def track_higher_grads(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"track_higher_grads must be a bool, got {type(value).__name__}")
        self._track = value

    @property
    def target(self) -> Target:
        """The stateless :class:`~hyperfunc.Target` that evaluates the model."""
        return self._target

    @property
    def training(self) -> bool:
        """Whether the model runs in training mode."""
        return self._target.training

    def train(self, mode: bool = True) -> FunctionalModule:
        """Switch to training (or eval) mode; the original model's mode is not changed."""
        self._target = self._target.train(mode)
        return self

    def eval(self) -> FunctionalModule:
        """Switch to eval mode; the original model's mode is not changed."""
        return self.train(False)


class DifferentiableOptimizer:
    """The ``diffopt`` of :func:`innerloop_ctx`: ``diffopt.step(loss)`` takes a differentiable step.

    It reads the settings of the ``torch.optim`` optimiser once (its
    :attr:`param_groups`, which you may edit, and its state, e.g. Adam's moments
    if it was already used) and applies the matching :mod:`hyperfunc.inner`
    optimiser to each parameter group. Parameters in no group stay fixed.
    """

    def __init__(
        self,
        opt: torch.optim.Optimizer,
        reference: list[Tensor],
        fmodel: FunctionalModule,
        *,
        override: Override | None,
        track_higher_grads: bool,
        adam_eps: Literal["torch", "higher"],
        device: torch.device | str | None,
    ) -> None:
        if type(opt) not in _SUPPORTED:
            raise _unsupported_type(opt)
        self._kind = type(opt)
        self._fmodel = fmodel
        self._track = track_higher_grads
        self._adam_eps: Literal["torch", "higher"] = adam_eps
        names = fmodel._names
        where = {id(p): i for i, p in enumerate(reference)}
        #: One dict of settings per parameter group (``lr``, ``betas``, ...), as in ``torch.optim``.
        self.param_groups: list[dict[str, Any]] = []
        self._groups: list[list[int]] = []
        for gi, group in enumerate(opt.param_groups):
            strangers = [i for i, p in enumerate(group["params"]) if id(p) not in where]
            if strangers:
                raise ValueError(
                    f"parameter group {gi} of the optimiser holds parameters (positions {strangers}) that "
                    "are not parameters of the model; build the inner optimiser over model.parameters()"
                )
            self._groups.append([where[id(p)] for p in group["params"]])
            self.param_groups.append({k: v for k, v in group.items() if k != "params"})
        if override is not None:
            self._apply_override(override)
        self._states: list[Any] = []
        fast = fmodel.fast_params
        for gi, idxs in enumerate(self._groups):
            sub = {names[i]: fast[i] for i in idxs}
            saved = {names[i]: opt.state[reference[i]] for i in idxs if reference[i] in opt.state}
            self._states.append(import_state(self._optimizer(gi).init_state(sub), saved, device))

    def __repr__(self) -> str:
        return f"DifferentiableOptimizer(torch.optim.{self._kind.__name__}, {len(self._groups)} group(s))"

    # ------------------------------------------------------------ settings
    def _apply_override(self, override: Override) -> None:
        if not isinstance(override, Mapping):
            raise TypeError(
                f"override must be a dict of setting -> list of values, got {type(override).__name__}"
            )
        n = len(self.param_groups)
        for key, values in override.items():
            if isinstance(values, (Tensor, str)) or not isinstance(values, Sequence):
                raise TypeError(
                    f"override[{key!r}] must be a list of values (one for all groups, or one per group), "
                    f"got {type(values).__name__}; write override={{{key!r}: [value]}}"
                )
            if len(values) not in (1, n):
                raise ValueError(
                    f"override[{key!r}] has {len(values)} values but the optimiser has {n} parameter "
                    "group(s); give one value for all groups, or one per group"
                )
            for gi, group in enumerate(self.param_groups):
                group[key] = values[0] if len(values) == 1 else values[gi]

    def _optimizer(self, gi: int) -> InnerOptimizer[Any]:
        group = self.param_groups[gi]
        _check_group(self._kind, group, gi)
        cls, keys = _SUPPORTED[self._kind]
        kw = {k: group[k] for k in keys if k in group}
        if self._kind is torch.optim.Adam:
            kw["eps_mode"] = self._adam_eps  # higher's placement for ported code; AdamW is torch's
        return cls(**kw)

    # ----------------------------------------------------------------- step
    def step(
        self,
        loss: Tensor,
        params: Sequence[Tensor] | None = None,
        override: Override | None = None,
        grad_callback: GradCallback | None = None,
    ) -> list[Tensor]:
        """Update the fast weights with the gradient of ``loss``; return the new fast weights.

        Replaces ``opt.zero_grad(); loss.backward(); opt.step()``. With
        ``track_higher_grads`` the gradients are taken with ``create_graph=True``
        and the new weights are differentiable functions of the old ones (second
        order); otherwise they are detached leaves (first order / test time).

        Args:
            loss: a scalar computed from the current fast weights (``fmodel(...)``).
            params: update these weights instead of ``fmodel``'s (they become
                ``fmodel``'s fast weights).
            override: settings to change from now on, ``{name: [value]}`` or one
                value per group (e.g. a learned ``lr`` tensor).
            grad_callback: applied to the list of gradients (in the order of the
                fast weights, ``None`` for unused ones) before the update, e.g. to
                clip them.

        Raises:
            SecondOrderError: ``track_higher_grads`` is on but the gradient has no
                graph (an operation of the model is differentiable only once).
        """
        if override is not None:
            self._apply_override(override)
        current = self._fmodel.fast_params if params is None else list(params)
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            got = f"shape {list(loss.shape)}" if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"diffopt.step expects a scalar loss tensor, got {got}; reduce it with .mean()")
        if not loss.requires_grad:
            raise ValueError(
                "diffopt.step(loss): the loss has no autograd graph, so it does not depend on the fast "
                "weights; compute it from fmodel(...) inside the innerloop_ctx block, outside torch.no_grad()"
            )
        wanted = [i for i, p in enumerate(current) if p.requires_grad]
        found = torch.autograd.grad(
            loss, [current[i] for i in wanted], create_graph=self._track, allow_unused=True
        )
        grads: list[Tensor | None] = [None] * len(current)
        for i, g in zip(wanted, found):
            grads[i] = g
        if grad_callback is not None:
            grads = list(grad_callback(grads))
        names = self._fmodel._names
        if self._track:
            check_second_order(
                [names[i] for i in wanted], [current[i] for i in wanted], [grads[i] for i in wanted],
                "track_higher_grads=False",
            )
        new = list(current)
        for gi, idxs in enumerate(self._groups):
            sub_p = {names[i]: current[i] for i in idxs}
            sub_g = {names[i]: grads[i] for i in idxs}
            updated, self._states[gi] = self._optimizer(gi).step(sub_p, sub_g, self._states[gi])
            for i in idxs:
                if grads[i] is not None:
                    t = updated[names[i]]
                    new[i] = t if self._track else t.detach().requires_grad_(current[i].requires_grad)
        self._fmodel.update_params(new)
        return new


@contextmanager
def innerloop_ctx(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    device: torch.device | str | None = None,
    copy_initial_weights: bool = True,
    override: Override | None = None,
    track_higher_grads: bool = True,
    *,
    adam_eps: Literal["torch", "higher"] = "higher",
    track_running_stats: bool = False,
) -> Iterator[tuple[FunctionalModule, DifferentiableOptimizer]]:
    """A context manager for differentiable inner loops: yields ``(fmodel, diffopt)``, as ``higher``'s.

    The arguments and their order are those of ``higher.innerloop_ctx`` (plus the
    keyword-only ``adam_eps`` and ``track_running_stats``); ``model`` is never patched nor modified.

    Args:
        model: any ``nn.Module``.
        opt: a ``torch.optim`` SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax,
            ASGD or Rprop over (some of) ``model``'s parameters; its settings,
            parameter groups and state are read, never changed.
        device: cast the fast weights, buffers and optimiser state there (default:
            where the parameters are).
        copy_initial_weights: start from detached copies of the parameters (the
            meta-gradient does not reach ``model``); ``False`` starts from the
            parameters themselves, so ``loss.backward()`` after the loop puts the
            meta-gradient in ``model``'s ``.grad`` (MAML).
        override: optimiser settings to replace, ``{name: [value]}`` or one value
            per parameter group; values may be tensors (a learned ``lr``).
        track_higher_grads: second order (the updates keep their graph); ``False``
            detaches every update (first order, or cheap test-time adaptation).
        adam_eps: where Adam adds eps. ``"higher"`` (the default, so that ported
            code computes what it computed before) reproduces higher 0.2.1's
            ``DifferentiableAdam``, which adds eps before the bias correction of
            the second moment (higher issue #71); ``"torch"`` uses
            ``torch.optim.Adam``'s update, as :class:`hyperfunc.inner.Adam` does
            by default. The updates differ only for weights with tiny gradients,
            but second-order meta-gradients through Adam are sensitive to exactly
            those, so the two settings give visibly different meta-gradients.
        track_running_stats: update batch norm's running statistics at every
            training-mode forward of ``fmodel`` (in ``fmodel.buffers``, as the model
            would update its own), so ``fmodel.eval()`` after the inner loop uses
            them; by default they stay as copied (the model's are never changed).

    Yields:
        ``(fmodel, diffopt)``: a :class:`FunctionalModule` and a :class:`DifferentiableOptimizer`.

    Raises:
        UnsupportedOptimizerError: ``opt`` is not a supported type (the message
            names the closest one), or uses ``maximize=True``.

    Examples:
        >>> import torch
        >>> import hyperfunc.higher as higher
        >>> model = torch.nn.Sequential(torch.nn.Linear(1, 40), torch.nn.ReLU(), torch.nn.Linear(40, 1))
        >>> inner_opt = torch.optim.SGD(model.parameters(), lr=0.01)
        >>> x, y = torch.randn(10, 1), torch.randn(10, 1)
        >>> mse = torch.nn.functional.mse_loss
        >>> with higher.innerloop_ctx(model, inner_opt, copy_initial_weights=False) as (fmodel, diffopt):
        ...     for _ in range(3):
        ...         _ = diffopt.step(mse(fmodel(x), y))
        ...     mse(fmodel(x), y).backward()
        >>> model[0].weight.grad.shape                  # the meta-gradient reached the model
        torch.Size([40, 1])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"innerloop_ctx expects an nn.Module as model, got {type(model).__name__}")
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(
            f"innerloop_ctx expects a torch.optim optimiser as opt, got {type(opt).__name__}; "
            "for hyperfunc.inner optimisers use hyperfunc.inner.adapt"
        )
    if adam_eps not in ("torch", "higher"):
        raise ValueError(f"adam_eps must be 'torch' or 'higher', got {adam_eps!r}")
    reference: list[Tensor] = list(model.parameters())
    target = stateless(model)
    if device is not None:
        target = target.to(device)
    if copy_initial_weights:
        fast = [p.detach().clone().to(device or p.device).requires_grad_(p.requires_grad) for p in reference]
    else:
        fast = [p.clone() if device is None else p.to(device, copy=True) for p in reference]
    fmodel = FunctionalModule(target, fast, track_higher_grads, track_running_stats)
    diffopt = DifferentiableOptimizer(
        opt, reference, fmodel, override=override, track_higher_grads=track_higher_grads,
        adam_eps=adam_eps, device=device,
    )
    yield fmodel, diffopt
