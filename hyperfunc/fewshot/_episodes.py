"""N-way K-shot Q-query episodes sampled from a labelled dataset, in seeded meta-batches."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from hyperfunc.fewshot._batch import EpisodeBatch
from hyperfunc.fewshot._checks import batch_generator, check_seed, check_sizes

__all__ = ["Episodes"]

ArrayLike = Tensor | np.ndarray

_NEEDS_GROUPED = """\
images must be one tensor [classes, examples_per_class, ...] or a sequence of per-class tensors
[examples, ...]; got {got}. For flat inputs x [examples, ...] with labels y [examples] use
Episodes.from_labels(x, y, ...)."""


def _tensor(a: ArrayLike, name: str) -> Tensor:
    if isinstance(a, Tensor):
        return a
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a if a.flags.writeable else a.copy())
    raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(a).__name__}")


class Episodes:
    """N-way K-shot Q-query classification episodes, ``batch_size`` at a time.

    Each episode draws ``n_way`` distinct classes uniformly at random, then
    ``k_shot + q_query`` distinct examples of each (uniformly, without
    replacement): the first ``k_shot`` form the support set and the other
    ``q_query`` the query set, so the two never share an example. The classes get
    the local labels ``0..n_way-1`` in random order. Within each set the examples
    are grouped by label: support example ``j`` has label ``j // k_shot``, query
    example ``j`` label ``j // q_query``.

    Meta-batch ``i`` is a pure function of ``(seed, i)``: it is drawn with its own
    :class:`torch.Generator` (the global random state is neither used nor changed),
    so the same seed gives the same episodes in any order, and a resumed run sees
    the batches it would have seen.

    Args:
        images: the dataset grouped by class, ``[C, M, ...]`` (``M`` examples of
            each of ``C`` classes), or a sequence of ``C`` tensors ``[M_c, ...]``
            when classes have different numbers of examples. Tensors or numpy
            arrays; examples keep their dtype and device.
        n_way: classes per episode (``N``).
        k_shot: support examples per class (``K``).
        q_query: query examples per class (``Q``).
        batch_size: episodes per meta-batch (``B``).
        seed: seeds every meta-batch (a non-negative int).
        name: a short name for messages and ``repr``.
        dtype: convert the examples of each meta-batch to this floating dtype;
            integer examples (``uint8`` images, 0–255) are also divided by 255, so
            they can be stored 4× smaller than float32 and arrive in ``[0, 1]``.
            ``None`` (default) keeps them as stored.

    Raises:
        ValueError: an empty dataset, non-positive sizes, ``n_way`` larger than the
            number of classes, ``k_shot + q_query`` larger than the examples of
            the smallest class, or classes whose examples differ in shape.

    Examples:
        >>> import torch
        >>> from hyperfunc.fewshot import Episodes
        >>> images = torch.rand(10, 6, 1, 4, 4)      # 10 classes × 6 examples of 1×4×4
        >>> episodes = Episodes(images, n_way=3, k_shot=2, q_query=4, batch_size=8, seed=0)
        >>> batch = episodes.batch(0)
        >>> tuple(batch.x_support.shape), tuple(batch.x_query.shape)
        ((8, 6, 1, 4, 4), (8, 12, 1, 4, 4))
        >>> batch.y_support[0].tolist()
        [0, 0, 1, 1, 2, 2]
        >>> torch.equal(episodes.batch(0).x_query, batch.x_query)   # same seed, same episodes
        True
        >>> Episodes(images, n_way=3, k_shot=5, q_query=4)
        Traceback (most recent call last):
        ...
        ValueError: k_shot + q_query = 5 + 4 = 9 examples per class are needed, but class 0 has only 6 ...
    """

    def __init__(
        self,
        images: ArrayLike | Sequence[ArrayLike],
        *,
        n_way: int = 5,
        k_shot: int = 1,
        q_query: int = 15,
        batch_size: int = 16,
        seed: int = 0,
        name: str = "episodes",
        dtype: torch.dtype | None = None,
    ) -> None:
        if isinstance(images, (Tensor, np.ndarray)):
            x = _tensor(images, "images")
            if x.dim() < 2:
                raise ValueError(_NEEDS_GROUPED.format(got=f"shape {tuple(x.shape)}"))
            if x.shape[0] == 0 or x.shape[1] == 0:
                raise ValueError(
                    f"empty dataset {name!r}: images has shape {tuple(x.shape)} "
                    "([classes, examples_per_class, ...]); pass at least one example of n_way classes"
                )
            c, m = int(x.shape[0]), int(x.shape[1])
            flat, counts = x.reshape(c * m, *x.shape[2:]), torch.full((c,), m, dtype=torch.int64)
        elif isinstance(images, Sequence) and not isinstance(images, str):
            parts = [_tensor(p, f"images[{i}]") for i, p in enumerate(images)]
            if not parts:
                raise ValueError(f"empty dataset {name!r}: images has no classes; pass at least n_way")
            _check_parts(parts)
            flat = torch.cat(parts)
            counts = torch.tensor([len(p) for p in parts], dtype=torch.int64)
        else:
            raise TypeError(_NEEDS_GROUPED.format(got=type(images).__name__))
        self._setup(flat, counts, torch.arange(len(counts)), n_way, k_shot, q_query, batch_size, seed, name,
                    dtype)

    @classmethod
    def from_labels(
        cls,
        x: ArrayLike,
        y: ArrayLike,
        *,
        n_way: int = 5,
        k_shot: int = 1,
        q_query: int = 15,
        batch_size: int = 16,
        seed: int = 0,
        name: str = "episodes",
        dtype: torch.dtype | None = None,
    ) -> Episodes:
        """Episodes over flat examples ``x [M, ...]`` with integer labels ``y [M]``.

        Any integer labels will do (they need not be ``0..C-1``);
        :attr:`EpisodeBatch.classes` reports them. The other arguments are those
        of :class:`Episodes`.

        Examples:
            >>> import torch
            >>> from hyperfunc.fewshot import Episodes
            >>> x, y = torch.randn(60, 2), torch.arange(60) % 4 * 10   # labels 0, 10, 20, 30
            >>> b = Episodes.from_labels(x, y, n_way=2, k_shot=1, q_query=3, batch_size=5).batch(0)
            >>> tuple(b.x_support.shape), set(b.classes.flatten().tolist()) <= {0, 10, 20, 30}
            ((5, 2, 2), True)
        """
        xt, yt = _tensor(x, "x"), _tensor(y, "y")
        problems = []
        if xt.dim() < 1:
            problems.append("x must be [examples, ...], got a scalar")
        if yt.dim() != 1:
            problems.append(f"y must be a 1-D tensor of labels [examples], got shape {tuple(yt.shape)}")
        elif yt.dtype.is_floating_point or yt.dtype.is_complex or yt.dtype == torch.bool:
            problems.append(f"y must hold integer labels, got dtype {yt.dtype}")
        if xt.dim() >= 1 and yt.dim() == 1 and len(xt) != len(yt):
            problems.append(f"x has {len(xt)} examples but y has {len(yt)} labels")
        if problems:
            raise ValueError("bad labelled dataset: " + "; ".join(problems) + ". Pass x [M, ...] and y [M].")
        if len(yt) == 0:
            raise ValueError(f"empty dataset {name!r}: x and y have no examples; pass at least one")
        labels, inverse, counts = torch.unique(yt.cpu(), return_inverse=True, return_counts=True)
        order = torch.argsort(inverse, stable=True)
        flat = xt[order.to(xt.device)]
        episodes = cls.__new__(cls)
        episodes._setup(flat, counts, labels, n_way, k_shot, q_query, batch_size, seed, name, dtype)
        return episodes

    def _setup(
        self,
        flat: Tensor,
        counts: Tensor,
        labels: Tensor,
        n_way: int,
        k_shot: int,
        q_query: int,
        batch_size: int,
        seed: int,
        name: str,
        dtype: torch.dtype | None,
    ) -> None:
        check_sizes(n_way=n_way, k_shot=k_shot, q_query=q_query, batch_size=batch_size)
        if dtype is not None and (not isinstance(dtype, torch.dtype) or not dtype.is_floating_point):
            raise ValueError(
                f"dtype must be None (keep the examples' dtype) or a floating torch.dtype such as "
                f"torch.float32, got {dtype!r}"
            )
        self.dtype = dtype
        self.seed = check_seed(seed)
        num_classes = len(counts)
        if n_way > num_classes:
            raise ValueError(
                f"n_way={n_way} but dataset {name!r} has only {num_classes} classes; choose "
                f"n_way <= {num_classes} (or add classes: Omniglot's rotations=True has 4× as many)"
            )
        smallest = int(torch.argmin(counts))
        have = int(counts[smallest])
        if k_shot + q_query > have:
            raise ValueError(
                f"k_shot + q_query = {k_shot} + {q_query} = {k_shot + q_query} examples per class are "
                f"needed, but class {int(labels[smallest])} has only {have} (the smallest class of "
                f"{name!r}); choose k_shot + q_query <= {have}, or leave out the classes with fewer examples"
            )
        self.n_way, self.k_shot, self.q_query = int(n_way), int(k_shot), int(q_query)
        self.batch_size, self.name = int(batch_size), name
        self._flat, self._counts, self._labels = flat, counts, labels
        self._offsets = torch.cumsum(counts, 0) - counts
        self._max_count = int(counts.max())
        self._ragged = bool((counts != self._max_count).any())

    # ---------------------------------------------------------------- public
    @property
    def num_classes(self) -> int:
        """``C``, the number of classes episodes are drawn from."""
        return len(self._counts)

    @property
    def example_shape(self) -> tuple[int, ...]:
        """The shape of one example (``(1, 28, 28)`` for Omniglot)."""
        return tuple(int(d) for d in self._flat.shape[1:])

    def replace(
        self,
        *,
        n_way: int | None = None,
        k_shot: int | None = None,
        q_query: int | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
        name: str | None = None,
    ) -> Episodes:
        """A sampler over the same data with the given settings changed (the others kept).

        The data is shared, not copied: ``train.replace(seed=1, q_query=5)`` is cheap,
        and checked again like a new :class:`Episodes` (``self`` is left unchanged).
        """
        new = type(self).__new__(type(self))
        new._setup(
            self._flat,
            self._counts,
            self._labels,
            self.n_way if n_way is None else n_way,
            self.k_shot if k_shot is None else k_shot,
            self.q_query if q_query is None else q_query,
            self.batch_size if batch_size is None else batch_size,
            self.seed if seed is None else seed,
            self.name if name is None else name,
            self.dtype,
        )
        return new

    def batch(self, index: int) -> EpisodeBatch:
        """Meta-batch number ``index`` (``0, 1, ...``): ``batch_size`` episodes, the same for a seed."""
        check_seed(index, "the batch index")
        g = batch_generator(self.seed, int(index))
        b, n, k, q = self.batch_size, self.n_way, self.k_shot, self.q_query
        chosen = torch.rand(b, self.num_classes, generator=g, dtype=torch.float64).topk(n, dim=1).indices
        keys = torch.rand(b, n, self._max_count, generator=g, dtype=torch.float64)
        if self._ragged:
            beyond = torch.arange(self._max_count) >= self._counts[chosen][..., None]
            keys = keys.masked_fill(beyond, -1.0)
        picked = self._offsets[chosen][..., None] + keys.topk(k + q, dim=2).indices  # [B, N, K+Q]
        x = self._flat[picked.to(self._flat.device)]
        if self.dtype is not None and x.dtype != self.dtype:
            integer = not (x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool)
            x = x.to(self.dtype)
            if integer:
                x = x.div_(255.0)
        device = self._flat.device
        return EpisodeBatch(
            x[:, :, :k].reshape(b, n * k, *x.shape[3:]),
            torch.arange(n, device=device).repeat_interleave(k).repeat(b, 1),
            x[:, :, k:].reshape(b, n * q, *x.shape[3:]),
            torch.arange(n, device=device).repeat_interleave(q).repeat(b, 1),
            n,
            self._labels[chosen],
        )

    def __iter__(self) -> Iterator[EpisodeBatch]:
        """Meta-batches ``0, 1, 2, ...`` without end (use :func:`itertools.islice`)."""
        return map(self.batch, itertools.count())

    def __repr__(self) -> str:
        return (
            f"Episodes({self.name!r}, {self.n_way}-way {self.k_shot}-shot {self.q_query}-query, "
            f"batch_size={self.batch_size}, {self.num_classes} classes of {self.example_shape}, "
            f"seed={self.seed}{'' if self.dtype is None else f', dtype={self.dtype}'})"
        )


def _check_parts(parts: list[Tensor]) -> None:
    """Every class's examples must share one example shape, dtype and device."""
    ref = parts[0]
    problems = []
    for i, p in enumerate(parts):
        if p.dim() < 1:
            problems.append(f"class {i} is a scalar, not [examples, ...]")
        elif p.shape[1:] != ref.shape[1:]:
            problems.append(f"class {i} has examples of shape {tuple(p.shape[1:])}")
        elif p.dtype != ref.dtype or p.device != ref.device:
            problems.append(f"class {i} is {p.dtype} on {p.device}")
    if problems:
        raise ValueError(
            f"classes differ: class 0 has examples of shape {tuple(ref.shape[1:])} ({ref.dtype} on "
            f"{ref.device}), but " + "; ".join(problems) + ". Give every class examples of one shape "
            "and dtype."
        )
