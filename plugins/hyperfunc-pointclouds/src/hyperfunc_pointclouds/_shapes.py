"""The ``shapes`` task: procedurally generated point clouds of simple surfaces."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import attrs
import numpy as np
import torch
from torch import Tensor

from hyperfunc_pointclouds._checks import check_positive, check_seed

__all__ = ["SHAPES", "ShapeClouds", "shapes"]

#: The surfaces :func:`shapes` can generate, in label order of the default ``kinds``.
SHAPES: tuple[str, ...] = ("sphere", "torus", "box", "cylinder", "cone")


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@attrs.frozen(eq=False)
class ShapeClouds:
    """``K`` point clouds of simple shapes, with their labels and generating parameters.

    Returned by :func:`shapes`. Cloud ``i`` is the surface of kind
    ``kinds[labels[i]]`` with size parameters ``dims[i]``, rotated by
    ``rotations[i]`` about the origin: ``points[i] = local[i] @ rotations[i].T``,
    where ``local[i]`` (:meth:`local_points`) is the unrotated surface, centred at
    the origin with its axis along ``z``. The meaning of ``dims[i] = (d0, d1, d2)``
    per kind, and the surface in the local frame (``ρ = √(x² + y²)``):

    - ``sphere``: radius ``r``, 0, 0; ``x² + y² + z² = r²``.
    - ``torus``: major radius ``R``, minor radius ``r < R``, 0; ``(ρ − R)² + z² = r²``.
    - ``box``: half-extents ``a, b, c``; ``max(|x|/a, |y|/b, |z|/c) = 1``.
    - ``cylinder`` (closed): radius ``r``, half-height ``h``, 0; the side ``ρ = r,
      |z| ≤ h`` and the caps ``|z| = h, ρ ≤ r``.
    - ``cone`` (closed): base radius ``r``, half-height ``h``, 0; apex at
      ``(0, 0, h)``, the side ``ρ = r·(h − z)/(2h), |z| ≤ h`` and the base
      ``z = −h, ρ ≤ r``.

    Attributes:
        points: ``[K, N, 3]`` surface points, uniform with respect to area.
        labels: ``[K]`` int64 indices into ``kinds``.
        kinds: the shape names the labels refer to.
        dims: ``[K, 3]`` size parameters (see the list above).
        rotations: ``[K, 3, 3]`` rotation matrices (identity when not rotated).
    """

    points: Tensor
    labels: Tensor
    kinds: tuple[str, ...] = attrs.field(converter=_names)
    dims: Tensor
    rotations: Tensor

    def __attrs_post_init__(self) -> None:
        problems = []
        p = self.points
        k = -1
        ok = isinstance(p, Tensor) and p.dim() == 3 and p.shape[-1] == 3
        if not ok or not p.is_floating_point():
            got = f"{list(p.shape)} {p.dtype}" if isinstance(p, Tensor) else type(p).__name__
            problems.append(f"points must be a floating tensor [K, N, 3], got {got}")
        else:
            k = p.shape[0]
        for name, tail in (("labels", ()), ("dims", (3,)), ("rotations", (3, 3))):
            t = getattr(self, name)
            want = (k, *tail)
            if not isinstance(t, Tensor) or (k >= 0 and tuple(t.shape) != want):
                found = str(list(t.shape)) if isinstance(t, Tensor) else type(t).__name__
                problems.append(f"{name} must have shape {list(want)}, got {found}")
        unknown = [name for name in self.kinds if name not in SHAPES]
        if unknown:
            problems.append(f"unknown kinds {unknown}; known: {', '.join(SHAPES)}")
        labels = self.labels
        if not problems:
            if labels.is_floating_point() or labels.dtype == torch.bool:
                problems.append(f"labels must be integers, got {labels.dtype}")
            elif labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(self.kinds)):
                problems.append(
                    f"labels must index kinds (0..{len(self.kinds) - 1}), got range "
                    f"{int(labels.min())}..{int(labels.max())}"
                )
        if problems:
            raise ValueError("ShapeClouds: " + "; ".join(problems))

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def num_points(self) -> int:
        """``N``, the number of points per cloud."""
        return int(self.points.shape[1])

    def local_points(self) -> Tensor:
        """The clouds with their rotations undone, ``points[i] @ rotations[i]`` (``[K, N, 3]``)."""
        return self.points @ self.rotations

    def to(self, device: torch.device | str) -> ShapeClouds:
        """The same clouds with every tensor on ``device``."""
        return attrs.evolve(
            self,
            points=self.points.to(device),
            labels=self.labels.to(device),
            dims=self.dims.to(device),
            rotations=self.rotations.to(device),
        )


# ------------------------------------------------------------------- sampling
Sampler = Callable[[int, torch.Generator, float], tuple[Tensor, Tensor]]


def _u(g: torch.Generator, *shape: int, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    return torch.rand(*shape, generator=g, dtype=torch.float64) * (hi - lo) + lo


def _choose(g: torch.Generator, areas: Sequence[float], n: int) -> Tensor:
    """For each of ``n`` points, which part of a surface it lies on (probability ∝ area)."""
    weights = torch.tensor(areas, dtype=torch.float64)
    return torch.multinomial(weights, n, replacement=True, generator=g)


def _sphere(n: int, g: torch.Generator, s: float) -> tuple[Tensor, Tensor]:
    r = s
    v = torch.randn(n, 3, generator=g, dtype=torch.float64)
    v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return r * v, torch.tensor([r, 0.0, 0.0], dtype=torch.float64)


def _torus(n: int, g: torch.Generator, s: float) -> tuple[Tensor, Tensor]:
    big = 0.65 * s
    small = big * float(_u(g, 1, lo=0.2, hi=0.5))
    # the area element is ∝ (R + r cos v): accept tube angles with that probability
    kept: list[Tensor] = []
    have = 0
    while have < n:
        v = _u(g, 2 * n, hi=2 * math.pi)
        accept = _u(g, 2 * n) * (big + small) < big + small * torch.cos(v)
        kept.append(v[accept])
        have += int(accept.sum())
    v = torch.cat(kept)[:n]
    phi = _u(g, n, hi=2 * math.pi)
    ring = big + small * torch.cos(v)
    pts = torch.stack([ring * torch.cos(phi), ring * torch.sin(phi), small * torch.sin(v)], -1)
    return pts, torch.tensor([big, small, 0.0], dtype=torch.float64)


def _box(n: int, g: torch.Generator, s: float) -> tuple[Tensor, Tensor]:
    half = s * _u(g, 3, lo=0.3, hi=0.6)
    a, b, c = (float(x) for x in half)
    face = _choose(g, [b * c, b * c, a * c, a * c, a * b, a * b], n)  # ±x, ±y, ±z
    pts = (2 * _u(g, n, 3) - 1) * half
    axis = face // 2
    sign = 1.0 - 2.0 * (face % 2).double()
    rows = torch.arange(n)
    pts[rows, axis] = sign * half[axis]
    return pts, half


def _disc(g: torch.Generator, n: int, r: float) -> tuple[Tensor, Tensor]:
    rho = r * _u(g, n).sqrt()
    theta = _u(g, n, hi=2 * math.pi)
    return rho * torch.cos(theta), rho * torch.sin(theta)


def _cylinder(n: int, g: torch.Generator, s: float) -> tuple[Tensor, Tensor]:
    r = s * float(_u(g, 1, lo=0.3, hi=0.7))
    h = s * float(_u(g, 1, lo=0.3, hi=0.7))
    part = _choose(g, [2 * math.pi * r * 2 * h, math.pi * r * r, math.pi * r * r], n)
    theta = _u(g, n, hi=2 * math.pi)
    side = torch.stack([r * torch.cos(theta), r * torch.sin(theta), _u(g, n, lo=-h, hi=h)], -1)
    dx, dy = _disc(g, n, r)
    cap_z = h * (1.0 - 2.0 * (part == 2).double())  # part 1: top cap, part 2: bottom
    cap = torch.stack([dx, dy, cap_z], -1)
    pts = torch.where((part == 0).unsqueeze(-1), side, cap)
    return pts, torch.tensor([r, h, 0.0], dtype=torch.float64)


def _cone(n: int, g: torch.Generator, s: float) -> tuple[Tensor, Tensor]:
    r = s * float(_u(g, 1, lo=0.3, hi=0.7))
    h = s * float(_u(g, 1, lo=0.3, hi=0.7))
    slant = math.hypot(r, 2 * h)
    part = _choose(g, [math.pi * r * slant, math.pi * r * r], n)
    # on the lateral surface the area within distance t·slant of the apex is ∝ t²
    t = _u(g, n).sqrt()
    theta = _u(g, n, hi=2 * math.pi)
    side = torch.stack([r * t * torch.cos(theta), r * t * torch.sin(theta), h - 2 * h * t], -1)
    dx, dy = _disc(g, n, r)
    base = torch.stack([dx, dy, torch.full_like(dx, -h)], -1)
    pts = torch.where((part == 0).unsqueeze(-1), side, base)
    return pts, torch.tensor([r, h, 0.0], dtype=torch.float64)


_SAMPLERS: dict[str, Sampler] = {
    "sphere": _sphere, "torus": _torus, "box": _box, "cylinder": _cylinder, "cone": _cone,
}


def _rotation(g: torch.Generator) -> Tensor:
    """A rotation matrix uniform on SO(3), from a uniformly random unit quaternion."""
    q = torch.randn(4, generator=g, dtype=torch.float64)
    w, x, y, z = (q / q.norm().clamp_min(1e-300)).tolist()
    return torch.tensor(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ],
        dtype=torch.float64,
    )


def _cloud_generator(seed: int, index: int) -> torch.Generator:
    # SeedSequence mixes (seed, index) into a well-spread 64-bit seed per cloud
    hi, lo = np.random.SeedSequence([seed, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed((int(hi) << 32) | int(lo))


def _interval(name: str, value: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"shapes: {name} must be a pair (low, high), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(
            f"shapes: {name} must be an interval 0 < low <= high of finite numbers, got {value!r}"
        )
    return lo, hi


def shapes(
    num_clouds: int = 20,
    num_points: int = 1024,
    *,
    kinds: Sequence[str] = SHAPES,
    seed: int = 0,
    scale: tuple[float, float] = (0.6, 1.0),
    rotate: bool = True,
    dtype: torch.dtype = torch.float32,
) -> ShapeClouds:
    """Point clouds of spheres, tori, boxes, cylinders and cones, randomly sized, shaped and posed.

    Cloud ``i`` has kind ``kinds[i % len(kinds)]`` (so every kind appears, in
    turn) and ``num_points`` points drawn uniformly (with respect to area) from
    its closed surface. Its overall size is a factor ``s ~ U(scale)``; its
    proportions are random within each kind (a torus's minor radius is 0.2–0.5 of
    its major radius ``0.65·s``; a box's half-extents are ``0.3–0.6·s``; a
    cylinder's and a cone's radius and half-height are ``0.3–0.7·s``, all drawn
    independently); and with
    ``rotate`` it is turned by a rotation drawn uniformly from SO(3). Shapes are
    centred at the origin, so they fit in a ball of radius about ``s``. The
    parameters of every cloud are returned with it (see :class:`ShapeClouds`).

    Cloud ``i`` is drawn with its own ``torch.Generator`` seeded from
    ``(seed, i)``: the result is reproducible, does not touch the global random
    state, and does not depend on ``num_clouds`` (the first five clouds of a set
    of ten are the five clouds of a set of five).

    Args:
        num_clouds: number of clouds ``K``.
        num_points: points per cloud ``N``.
        kinds: which shapes to generate, from :data:`SHAPES`; labels index this
            sequence.
        seed: the random seed.
        scale: the interval the size factor ``s`` is drawn from.
        rotate: rotate each shape randomly (otherwise its axis is ``z``).
        dtype: floating dtype of the points (they are computed in float64).

    Returns:
        A :class:`ShapeClouds` with ``points [K, N, 3]``, ``labels [K]`` and the
        generating parameters.

    Examples:
        >>> from hyperfunc_pointclouds import shapes
        >>> data = shapes(num_clouds=10, num_points=256, seed=0)
        >>> data.points.shape, data.labels.tolist()
        (torch.Size([10, 256, 3]), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
        >>> data.kinds[int(data.labels[1])]
        'torus'
        >>> import torch
        >>> sphere = data.points[0]                        # every point at distance r
        >>> torch.allclose(sphere.norm(dim=-1), data.dims[0, 0].expand(256))
        True
    """
    check_positive("shapes", num_clouds=num_clouds, num_points=num_points)
    seed = check_seed("shapes", seed)
    if isinstance(kinds, str):
        raise ValueError(f"shapes: kinds must be a sequence of names, e.g. ({kinds!r},)")
    names = tuple(kinds)
    unknown = [k for k in names if k not in SHAPES]
    duplicate = sorted({k for k in names if names.count(k) > 1})
    if not names or unknown or duplicate:
        raise ValueError(
            f"shapes: kinds must be distinct names from {', '.join(SHAPES)}; got {names!r}"
            + (f" (unknown: {', '.join(map(repr, unknown))})" if unknown else "")
            + (f" (repeated: {', '.join(map(repr, duplicate))})" if duplicate else "")
        )
    lo, hi = _interval("scale", scale)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"shapes: dtype must be a floating torch.dtype, got {dtype!r}")
    k, n = int(num_clouds), int(num_points)
    points, dims, rotations = [], [], []
    for i in range(k):
        g = _cloud_generator(seed, i)
        s = float(_u(g, 1, lo=lo, hi=hi))
        local, d = _SAMPLERS[names[i % len(names)]](n, g, s)
        rot = _rotation(g) if rotate else torch.eye(3, dtype=torch.float64)
        points.append(local @ rot.T)
        dims.append(d)
        rotations.append(rot)
    return ShapeClouds(
        points=torch.stack(points).to(dtype),
        labels=torch.arange(k) % len(names),
        kinds=names,
        dims=torch.stack(dims).to(dtype),
        rotations=torch.stack(rotations).to(dtype),
    )
