"""The functional inner loop: adapt a parameter dict to a support set with gradient steps."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from hyperfunc._errors import SpecMismatchError
from hyperfunc._target import Target
from hyperfunc.inner._base import Grads, InnerOptimizer, SecondOrderError
from hyperfunc.inner._implicit import implicit_gradient

__all__ = ["adapt", "adapt_batched", "check_second_order", "select_params"]

LossFn = Callable[[Tensor, Tensor], Tensor]

_GRAPH_CUT = """\
second-order adaptation was requested, but the gradient of the inner loss with respect to
{names} has no autograd graph, so the second-order terms would silently be dropped.
Something between these weights and the loss is differentiable only once: a custom
torch.autograd.Function marked @once_differentiable (or whose backward is not itself
differentiable), a .detach(), .item() or torch.no_grad() inside the model or the loss.
Fix: make that operation twice differentiable, or ask for first order explicitly
({fix}). (If the loss is exactly linear in these weights their second-order terms are
zero, and first order gives the same result.)"""

_ONCE = """\
second-order adaptation was requested, but the gradient of the inner loss passes through an
operation that can be differentiated only once (autograd nodes {nodes}: a custom
torch.autograd.Function marked @once_differentiable); the outer backward pass would fail on
it. Fix: give that Function a differentiable backward, or ask for first order explicitly
({fix})."""

_UNDER_VMAP = """\
hyperfunc.inner.adapt was called inside a torch.func transform (vmap, grad, ...); it takes
its inner gradients with torch.autograd.grad, which does not work there. For a meta-batch
of episodes call hyperfunc.inner.adapt_batched(target, params, loss_fn, x, y, ...) with x
and y of shape [episodes, ...]: it adapts every episode in one batched call."""


def _once_differentiable_nodes(grads: Sequence[Tensor | None], params: Sequence[Tensor]) -> list[str]:
    """Names of the autograd nodes in the gradients' graph that raise when differentiated.

    ``torch.autograd.Function``\\ s marked ``@once_differentiable`` record such a
    node when their backward runs with ``create_graph=True``; it raises only later,
    in the outer backward pass. The walk stops at the parameters, so the graph
    that produced them (a hypernetwork) is not visited.
    """
    stop = {p.grad_fn for p in params if p.grad_fn is not None}
    todo: list[Any] = [g.grad_fn for g in grads if g is not None and g.grad_fn is not None]
    seen: set[Any] = set()
    found: list[str] = []
    while todo:
        node = todo.pop()
        if node is None or node in seen or node in stop:
            continue
        seen.add(node)
        if node.name().endswith("Error"):
            found.append(node.name())
        todo.extend(nxt for nxt, _ in node.next_functions)
    return found


def check_second_order(
    names: Sequence[str], params: Sequence[Tensor], grads: Sequence[Tensor | None], fix: str
) -> None:
    """Raise :class:`SecondOrderError` if gradients taken with ``create_graph=True`` cannot be differentiated.

    Two ways the second-order terms can be lost, both caught here instead of
    being dropped silently (or failing later, in the outer backward pass): a
    gradient comes back without a graph although its parameter requires grad,
    or the gradients' graph contains a node of a once-differentiable
    ``torch.autograd.Function``. Called on the first inner step by
    :func:`adapt` and :func:`adapt_batched`, and by
    ``diffopt.step`` of :func:`hyperfunc.higher.innerloop_ctx`.

    Args:
        names: parameter names, for the message.
        params: the tensors the gradients were taken with respect to.
        grads: their gradients (``None`` for unused parameters, which are fine).
        fix: how to ask for first order at the call site, for the message.
    """
    cut = [
        n
        for n, p, g in zip(names, params, grads)
        if g is not None and p.requires_grad and not g.requires_grad
    ]
    if cut:
        raise SecondOrderError(_GRAPH_CUT.format(names=cut, fix=fix))
    nodes = _once_differentiable_nodes(grads, params)
    if nodes:
        raise SecondOrderError(_ONCE.format(nodes=sorted(set(nodes)), fix=fix))


def _check_memory_options(checkpoint: object, truncate: object, steps: int) -> None:
    if not isinstance(checkpoint, bool):
        raise TypeError(f"checkpoint must be True or False, got {checkpoint!r}")
    if truncate is not None and (not isinstance(truncate, int) or isinstance(truncate, bool) or truncate < 1):
        raise ValueError(
            f"truncate must be None (backpropagate through every inner step) or an int >= 1 (the last "
            f"steps to differentiate through), got {truncate!r}"
        )


def check_loop_options(
    optimizer: InnerOptimizer[Any],
    *,
    steps: int = 1,
    first_order: bool = False,
    only: object = None,
    checkpoint: bool = False,
    truncate: int | None = None,
    implicit: float | None = None,
    cg_steps: int = 10,
) -> None:
    """Raise a ``ValueError``/``TypeError`` naming every bad inner-loop option, before any step runs.

    :func:`adapt` and :func:`adapt_batched` check their options this way; a method
    that runs them later (MAML) calls it when it is built, so a mistake surfaces at
    once (on the command line: one line, exit status 2) and not mid-training.

    Examples:
        >>> from hyperfunc.inner import SGD, check_loop_options
        >>> check_loop_options(SGD(lr=0.1), steps=5, implicit=1.0)
        >>> check_loop_options(SGD(lr=0.1), truncate=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: truncate must be None (backpropagate through every inner step) or an int >= 1 ...
    """
    _check_memory_options(checkpoint, truncate, steps)
    if implicit is not None:
        _check_implicit(implicit, cg_steps, optimizer, only, first_order, checkpoint, truncate)


def _check_implicit(
    lam: object,
    cg_steps: object,
    optimizer: InnerOptimizer[Any],
    only: object,
    first_order: bool,
    checkpoint: bool,
    truncate: int | None,
) -> None:
    problems = []
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam <= 0:
        problems.append(f"implicit (the proximal strength λ) must be a finite number > 0, got {lam!r}")
    if isinstance(cg_steps, bool) or not isinstance(cg_steps, int) or cg_steps < 1:
        problems.append(f"cg_steps must be an int >= 1, got {cg_steps!r}")
    if only is not None:
        problems.append("implicit meta-gradients adapt every tensor: drop only=")
    if first_order or checkpoint or truncate is not None:
        problems.append("implicit replaces first_order / checkpoint / truncate: pass only implicit=")
    settings = [getattr(optimizer, f, None) for f in ("lr", "lrs")]
    tensors = [
        t for v in settings for t in (v.values() if isinstance(v, dict) else [v]) if isinstance(t, Tensor)
    ]
    if any(t.requires_grad for t in tensors):
        problems.append(
            f"{type(optimizer).__name__}'s learned rates would get no implicit meta-gradient (the inner "
            "solution does not depend on them); use an optimiser with fixed rates (SGD, Adam)"
        )
    if problems:
        raise ValueError("; ".join(problems))


def _check_common(optimizer: object, steps: object, first_order: bool, fix: str) -> None:
    if isinstance(optimizer, str):
        raise TypeError(
            f"optimizer must be an inner optimiser instance, got the name {optimizer!r}; build one "
            f"with hyperfunc.inner.get({optimizer!r})(lr=...)"
        )
    if isinstance(optimizer, type) and issubclass(optimizer, InnerOptimizer):
        raise TypeError(
            f"optimizer must be an instance, got the class {optimizer.__name__}; "
            f"write optimizer={optimizer.__name__}(lr=...)"
        )
    if not isinstance(optimizer, InnerOptimizer):
        raise TypeError(
            f"optimizer must be a hyperfunc.inner.InnerOptimizer (SGD, MetaSGD, Adam, ...), got "
            f"{type(optimizer).__name__}; for a torch.optim optimiser use hyperfunc.higher.innerloop_ctx"
        )
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    if not first_order and not optimizer.differentiable and torch.is_grad_enabled():
        raise SecondOrderError(
            f"second-order adaptation was requested, but {type(optimizer).__name__}'s update is not "
            f"differentiable (its `differentiable` flag is False); pass {fix}, or use a "
            "differentiable optimiser such as SGD, MetaSGD or Adam"
        )


def select_params(params: Mapping[str, Tensor], only: Collection[str] | None) -> list[str]:
    """The names of ``params`` that an inner loop with ``only=...`` adapts, in ``params``' order.

    :func:`adapt` and :func:`adapt_batched` use it to check their ``only`` argument;
    call it to validate ``only`` up front (e.g. when a method is built).

    Args:
        params: the weights by name.
        only: the names to adapt; ``None`` means all of them.

    Returns:
        The selected names, in the order of ``params``.

    Raises:
        TypeError: ``only`` is a single string (pass a list of names).
        KeyError: ``only`` names something that is not in ``params`` (the message
            lists the parameters).

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import select_params
        >>> params = {"0.weight": torch.zeros(2, 2), "0.bias": torch.zeros(2), "1.weight": torch.zeros(1, 2)}
        >>> select_params(params, {"1.weight", "0.weight"})
        ['0.weight', '1.weight']
        >>> select_params(params, None)
        ['0.weight', '0.bias', '1.weight']
    """
    if only is None:
        return list(params)
    if isinstance(only, str):
        raise TypeError(
            f"only must be a collection of parameter names, got the string {only!r}; use [{only!r}]"
        )
    unknown = sorted(set(only) - set(params))
    if unknown:
        raise KeyError(f"only names {unknown}, which are not parameters; the parameters are {list(params)}")
    return [n for n in params if n in set(only)]


def _live(p: Tensor, outer: bool) -> Tensor:
    """``p`` itself if the outer loop can differentiate through it, else a fresh leaf copy."""
    return p if outer and p.requires_grad else p.detach().requires_grad_()


def _run(
    params: Mapping[str, Tensor],
    names: list[str],
    loss_of: Callable[[dict[str, Tensor]], Tensor],
    optimizer: InnerOptimizer[Any],
    steps: int,
    first_order: bool,
    fix: str,
    checkpoint: bool = False,
    truncate: int | None = None,
) -> dict[str, Tensor]:
    outer = torch.is_grad_enabled()
    # No graph is recorded outside (torch.no_grad): no meta-gradient exists, so first and
    # second order give the same values and the cheaper one is used.
    current = dict(params)
    state = optimizer.init_state({n: current[n] for n in names})
    second = [outer and not first_order and (truncate is None or i >= steps - truncate) for i in range(steps)]

    def step(i: int, current: dict[str, Tensor], state: Any) -> tuple[dict[str, Tensor], Any]:
        create_graph = second[i]
        with torch.enable_grad():
            live = {n: _live(current[n], outer) for n in names}
            loss = loss_of({**current, **live})
            if loss.dim() != 0:
                raise ValueError(
                    f"the inner loss must be a scalar, got shape {list(loss.shape)}; reduce it "
                    "(e.g. with .mean()) inside loss_fn"
                )
            found = torch.autograd.grad(
                loss, list(live.values()), create_graph=create_graph, allow_unused=True
            )
        if create_graph and i == second.index(True):
            check_second_order(names, list(live.values()), list(found), fix)
        grads: Grads = dict(zip(names, found))
        updated, state = optimizer.step(live, grads, state)
        return {**current, **updated}, state

    if not (checkpoint and outer):
        for i in range(steps):
            current, state = step(i, current, state)
        return current

    def plain(i: int, current: dict[str, Tensor], state: Any) -> tuple[dict[str, Tensor], Any]:
        """Step ``i`` again without any graph: the same numbers as in the forward pass."""
        with torch.enable_grad():
            live = {n: current[n].detach().requires_grad_() for n in names}
            found = torch.autograd.grad(loss_of({**current, **live}), list(live.values()), allow_unused=True)
        with torch.no_grad():
            updated, state = optimizer.step(live, dict(zip(names, found)), state)
        return {**current, **{n: updated[n].detach() for n in names}}, _tree(state, lambda t: t.detach())

    return _checkpointed(step, plain, current, state, steps)


class _Slot:
    """A step's inputs, handed to ``torch.utils.checkpoint`` and emptied after the forward pass."""

    def __init__(self, value: tuple[dict[str, Tensor], Any] | None) -> None:
        self.value = value


def _tree(state: Any, fn: Callable[[Tensor], Any]) -> Any:
    return torch.utils._pytree.tree_map(lambda t: fn(t) if isinstance(t, Tensor) else t, state)


def _checkpointed(
    step: Callable[[int, dict[str, Tensor], Any], tuple[dict[str, Tensor], Any]],
    plain: Callable[[int, dict[str, Tensor], Any], tuple[dict[str, Tensor], Any]],
    current: dict[str, Tensor],
    state: Any,
    steps: int,
) -> dict[str, Tensor]:
    """The inner loop with √steps checkpointing (Chen et al. 2016), gradients equal to the stored loop's.

    Each step runs under ``torch.utils.checkpoint`` (its activations are recomputed in
    the backward pass) but its inputs are not kept: only the weights and optimiser
    state at the start of each segment of ⌈√steps⌉ steps are. When the backward pass
    reaches a segment, the segment is stepped again without a graph from its start,
    its steps' inputs are kept (one segment's worth) and each step is recomputed from
    them. Memory: about 2√steps weight sets and one step's graph; time: one more step
    without a graph per step, on top of checkpointing's recomputation.
    """
    size = math.isqrt(max(steps - 1, 0)) + 1  # ⌈√steps⌉
    starts: dict[int, tuple[dict[str, Tensor], Any]] = {}
    needs_grad: list[list[bool]] = []  # which state tensors required grad at each step's start
    rng: list[torch.Tensor] = []  # the CPU random state at each step's start (dropout in the loss)
    cache: dict[int, tuple[dict[str, Tensor], Any]] = {}

    def inputs(i: int) -> tuple[dict[str, Tensor], Any]:
        if i not in cache:  # the backward pass reached another segment: step through it again
            cache.clear()
            first = i - i % size
            current, state = starts[first]
            now = torch.get_rng_state()
            # outside the checkpoint's recomputation: what these steps save is theirs, not step i's
            with torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
                for j in range(first, min(first + size, steps)):
                    cache[j] = (current, state)
                    torch.set_rng_state(rng[j])
                    current, state = plain(j, current, state)
            torch.set_rng_state(now)
        current, state = cache[i]
        flags = iter(needs_grad[i])
        return dict(current), _tree(state, lambda t: t.detach().requires_grad_(next(flags)))

    def run(i: int, slot: _Slot) -> tuple[dict[str, Tensor], Any]:
        current, state = inputs(i) if slot.value is None else slot.value
        return step(i, current, state)

    for i in range(steps):
        if i % size == 0:
            starts[i] = ({k: v.detach() for k, v in current.items()}, _tree(state, lambda t: t.detach()))
        needs_grad.append(
            [t.requires_grad for t in torch.utils._pytree.tree_leaves(state) if isinstance(t, Tensor)]
        )
        rng.append(torch.get_rng_state())
        slot = _Slot((current, state))
        current, state = torch.utils.checkpoint.checkpoint(run, i, slot, use_reentrant=False)
        slot.value = None  # the step's inputs are not kept: the backward pass recomputes them
    return current


def _implicit(
    params: Mapping[str, Tensor],
    names: list[str],
    loss_of: Callable[[dict[str, Tensor]], Tensor],
    optimizer: InnerOptimizer[Any],
    steps: int,
    lam: float,
    cg_steps: int,
    batched: bool,
) -> dict[str, Tensor]:
    """iMAML: the inner loop on ``L(φ) + λ/2 · ‖φ − θ‖²`` without a graph, then the implicit meta-gradient."""
    theta = {n: params[n].detach() for n in names}

    def proximal(p: dict[str, Tensor]) -> Tensor:
        return loss_of(p) + 0.5 * lam * sum(((p[n] - theta[n]) ** 2).sum() for n in names)

    with torch.no_grad():  # first order, nothing kept: memory does not grow with the steps
        phi = _run({k: v.detach() for k, v in params.items()}, names, proximal, optimizer, steps, True, "")
    return implicit_gradient(params, phi, names, loss_of, lam, cg_steps, batched)


def reptile(params: Mapping[str, Tensor], adapted: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Reptile's meta-gradient ``θ − φ`` (Nichol et al. 2018): use it as ``.grad`` of the initialisation.

    ``adapted`` are the weights after a first-order inner loop from ``params``;
    an outer optimiser step on ``θ`` with these gradients moves the
    initialisation towards the adapted weights. For a meta-batch, average the
    per-episode results (or pass :func:`adapt_batched`'s output, whose leading
    episode axis is averaged here when ``params`` have none).

    Examples:
        >>> import torch
        >>> from hyperfunc.inner import reptile
        >>> theta = {"w": torch.tensor([1.0, 2.0])}
        >>> reptile(theta, {"w": torch.tensor([[0.0, 2.0], [1.0, 1.0]])})["w"]   # two episodes
        tensor([0.5000, 0.5000])
    """
    out: dict[str, Tensor] = {}
    for n, p in params.items():
        a = adapted[n].detach()
        if a.dim() == p.dim() + 1:
            a = a.mean(0)
        if a.shape != p.shape:
            raise ValueError(
                f"adapted[{n!r}] has shape {list(adapted[n].shape)}, expected {list(p.shape)} "
                f"(or [episodes, *{list(p.shape)}])"
            )
        out[n] = p.detach() - a
    return out


def adapt(
    target: Callable[..., Tensor],
    params: Mapping[str, Tensor],
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    *,
    optimizer: InnerOptimizer[Any],
    steps: int = 1,
    first_order: bool = False,
    only: Collection[str] | None = None,
    checkpoint: bool = False,
    truncate: int | None = None,
    implicit: float | None = None,
    cg_steps: int = 10,
) -> dict[str, Tensor]:
    """Adapt ``params`` to one support set ``(x, y)`` with ``steps`` optimiser steps.

    Each step computes ``loss_fn(target(params, x), y)``, its gradient with
    ``torch.autograd.grad`` and an update with ``optimizer``. The adapted weights
    stay differentiable functions of ``params`` (and of any learned optimiser
    hyperparameter): second order (MAML) by default, first order (FOMAML: the
    inner gradients are treated as constants) with ``first_order=True``.

    Under ``torch.no_grad()`` no meta-gradient can exist, so the loop runs first
    order whatever ``first_order`` says (the adapted values are the same).

    For a meta-batch of episodes use :func:`adapt_batched` (one vectorised call
    instead of a Python loop); this function does not run inside ``torch.func.vmap``.

    Args:
        target: a :class:`~hyperfunc.Target`, or any ``f(params, x)``.
        params: the initial weights (for MAML: the meta-learned initialisation,
            which receives the meta-gradient).
        loss_fn: ``loss_fn(prediction, y)`` returning a scalar, e.g.
            ``torch.nn.functional.cross_entropy``.
        x, y: the support set.
        optimizer: an :class:`InnerOptimizer` (:class:`SGD`, :class:`MetaSGD`,
            :class:`Adam`, or one from the registry: ``hyperfunc.inner.get(name)``).
        steps: number of inner steps (0 returns the weights unchanged).
        first_order: drop the second-order terms (the gradients are taken
            without ``create_graph``).
        only: the names of the parameters to adapt (the others stay fixed, e.g. a
            head-only inner loop); default all.
        checkpoint: recompute every inner step during the backward pass
            (``torch.utils.checkpoint``), keeping the weights only at the start of
            each segment of ⌈√steps⌉ steps (a segment is stepped again when the
            backward pass reaches it): memory grows as √steps instead of with the
            activations of every step, for about twice the time; the
            meta-gradients are the same.
        truncate: differentiate through only the last ``truncate`` inner steps; the
            earlier ones are first order (their updates pass the meta-gradient on
            unchanged, as in FOMAML), so their graphs are not kept. ``None``: all.
        implicit: iMAML's proximal strength λ (Rajeswaran et al. 2019): the inner
            loop minimises ``loss + λ/2 · ‖φ − θ‖²`` without keeping any graph, and
            the meta-gradient is the implicit one, ``(I + H/λ)⁻¹ ∂L/∂φ`` with ``H``
            the inner loss's Hessian at the result, from ``cg_steps``
            conjugate-gradient iterations: memory independent of ``steps``.
            ``None`` (default): differentiate through the steps.
        cg_steps: conjugate-gradient iterations of the implicit meta-gradient.

    Returns:
        The adapted weights: a new dict with the same names (the fixed ones are the
        tensors passed in).

    Raises:
        SecondOrderError: second order was requested but the optimiser, the target
            or the loss cannot provide it (never a silent first-order fallback).

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.inner import SGD, adapt
        >>> net = torch.nn.Sequential(torch.nn.Linear(1, 40), torch.nn.ReLU(), torch.nn.Linear(40, 1))
        >>> target = hf.stateless(net)
        >>> theta = {n: p.detach().clone().requires_grad_() for n, p in net.named_parameters()}
        >>> xs, ys = torch.randn(10, 1), torch.randn(10, 1)        # support set
        >>> xq, yq = torch.randn(15, 1), torch.randn(15, 1)        # query set
        >>> mse = torch.nn.functional.mse_loss
        >>> fast = adapt(target, theta, mse, xs, ys, optimizer=SGD(lr=0.01), steps=5)
        >>> mse(target(fast, xq), yq).backward()                    # second-order MAML gradient
        >>> theta["0.weight"].grad.shape
        torch.Size([40, 1])
    """
    fix = "first_order=True"
    _check_common(optimizer, steps, first_order, fix)
    if torch._C._are_functorch_transforms_active():
        raise RuntimeError(_UNDER_VMAP)
    names = select_params(params, only)
    _check_memory_options(checkpoint, truncate, steps)

    def loss_of(p: dict[str, Tensor]) -> Tensor:
        return loss_fn(target(p, x), y)

    if implicit is not None:
        _check_implicit(implicit, cg_steps, optimizer, only, first_order, checkpoint, truncate)
        return _implicit(params, names, loss_of, optimizer, steps, float(implicit), cg_steps, False)
    return _run(params, names, loss_of, optimizer, steps, first_order, fix, checkpoint, truncate)


def adapt_with_stats(
    target: Target,
    params: Mapping[str, Tensor],
    buffers: Mapping[str, Tensor] | None,
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    *,
    optimizer: InnerOptimizer[Any],
    steps: int = 1,
    first_order: bool = False,
    only: Collection[str] | None = None,
    episodes: bool = False,
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """:func:`adapt`, also carrying batch norm's running statistics through the inner steps.

    :func:`adapt` normalises every step with the support batch's statistics and
    leaves running statistics alone (the meta-learning convention). Here each
    inner step's forward pass also updates the running statistics, exactly as an
    ``nn.Module`` in training mode would over those ``steps`` passes (the target
    must be in training mode), and they are returned next to the adapted weights —
    e.g. to evaluate the adapted network in eval mode afterwards. Nothing passed
    in is changed.

    Args:
        target: a :class:`~hyperfunc.Target` (in training mode).
        params: the initial weights.
        buffers: the running statistics to start from (default ``target.buffers``).
        loss_fn, x, y, optimizer, steps, first_order, only: as for :func:`adapt`.
        episodes: ``x`` and ``y`` hold a meta-batch ``[B, ...]`` (as for
            :func:`adapt_batched`); ``params`` and ``buffers`` are shared or ``[B, ...]``,
            and every episode carries its own statistics (the episodes run one after
            another: running statistics are updated in place by batch norm, which
            ``vmap`` cannot batch).

    Returns:
        ``(adapted_weights, buffers_after_the_steps)``, with a leading axis ``B``
        with ``episodes=True``.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.inner import SGD, adapt_with_stats
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1))
        >>> target = hf.stateless(net)
        >>> theta = {n: p.detach().clone().requires_grad_() for n, p in net.named_parameters()}
        >>> x, y = torch.randn(16, 2), torch.randn(16, 1)
        >>> mse = torch.nn.functional.mse_loss
        >>> fast, stats = adapt_with_stats(target, theta, None, mse, x, y, optimizer=SGD(lr=0.1), steps=3)
        >>> int(stats["1.num_batches_tracked"])                   # one update per inner step
        3
    """
    fix = "first_order=True"
    _check_common(optimizer, steps, first_order, fix)
    if not isinstance(target, Target):
        raise TypeError(f"adapt_with_stats needs a hyperfunc Target, got {type(target).__name__}")
    if not target.training:
        raise ValueError(
            "adapt_with_stats updates running statistics, which only happens in training mode; the "
            "target is in eval mode: pass target.train(), or use adapt() to keep the statistics fixed"
        )
    if episodes:
        b = x.shape[0]
        spec_batch = target.spec.validate(params)
        start = dict(target.buffers if buffers is None else buffers)
        per_param = tuple(spec_batch) == (b,)
        own = target.buffers
        per_buffer = bool(start) and all(v.dim() == own[k].dim() + 1 for k, v in start.items() if k in own)
        outs = [
            adapt_with_stats(
                target,
                {k: v[e] for k, v in params.items()} if per_param else params,
                {k: v[e] for k, v in start.items()} if per_buffer else start,
                loss_fn,
                x[e],
                y[e],
                optimizer=optimizer,
                steps=steps,
                first_order=first_order,
                only=only,
            )
            for e in range(b)
        ]
        return (
            {k: torch.stack([o[0][k] for o in outs]) for k in outs[0][0]},
            {k: torch.stack([o[1][k] for o in outs]) for k in outs[0][1]},
        )
    names = select_params(params, only)
    carried = {"buffers": dict(target.buffers if buffers is None else buffers)}

    def loss_of(p: dict[str, Tensor]) -> Tensor:
        out, carried["buffers"] = target.with_stats(p, x, buffers=carried["buffers"])
        return loss_fn(out, y)

    fast = _run(params, names, loss_of, optimizer, steps, first_order, fix)
    return fast, carried["buffers"]


def adapt_batched(
    target: Target,
    params: Mapping[str, Tensor],
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    *,
    optimizer: InnerOptimizer[Any],
    steps: int = 1,
    first_order: bool = False,
    only: Collection[str] | None = None,
    vectorize: bool | None = None,
    checkpoint: bool = False,
    truncate: int | None = None,
    implicit: float | None = None,
    cg_steps: int = 10,
) -> dict[str, Tensor]:
    """Adapt one weight set per episode, for a meta-batch of ``B`` episodes at once.

    The batched form of :func:`adapt`, and equal to it episode by episode (values
    and meta-gradients): the target runs with
    :meth:`Target.batched <hyperfunc.Target.batched>` (batched matrix products for
    plain MLPs, ``vmap`` otherwise), the per-episode losses
    ``loss_fn(prediction[e], y[e])`` are computed with ``torch.func.vmap`` and
    summed, and one ``torch.autograd.grad`` call gives every episode's gradient
    (episodes do not interact, so the gradient of the sum with respect to episode
    ``e``'s weights is the gradient of its own loss).

    Args:
        target: a :class:`~hyperfunc.Target`.
        params: the initial weights, either shared by all episodes (no batch axis:
            MAML's initialisation, which then receives the summed meta-gradient)
            or one set per episode (a leading axis ``B``, e.g. generated by a
            hypernetwork).
        loss_fn: ``loss_fn(prediction, y)`` for *one* episode, returning a scalar;
            it must work under ``torch.func.vmap`` (the ``torch.nn.functional``
            losses do).
        x, y: the support sets, ``[B, N, ...]``.
        optimizer, steps, first_order, only: as for :func:`adapt`. Optimiser
            hyperparameters (e.g. :class:`MetaSGD` rates) are shared by all episodes.
        vectorize: evaluate the target on the episodes with ``vmap`` (``True``), one
            episode after another (``False``), or choose (``None``, the default: a loop
            for convolutional targets on a CPU, where it is faster; see
            :meth:`Target.batched <hyperfunc.Target.batched>`). Same values and gradients.
        checkpoint, truncate, implicit, cg_steps: as for :func:`adapt` (the
            implicit solve is per episode).

    Returns:
        The adapted weights, every tensor with a leading axis ``B``.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> from hyperfunc.inner import SGD, adapt_batched
        >>> target = hf.stateless(hf.targets.mlp(1, 1, hidden=(40, 40)))
        >>> theta = {n: p.requires_grad_() for n, p in target.init_params().items()}
        >>> xs, ys = torch.randn(25, 10, 1), torch.randn(25, 10, 1)    # 25 episodes, 10 shots
        >>> fast = adapt_batched(target, theta, torch.nn.functional.mse_loss, xs, ys,
        ...                      optimizer=SGD(lr=0.01), steps=5)
        >>> [tuple(t.shape) for t in fast.values()][:2]
        [(25, 40, 1), (25, 40)]
    """
    fix = "first_order=True"
    if not isinstance(target, Target):
        raise TypeError(
            f"adapt_batched needs a hyperfunc Target (it uses Target.batched), got "
            f"{type(target).__name__}; wrap the module with hyperfunc.stateless(module), or loop over "
            "episodes with adapt()"
        )
    _check_common(optimizer, steps, first_order, fix)
    if not isinstance(x, Tensor) or not isinstance(y, Tensor) or x.dim() == 0 or y.dim() == 0:
        raise TypeError("adapt_batched expects x and y to be tensors with a leading episode axis [B, ...]")
    b = x.shape[0]
    if y.shape[0] != b:
        raise SpecMismatchError(
            f"x has {b} episodes (leading axis) but y has {y.shape[0]}; give both as [B, N, ...]"
        )
    batch = target.spec.validate(params)
    if tuple(batch) == ():
        params = {n: p.expand(b, *p.shape) for n, p in params.items()}
    elif tuple(batch) != (b,):
        raise SpecMismatchError(
            f"params must be shared by all episodes (no batch axis) or have one leading axis of size "
            f"{b} (one weight set per episode, matching x), got batch shape {list(batch)}"
        )
    names = select_params(params, only)

    def loss_of(p: dict[str, Tensor]) -> Tensor:
        losses = torch.func.vmap(loss_fn)(target.batched(p, x, vectorize=vectorize), y)
        if losses.shape != (b,):
            raise ValueError(
                f"loss_fn must return a scalar per episode, got shape {list(losses.shape[1:])} for each; "
                "reduce it (e.g. with .mean()) inside loss_fn"
            )
        return losses.sum()

    _check_memory_options(checkpoint, truncate, steps)
    if implicit is not None:
        _check_implicit(implicit, cg_steps, optimizer, only, first_order, checkpoint, truncate)
        return _implicit(params, names, loss_of, optimizer, steps, float(implicit), cg_steps, True)
    return _run(params, names, loss_of, optimizer, steps, first_order, fix, checkpoint, truncate)
