"""Images ↔ coordinates, pixel sampling and coordinate checks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hyperfunc.fields import check_coords, coords_to_image, grid, image_to_coords, sample_pixels


def test_grid_conventions() -> None:
    corners = grid(3, 5, align_corners=True)
    assert torch.allclose(corners[:5, 1], torch.linspace(-1, 1, 5))
    assert torch.allclose(corners[::5, 0], torch.linspace(-1, 1, 3))
    centres = grid(4, 4)
    # pixel centres: ±(1 - 1/n) at the borders, symmetric, one step 2/n apart
    assert torch.allclose(centres[:4, 1], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert centres.shape == (16, 2) and centres.abs().max() < 1


def test_grids_of_two_resolutions_cover_the_same_square() -> None:
    # the mean of each 3×3 block of the fine grid is the coarse grid's pixel centre
    fine = grid(9, 9).reshape(3, 3, 3, 3, 2).permute(0, 2, 1, 3, 4).reshape(3, 3, 9, 2).mean(2)
    assert torch.allclose(fine.reshape(9, 2), grid(3, 3), atol=1e-6)


@given(
    b=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9),
    corners=st.booleans(),
)
def test_image_coords_round_trip(b: int, c: int, h: int, w: int, corners: bool) -> None:
    x = torch.rand(b, c, h, w)
    coords, values = image_to_coords(x, align_corners=corners)
    assert coords.shape == (h * w, 2) and values.shape == (b, h * w, c)
    assert torch.equal(coords_to_image(values, h, w), x)
    # the value at a coordinate is the pixel at that place (row-major, y first)
    i, j = h - 1, 0
    assert torch.equal(values[:, i * w + j], x[:, :, i, j])
    if h > 1:
        assert coords[i * w + j, 0] > coords[j, 0]


def test_single_image_and_list_inputs() -> None:
    x = torch.rand(3, 5, 6)
    assert image_to_coords(x)[1].shape == (1, 30, 3)
    assert torch.equal(image_to_coords([x, x])[1], image_to_coords(torch.stack([x, x]))[1])


def test_mismatched_image_sizes_are_named() -> None:
    msg = r"images\[2\] has shape \[3, 8, 8\] but images\[0\] has \[3, 6, 6\]"
    with pytest.raises(ValueError, match=msg):
        image_to_coords([torch.rand(3, 6, 6), torch.rand(3, 6, 6), torch.rand(3, 8, 8)])
    with pytest.raises(ValueError, match=r"\[C, H, W\] or \[B, C, H, W\]"):
        image_to_coords(torch.rand(6, 6))
    with pytest.raises(ValueError, match="empty list"):
        image_to_coords([])
    with pytest.raises(ValueError, match=r"\[\.\.\., 4\*4=16, C\]"):
        coords_to_image(torch.rand(2, 15, 3), 4, 4)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        grid(0, 3)


def test_sample_pixels_subsets_without_replacement() -> None:
    x = torch.rand(4, 3, 6, 7)
    coords, values = image_to_coords(x)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    c, v = sample_pixels(coords, values, 20, generator=g1)
    c2, v2 = sample_pixels(coords, values, 20, generator=g2)
    assert torch.equal(c, c2) and torch.equal(v, v2)
    assert c.shape == (4, 20, 2) and v.shape == (4, 20, 3)
    for b in range(4):
        assert len(torch.unique(c[b], dim=0)) == 20  # no pixel twice
        # each sampled value is the image's pixel at the sampled coordinate
        idx = [(coords == p).all(1).nonzero().item() for p in c[b]]
        assert torch.equal(values[b, idx], v[b])
    assert not torch.equal(c[0], c[1])  # each image its own subset
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 42\]"):
        sample_pixels(coords, values, 43)


def test_check_coords() -> None:
    check_coords(grid(5, 5))
    with pytest.raises(ValueError, match=r"must lie in \[-1.0, 1.0\].*\[-1, 1.5\]"):
        check_coords(torch.tensor([[-1.0, 1.5]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_coords(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(TypeError, match="floating-point"):
        check_coords(torch.zeros(2, 2, dtype=torch.long))
