import pytest
import torch

import hyperfunc as hf


def test_task_table() -> None:
    table = hf.embeddings.TaskTable(10, 32)
    assert table(torch.tensor([0, 9])).shape == (2, 32)
    assert table(3).shape == (32,)
    assert 0.8 < table.weight.std().item() < 1.2
    with pytest.raises(IndexError, match=r"task id 10 is out of range: this table has tasks 0..9"):
        table(torch.tensor([1, 10]))
    with pytest.raises(TypeError, match="task ids must be integers"):
        table(torch.tensor([1.0]))


def test_support_set_encoder_is_permutation_invariant_and_label_aware() -> None:
    enc = hf.embeddings.SupportSetEncoder(in_features=6, num_classes=3, dim=5)
    x = torch.randn(2, 9, 6)
    y = torch.tensor([0, 1, 2] * 3).expand(2, 9)
    out = enc(x, y)
    assert out.shape == (2, 5)
    perm = torch.randperm(9)
    torch.testing.assert_close(enc(x[:, perm], y[:, perm]), out, rtol=1e-5, atol=1e-6)
    y2 = y.clone()
    y2[:, [0, 1]] = y2[:, [1, 0]]
    assert not torch.allclose(enc(x, y2), out)
    with pytest.raises(ValueError, match=r"labels must be in 0..2"):
        enc(x, y + 1)
    with pytest.raises(ValueError, match=r"expects x \[\.\.\., S, 6\]"):
        enc(x[..., :5], y)


def test_conv_image_encoder_any_size_and_batch_dims() -> None:
    enc = hf.embeddings.ConvImageEncoder(in_channels=1, dim=16)
    assert enc(torch.randn(2, 3, 1, 28, 28)).shape == (2, 3, 16)
    assert enc(torch.randn(1, 1, 105, 105)).shape == (1, 16)
    with pytest.raises(ValueError, match=r"expects images \[\.\.\., 1, H, W\]"):
        enc(torch.randn(2, 3, 28, 28))


def test_embeddings_registered_by_name() -> None:
    assert {"task-table", "support-set", "conv-image"} <= set(hf.embeddings.names())
    assert hf.embeddings.get("task-table") is hf.embeddings.TaskTable
