"""The ``omniglot`` task factory (entry-point group ``hyperfunc.tasks``)."""

from __future__ import annotations

import os

import torch

from hyperfunc.datasets import load_omniglot
from hyperfunc.fewshot._episodes import Episodes

__all__ = ["omniglot"]


def omniglot(
    split: str = "background",
    n_way: int = 5,
    k_shot: int = 1,
    q_query: int = 15,
    batch_size: int = 16,
    rotations: bool = True,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
) -> Episodes:
    """Omniglot N-way K-shot episodes (28×28, rotations as extra classes), from local files.

    :func:`load_omniglot` reads the split as bytes; :class:`Episodes` samples it and
    hands out float32 images in ``[0, 1]`` (ink = 1). With
    ``rotations=True`` (the standard augmentation of MAML and ProtoNets) the
    background split has 3,856 classes and the evaluation split 2,636.

    Args:
        split: ``"background"`` (meta-training) or ``"evaluation"`` (meta-testing).
        n_way, k_shot, q_query, batch_size, seed: see :class:`Episodes`.
        rotations: add 90°, 180° and 270° rotations of every character as classes.
        root: the data directory (default ``$HYPERFUNC_DATA``).
    """
    images = load_omniglot(root, split, rotations=rotations, dtype=torch.uint8)  # 4× less memory
    return Episodes(
        images,
        dtype=torch.float32,
        n_way=n_way,
        k_shot=k_shot,
        q_query=q_query,
        batch_size=batch_size,
        seed=seed,
        name=f"omniglot-{split}" + ("-rot" if rotations else ""),
    )

