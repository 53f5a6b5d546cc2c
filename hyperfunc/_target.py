"""Stateless targets: any ``nn.Module`` as a pure function of its weights."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch._C._functorch import is_batchedtensor
from torch.func import functional_call, vmap
from torch.utils._pytree import tree_map

from hyperfunc._errors import NonFiniteWeightsError, SpecMismatchError
from hyperfunc._fast_mlp import Step, mlp_plan, run_mlp_plan
from hyperfunc._init_stats import InitStats, init_stats_from_module, sample_params
from hyperfunc._spec import ParamSpec

__all__ = ["Target", "stateless", "check_finite", "LoopFallbackWarning"]


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


class LoopFallbackWarning(UserWarning):
    """:meth:`Target.batched` evaluates the weight sets one after another (no batching rule exists)."""


_RECURRENT_NOTICE = (
    "{target} contains {kinds}, for which torch.func.vmap has no batching rule; Target.batched "
    "evaluates its {b} weight sets one after another (same values and gradients as a batched call). "
    "Pass vectorize=False to say so explicitly and silence this notice."
)

_NOT_A_MODULE = """\
hyperfunc.stateless expects a torch.nn.Module, got {got}.
Wrap your computation in a module first, e.g.

    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    target = hyperfunc.stateless(net)
"""


def _skeleton(module: nn.Module) -> nn.Module:
    """A deep copy whose parameters and buffers live on the meta device (no storage).

    Tied parameters stay tied: every alias of one tensor gets the same meta tensor.
    Batch norm layers stop tracking running statistics (see :class:`Target`).
    """
    skel = copy.deepcopy(module)
    replaced: dict[int, Tensor] = {}
    for mod in skel.modules():
        for key, p in list(mod._parameters.items()):
            if p is None:
                continue
            if id(p) not in replaced:
                replaced[id(p)] = nn.Parameter(
                    torch.empty_like(p, device="meta"), requires_grad=False
                )
            mod._parameters[key] = replaced[id(p)]  # type: ignore[assignment]
        for key, b in list(mod._buffers.items()):
            if b is None:
                continue
            if id(b) not in replaced:
                replaced[id(b)] = torch.empty_like(b, device="meta")
            mod._buffers[key] = replaced[id(b)]
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            mod.track_running_stats = False
    return skel


def check_finite(params: Mapping[str, Tensor]) -> None:
    """Raise :class:`~hyperfunc.NonFiniteWeightsError` if any tensor holds NaN or inf.

    It synchronises with the device, so it is opt-in (``check_finite=True`` on
    :func:`stateless` or :func:`compose`) rather than always on.
    """
    bad = []
    for name, t in params.items():
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            n_nan = int(torch.isnan(t).sum())
            bad.append(f"{name!r} ({n_nan} NaN, {int((~finite).sum()) - n_nan} inf)")
    if bad:
        raise NonFiniteWeightsError(
            "generated weights are not finite: " + ", ".join(bad) + ". Usual causes: a "
            "learning rate that is too high, or a hypernetwork whose output scale diverged; "
            "lower the learning rate, clip gradients, or check the hypernetwork's inputs."
        )


class Target:
    """A target network as a stateless function ``target(params, *inputs)``.

    Build one with :func:`stateless`. The target keeps a *skeleton* of the module
    (a deep copy whose parameters live on the ``meta`` device, so it has no
    trainable state and no parameter memory) and copies of its buffers. Weights
    are always passed in, as a dict matching :attr:`spec`.

    **Buffers and normalisation.** A target never updates buffers. In training
    mode (the module's mode when :func:`stateless` was called; switch with
    :meth:`train` / :meth:`eval`) batch norm uses the statistics of the current
    batch (the meta-learning convention) and does not touch running statistics.
    In eval mode it uses the running statistics in :attr:`buffers`, or in the
    ``buffers=`` argument of a call. Keep your own running statistics by passing
    them explicitly.

    **Running statistics on request.** :meth:`with_stats` evaluates like a call and
    also returns the buffers as the module would hold them afterwards (batch norm's
    running mean, variance and count updated from this batch in training mode),
    without changing anything passed in: carry them along explicitly (for instance
    through an inner loop, :func:`hyperfunc.inner.adapt_with_stats`).

    **Tied weights** appear once in the spec (under their first name) and are
    used at every place they are tied to.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        check_finite: bool = False,
        randomness: str = "different",
        channels_last: bool = True,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(_NOT_A_MODULE.format(got=type(module).__name__))
        self._spec = ParamSpec.from_module(module)
        self._buffers = {n: b.detach().clone() for n, b in module.named_buffers()}
        self._init = init_stats_from_module(module)
        self._skel = _skeleton(module)
        self._plan: list[Step] | None = mlp_plan(self._skel) if not self._buffers else None
        #: recurrent layers (RNN, GRU, LSTM) have no vmap batching rule: batched() loops over weight sets
        self._recurrent = sorted({type(m).__name__ for m in module.modules() if isinstance(m, nn.RNNBase)})
        self._conv = any(isinstance(m, _CONVS) for m in module.modules())
        # CPU loops over weight sets run 2-D convolutions channels-last (a layout, not a change of
        # numbers): PyTorch's CPU max-pooling, batch norm and oneDNN convolutions are faster so
        self._layout = _Layout()
        self.channels_last = bool(channels_last)
        for m in self._skel.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.register_forward_hook(self._layout.hook)
        self._noticed = False
        self._stats_skel: nn.Module | None = None  # the skeleton with running statistics tracked
        self._name = type(module).__name__
        self.check_finite = check_finite
        self.randomness = randomness

    # ----------------------------------------------------------- properties
    @property
    def spec(self) -> ParamSpec:
        """The :class:`~hyperfunc.ParamSpec` that weight dicts must match."""
        return self._spec

    @property
    def buffers(self) -> dict[str, Tensor]:
        """The buffers copied from the module (a new dict; the tensors are shared)."""
        return dict(self._buffers)

    @property
    def init_stats(self) -> InitStats:
        """Mean and variance of each parameter under the module's own initialisation."""
        return self._init

    @property
    def training(self) -> bool:
        """Whether the target runs in training mode (see the class docstring)."""
        return self._skel.training

    @property
    def has_fast_path(self) -> bool:
        """Whether :meth:`batched` can use batched matmuls (plain MLP targets)."""
        return self._plan is not None

    @property
    def mlp_plan(self) -> tuple[Step, ...] | None:
        """The plain-MLP steps that :meth:`batched`'s fast path runs, or ``None``.

        ``None`` unless the module is a plain MLP (see :attr:`has_fast_path`). Each
        step is ``(weight_name, bias_name)`` for an ``nn.Linear`` (``bias_name`` is
        ``None`` without a bias), or the parameter-free elementwise module (from
        the skeleton) that is applied next. A new tuple; the target is unchanged.

        Examples:
            >>> import torch, hyperfunc as hf
            >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
            >>> hf.stateless(net).mlp_plan
            (('0.weight', '0.bias'), ReLU(), ('2.weight', '2.bias'))
        """
        return None if self._plan is None else tuple(self._plan)

    @property
    def module(self) -> nn.Module:
        """The skeleton module (meta-device parameters; for inspection only)."""
        return self._skel

    def __repr__(self) -> str:
        return (
            f"Target({self._name}, {len(self._spec)} tensors, {self._spec.size:,} weights, "
            f"{'train' if self.training else 'eval'})"
        )

    # ----------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Target:
        """A copy of this target in training (or eval) mode; this one is unchanged."""
        new = copy.copy(self)
        new._skel = copy.deepcopy(self._skel).train(mode)
        new._stats_skel = None
        if self._plan is not None:  # the plan's modules (e.g. Dropout) must be the new skeleton's
            new._plan = mlp_plan(new._skel)
        return new

    def eval(self) -> Target:
        """A copy of this target in eval mode; this one is unchanged."""
        return self.train(False)

    def to(self, device: torch.device | str) -> Target:
        """A copy of this target whose buffers live on ``device`` (weights are passed in)."""
        new = copy.copy(self)
        new._buffers = {n: b.to(device) for n, b in self._buffers.items()}
        return new

    # ------------------------------------------------------------ sampling
    def init_params(
        self, batch_shape: Sequence[int] = (), *, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Sample weights with the module's initial statistics (uniform, matched mean/var)."""
        return sample_params(self._spec, self._init, tuple(batch_shape), generator)

    # ----------------------------------------------------------- checking
    def _check(
        self,
        params: Mapping[str, Tensor],
        inputs: Sequence[Any],
        batch: tuple[int, ...] | None,
        validated: bool = False,
    ) -> torch.Size:
        shape = torch.Size(batch or ()) if validated else self._spec.validate(params, batch_shape=batch)
        problems = []
        first = next(iter(params.values()), None)
        if first is not None:
            devs = {t.device for t in params.values()}
            if len(devs) > 1:
                problems.append(f"parameters are on several devices {sorted(map(str, devs))}")
            bdevs = {b.device for b in self._buffers.values()} - {first.device}
            if bdevs:
                problems.append(
                    f"the target's buffers are on {sorted(map(str, bdevs))} but the weights are on "
                    f"{first.device}; use target.to({str(first.device)!r})"
                )
            for i, x in enumerate(inputs):
                if not isinstance(x, Tensor):
                    continue
                if x.device != first.device:
                    problems.append(
                        f"input {i} is on {x.device} but the weights are on {first.device}; "
                        f"move it with x.to({str(first.device)!r})"
                    )
                if x.is_floating_point() and first.is_floating_point() and x.dtype != first.dtype:
                    problems.append(
                        f"input {i} has dtype {x.dtype} but the weights are {first.dtype}; "
                        f"cast it with x.to({first.dtype})"
                    )
        if problems:
            raise SpecMismatchError("bad call to the target:\n  - " + "\n  - ".join(problems))
        if self.check_finite:
            check_finite(params)
        return shape

    def _state(self, params: Mapping[str, Tensor], buffers: Mapping[str, Tensor] | None) -> Any:
        bufs = self._buffers if buffers is None else buffers
        if buffers is not None:
            missing = sorted(set(self._buffers) - set(buffers))
            extra = sorted(set(buffers) - set(self._buffers))
            if missing or extra:
                raise SpecMismatchError(
                    f"buffers do not match the target: missing {missing}, unexpected {extra}; "
                    f"expected exactly {sorted(self._buffers)}"
                )
        return (dict(params), dict(bufs)) if bufs else dict(params)

    # -------------------------------------------------------------- calling
    def with_stats(
        self,
        params: Mapping[str, Tensor],
        *inputs: Any,
        buffers: Mapping[str, Tensor] | None = None,
        **kwargs: Any,
    ) -> tuple[Any, dict[str, Tensor]]:
        """``(output, new_buffers)``: a call that also returns the updated running statistics.

        In training mode batch norm normalises with the batch's statistics (as a
        call does) and the returned buffers hold the running mean, variance and
        batch count updated from this batch exactly as ``nn.BatchNorm`` updates its
        own; in eval mode they are returned unchanged. ``buffers`` (default
        :attr:`buffers`) and everything else passed in stay unchanged.

        Examples:
            >>> import torch, hyperfunc as hf
            >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
            >>> target = hf.stateless(net)
            >>> x = torch.randn(8, 3) + 5
            >>> out, stats = target.with_stats(dict(net.named_parameters()), x)
            >>> _ = net(x)                                   # the module updates its own
            >>> torch.allclose(stats["1.running_mean"], net[1].running_mean)
            True
            >>> int(stats["1.num_batches_tracked"])
            1
        """
        self._check(params, inputs, ())
        state = self._state(params, buffers)
        if not isinstance(state, tuple):  # no buffers at all
            return functional_call(self._skel, state, inputs, kwargs), {}
        if self._stats_skel is None:
            skel = copy.deepcopy(self._skel)
            for mod in skel.modules():
                if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.running_mean is not None:
                    mod.track_running_stats = True
            self._stats_skel = skel
        new = {k: v.detach().clone() for k, v in state[1].items()}
        return functional_call(self._stats_skel, (state[0], new), inputs, kwargs), new

    def __call__(
        self,
        params: Mapping[str, Tensor],
        *inputs: Any,
        buffers: Mapping[str, Tensor] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Evaluate the target with one weight set (no batch dims on ``params``)."""
        self._check(params, inputs, ())
        return functional_call(self._skel, self._state(params, buffers), inputs, kwargs)

    def batched(
        self,
        params: Mapping[str, Tensor],
        *inputs: Any,
        shared: bool | Sequence[bool] = False,
        buffers: Mapping[str, Tensor] | None = None,
        fast: bool | None = None,
        vectorize: bool | None = None,
    ) -> Any:
        """Evaluate B weight sets in one vectorised call.

        Args:
            params: every tensor has one leading axis of size B.
            inputs: each is either batched the same way (leading axis B, one input
                batch per weight set) or shared by all weight sets; say which with
                ``shared``.
            shared: ``True`` if all inputs are shared, or one flag per input.
            buffers: buffers to use instead of :attr:`buffers` (shared by all B).
            fast: use the batched-matmul path for plain MLP targets. ``None`` (the
                default) uses it whenever the target is a plain MLP called with one
                tensor input; ``False`` forces the general ``vmap`` path.
            vectorize: ``True`` evaluates the weight sets with ``vmap``, ``False`` one
                after another (a Python loop, results stacked). Values and gradients
                are the same. ``None`` (the default) chooses: a loop for convolutional
                targets on a CPU, where ``vmap``'s grouped convolution is about twice as
                slow as a loop for ``conv4`` (measured: ``benchmarks/bench_maml_conv4.py``;
                the loop runs 2-D convolutions in the channels-last layout unless the
                target was made with ``channels_last=False``: see :func:`stateless`),
                ``vmap`` otherwise. Targets with
                recurrent layers (``nn.RNN``, ``nn.GRU``, ``nn.LSTM``), which ``vmap``
                cannot batch, always take this path; the first such call issues a
                :class:`LoopFallbackWarning` unless ``vectorize=False`` was passed.

        Returns:
            The target's output with a leading axis of size B.
        """
        flags = [shared] * len(inputs) if isinstance(shared, bool) else [bool(s) for s in shared]
        if len(flags) != len(inputs):
            raise ValueError(
                f"shared has {len(flags)} flags but {len(inputs)} inputs were given; "
                "give one flag per input, or a single bool for all of them"
            )
        batch = self._spec.validate(params)
        if len(batch) != 1:
            raise SpecMismatchError(
                f"Target.batched expects exactly one leading batch axis on every parameter, "
                f"got batch shape {list(batch)}; reshape the weights to [B, ...] (and the "
                "inputs to match), or call the target directly for a single weight set"
            )
        b = batch[0]
        for i, (x, sh) in enumerate(zip(inputs, flags)):
            if not sh and (not isinstance(x, Tensor) or x.dim() == 0 or x.shape[0] != b):
                got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
                raise SpecMismatchError(
                    f"input {i} should have a leading axis of size {b} (one entry per weight "
                    f"set), got {got}; if this input is the same for every weight set, pass "
                    "shared=True (or a flag per input)"
                )
        self._check(params, inputs, (b,), validated=True)
        use_fast = self._plan is not None and len(inputs) == 1 and isinstance(inputs[0], Tensor)
        if fast and not use_fast:
            raise ValueError(
                f"fast=True needs a plain MLP target (nn.Sequential of nn.Linear and "
                f"elementwise activations, no buffers) called with one tensor; {self!r} is not"
            )
        if use_fast and fast is not False and buffers is None:
            assert self._plan is not None
            return run_mlp_plan(self._plan, params, inputs[0], shared=flags[0])
        if vectorize is None:  # measured: a loop beats vmap's grouped convolution on a CPU
            vectorize = not (self._conv and all(p.device.type == "cpu" for p in params.values()))
        if vectorize and self._recurrent:
            if not self._noticed:
                self._noticed = True
                kinds = ", ".join(f"nn.{k}" for k in self._recurrent)
                notice = _RECURRENT_NOTICE.format(target=self._name, kinds=kinds, b=b)
                warnings.warn(notice, LoopFallbackWarning, stacklevel=2)
            vectorize = False
        if not vectorize:
            tensors = [t for t in (*params.values(), *inputs) if isinstance(t, Tensor)]
            fmt = _same
            cpu = all(t.device.type == "cpu" and not is_batchedtensor(t) for t in tensors)
            if self._conv and self.channels_last and cpu:
                fmt, self._layout.channels_last = _channels_last, True
            try:
                outs = [
                    functional_call(
                        self._skel, self._state({n: fmt(p[i]) for n, p in params.items()}, buffers),
                        tuple(fmt(x if sh else x[i]) for x, sh in zip(inputs, flags)),
                    )
                    for i in range(b)
                ]
            finally:
                self._layout.channels_last = False
            return tree_map(lambda *xs: torch.stack(xs), outs[0], *outs[1:])
        state = self._state(params, buffers)
        p_dims: Any = (0, None) if isinstance(state, tuple) else 0

        def one(st: Any, *xs: Any) -> Any:
            return functional_call(self._skel, st, xs)

        in_dims = (p_dims, *(None if s else 0 for s in flags))
        return vmap(one, in_dims=in_dims, randomness=self.randomness)(state, *inputs)


class _Layout:
    """Whether the skeleton's 2-D convolutions hand their outputs on channels-last (a forward hook)."""

    def __init__(self) -> None:
        self.channels_last = False

    def hook(self, module: nn.Module, args: Any, out: Any) -> Any:
        return _channels_last(out) if self.channels_last else out


def _channels_last(t: Any) -> Any:
    return t.contiguous(memory_format=torch.channels_last) if isinstance(t, Tensor) and t.dim() == 4 else t


def _same(t: Any) -> Any:
    return t


def stateless(
    module: nn.Module,
    *,
    check_finite: bool = False,
    randomness: str = "different",
    channels_last: bool = True,
) -> Target:
    """Turn ``module`` into a stateless :class:`Target` ``target(params, *inputs)``.

    The module itself is never changed, neither now nor by any later call.

    Args:
        module: any ``nn.Module``; its parameters define :attr:`Target.spec`.
        check_finite: check every weight set for NaN/inf before each call and raise
            :class:`~hyperfunc.NonFiniteWeightsError` (costs a device sync).
        randomness: ``vmap`` randomness mode for :meth:`Target.batched` (``"different"``
            gives each weight set its own dropout masks; see ``torch.func.vmap``).
        channels_last: let :meth:`Target.batched`'s loop over weight sets on a CPU run
            2-D convolutions, their batch norm and pooling in the channels-last layout:
            about 1.3× faster for ``conv4`` MAML, but oneDNN's float32 kernels there are
            less exact (a second-order meta-gradient of ``conv4`` differs from float64's by
            about 1e-2 of its largest element instead of 1e-4; float64 is exact either
            way). ``False`` keeps PyTorch's default layout.

    Examples:
        >>> import torch, hyperfunc as hf
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        >>> target = hf.stateless(net)
        >>> params = dict(net.named_parameters())
        >>> x = torch.randn(5, 2)
        >>> torch.allclose(target(params, x), net(x))
        True
        >>> batch = target.init_params((4,))          # 4 weight sets
        >>> target.batched(batch, x, shared=True).shape
        torch.Size([4, 5, 1])
    """
    return Target(module, check_finite=check_finite, randomness=randomness, channels_last=channels_last)
