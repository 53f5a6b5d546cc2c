"""Weight dicts with dotted names as ``nn.ParameterDict``\\ s (whose keys may not contain dots)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

__all__ = ["parameter_dict", "dotted"]

#: What stands for ``.`` in a ParameterDict key.
SEP = "/"


def parameter_dict(weights: Mapping[str, Tensor], *, clone: bool = True) -> nn.ParameterDict:
    """Trainable copies of ``weights`` (``"0.weight"`` stored as ``"0/weight"``), in their order.

    Filled one by one: built from a plain dict, a ParameterDict would sort the keys.
    """
    out = nn.ParameterDict()
    for name, w in weights.items():
        out[name.replace(".", SEP)] = nn.Parameter(w.detach().clone() if clone else w.detach())
    return out


def dotted(params: nn.ParameterDict) -> dict[str, Tensor]:
    """The tensors of a :func:`parameter_dict` under their dotted names (not copies)."""
    return {name.replace(SEP, "."): p for name, p in params.items()}
