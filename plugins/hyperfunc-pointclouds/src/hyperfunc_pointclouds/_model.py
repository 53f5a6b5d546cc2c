"""HyperCloud: a PointNet encoder, a hypernetwork and the HyperCloud target, composed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import hyperfunc as hf
import torch
from torch import Tensor, nn

from hyperfunc_pointclouds._chamfer import chamfer_distance
from hyperfunc_pointclouds._checks import check_positive, point_problems, require_float_tensor
from hyperfunc_pointclouds._encoder import PointNetEncoder
from hyperfunc_pointclouds._sampling import sample_unit_ball
from hyperfunc_pointclouds._target import hypercloud

__all__ = ["HYPERNETS", "HyperCloud"]

#: Hypernetwork families accepted by :class:`HyperCloud`'s ``hypernet`` argument.
HYPERNETS: tuple[str, ...] = ("mlp", "chunked")


def check_clouds(where: str, name: str, points: object) -> Tensor:
    """``points`` if it is a finite floating tensor ``[B, N, 3]`` with ``N >= 1``."""
    x = require_float_tensor(where, name, points)
    problems = point_problems(name, x, batch_ndim=1)
    if problems:
        raise ValueError(f"{where}: {problems[0]}")
    return x


class HyperCloud(nn.Module):
    """HyperCloud (Spurek et al. 2020): point cloud → embedding → weights of a per-object generator.

    A :class:`~hyperfunc_pointclouds.PointNetEncoder` embeds each input cloud, a
    hyperfunc hypernetwork (:class:`hyperfunc.hypernets.MLPHyperNet` or
    :class:`hyperfunc.hypernets.Chunked`) turns the embedding into the weights of
    that object's :func:`~hyperfunc_pointclouds.hypercloud` target, and the target
    maps points of the unit ball onto the object's surface. All objects of a
    batch are evaluated in one batched call (:meth:`hyperfunc.Target.batched`).

    This is the autoencoder form of HyperCloud, trained with the Chamfer
    distance only (:meth:`loss`); the paper's variational / adversarial prior on
    the embedding, which makes it a generative model of new shapes, is not
    included. It is a method of the ``pointclouds`` family of :mod:`hyperfunc.run`
    (``hyperfunc run --method hypercloud``).

    Args:
        dim: size of the embedding (the hypernetwork's input).
        encoder_widths: per-point layer widths of the encoder.
        target_hidden: hidden widths of the target (the paper's ``(32, 64, 128, 64)``).
        activation: the target's activation, from :data:`hyperfunc.targets.ACTIVATIONS`.
        hypernet: ``"mlp"`` (one output per target weight) or ``"chunked"``.
        hypernet_hidden: hidden widths of the hypernetwork.
        chunk_size: outputs per chunk (``"chunked"`` only).
        chunk_dim: size of the chunk embeddings (``"chunked"`` only).

    Attributes:
        encoder: the :class:`~hyperfunc_pointclouds.PointNetEncoder`.
        hypernet: the hypernetwork (a :class:`hyperfunc.hypernets.HyperNetwork`).
        target: the stateless :class:`hyperfunc.Target` of the target network (it
            holds no trainable state).

    Examples:
        >>> import torch
        >>> from hyperfunc_pointclouds import HyperCloud
        >>> model = HyperCloud(dim=16, hypernet_hidden=(32,))
        >>> clouds = torch.randn(4, 200, 3)
        >>> params = model(clouds)                       # one weight set per cloud
        >>> params["0.weight"].shape
        torch.Size([4, 32, 3])
        >>> model.reconstruct(clouds, 500).shape
        torch.Size([4, 500, 3])
        >>> loss, logs = model.loss(clouds)             # the method protocol of hyperfunc run
        >>> loss.shape, list(logs)
        (torch.Size([]), ['chamfer'])
    """

    #: Its family in :mod:`hyperfunc.run` (``hyperfunc run --method hypercloud``).
    family: ClassVar[str] = "pointclouds"

    def __init__(
        self,
        dim: int = 64,
        *,
        encoder_widths: Sequence[int] = (64, 128, 256),
        target_hidden: Sequence[int] = (32, 64, 128, 64),
        activation: str = "relu",
        hypernet: str = "mlp",
        hypernet_hidden: Sequence[int] = (256,),
        chunk_size: int = 4096,
        chunk_dim: int = 8,
    ) -> None:
        super().__init__()
        check_positive("HyperCloud", dim=dim, chunk_size=chunk_size, chunk_dim=chunk_dim)
        if hypernet not in HYPERNETS:
            raise ValueError(
                f"HyperCloud: unknown hypernet {hypernet!r}; choose one of "
                f"{', '.join(repr(h) for h in HYPERNETS)}"
            )
        self.encoder = PointNetEncoder(int(dim), encoder_widths)
        self.target = hf.stateless(hypercloud(target_hidden, activation))
        hidden = tuple(hypernet_hidden)
        self.hypernet: nn.Module
        if hypernet == "mlp":
            self.hypernet = hf.hypernets.MLPHyperNet(self.target, int(dim), hidden)
        else:
            self.hypernet = hf.hypernets.Chunked(
                self.target, int(dim), int(chunk_size), int(chunk_dim), hidden
            )

    def embed(self, points: Tensor) -> Tensor:
        """The encoder's embedding ``[B, dim]`` of clouds ``[B, N, 3]``."""
        out: Tensor = self.encoder(check_clouds("HyperCloud.embed", "points", points))
        return out

    def forward(self, points: Tensor) -> dict[str, Tensor]:
        """The target's weights for each cloud of ``points [B, N, 3]`` (tensors ``[B, ...]``)."""
        params: dict[str, Tensor] = self.hypernet(
            self.encoder(check_clouds("HyperCloud", "points", points))
        )
        return params

    def decode(self, params: Mapping[str, Tensor], base: Tensor) -> Tensor:
        """Map ``base`` points through each object's target: ``[B, S, 3]`` or shared ``[S, 3]``.

        Args:
            params: weights from :meth:`forward`, with a leading axis ``B``.
            base: points to transform, typically from
                :func:`~hyperfunc_pointclouds.sample_unit_ball` (or
                :func:`~hyperfunc_pointclouds.sample_unit_sphere` for a mesh-like
                parametrisation); ``[B, S, 3]`` (one set per object) or ``[S, 3]``
                (the same points for all).

        Returns:
            ``[B, S, 3]``.
        """
        base = require_float_tensor("HyperCloud.decode", "base", base)
        if base.dim() not in (2, 3) or base.shape[-1] != 3:
            raise ValueError(
                f"HyperCloud.decode: base must be points [B, S, 3] (one set per object) or "
                f"[S, 3] (shared by all objects), got {list(base.shape)}"
            )
        out: Tensor = self.target.batched(params, base, shared=base.dim() == 2)
        return out

    def reconstruct(
        self, points: Tensor, n_samples: int, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """``n_samples`` points of each object's reconstruction, ``[B, n_samples, 3]``.

        Each object gets its own uniform sample of the unit ball, mapped through its
        generated target; all objects run in one batched call (no loop over objects).

        Args:
            points: input clouds ``[B, N, 3]``.
            n_samples: points to generate per object (need not equal ``N``).
            generator: random generator for the ball samples (global if ``None``).
        """
        check_positive("HyperCloud.reconstruct", n_samples=n_samples)
        params = self(points)
        base = sample_unit_ball(
            int(n_samples),
            batch=(points.shape[0],),
            generator=generator,
            dtype=points.dtype,
            device=points.device,
        )
        return self.decode(params, base)

    def loss(
        self,
        batch: Tensor,
        *,
        n_samples: int | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """Mean Chamfer distance between each cloud and its reconstruction, and the numbers to log.

        This is the method protocol of :func:`hyperfunc.run.train`: the loss to
        minimise and ``{"chamfer": its value}`` for the progress bar and
        ``metrics.jsonl``.

        Args:
            batch: input clouds ``[B, N, 3]``.
            n_samples: points generated per object; ``N`` if ``None``.
            generator: random generator for the ball samples (torch's global one if
                ``None``, which :func:`hyperfunc.run.train` checkpoints).

        Returns:
            The loss (a scalar tensor) and ``{"chamfer": float(loss)}``.
        """
        points = check_clouds("HyperCloud.loss", "batch", batch)
        n = points.shape[1] if n_samples is None else n_samples
        loss = chamfer_distance(self.reconstruct(points, n, generator=generator), points)
        return loss, {"chamfer": float(loss.detach())}
