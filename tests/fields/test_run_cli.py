"""``hyperfunc run`` for image → function methods, the registered image sets and PerImageFit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import hyperfunc as hf
from hyperfunc._cli import main
from hyperfunc.fields import ImageSet, PerImageFit, fit, image_to_coords

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "omniglot_28.npz").exists(), reason="needs ../shared/data")


@needs_data
def test_image_hypernet_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["run", "--method", "image-hypernet", "--tasks", "omniglot-images", "--data", str(DATA),
            "--task-arg", "test_images=6", "--batch-size", "4", "--no-progress",
            "--method-arg", "embedding_dim=16", "--method-arg", "hidden=[32]", "--target-arg", "hidden=[8,8]",
            "--out", str(out), "--mask-rate", "0.5"]
    code = main([*args, "--steps", "4"])
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert res["steps_done"] == 4 and res["test_images"] == 6 and res["identity"]["target_name"] is None
    assert res["settings"]["mask_rate"] == 0.5 and res["inpaint_psnr_missing"] > 0
    assert res["psnr_3steps"] > 0 and (out / "checkpoint.pt").exists()
    assert (out / "reconstructions.png").stat().st_size > 1000
    assert "test PSNR" in capsys.readouterr().out
    # --resume continues the training to the new --steps (the same settings, or refused)
    resumed = [*args, "--steps", "6", "--resume"]
    assert main(resumed) == 0
    assert json.loads((out / "results.json").read_text())["steps_done"] == 6
    assert "resuming" in capsys.readouterr().err
    assert main(["hidden=[9,8]" if a == "hidden=[8,8]" else a for a in resumed]) == 2
    assert "target_args: checkpoint {'hidden': [8, 8]}, now {'hidden': [9, 8]}" in capsys.readouterr().err
    # an explicit --target is used as given (the siren is only the default)
    assert (
        main(
            [
                "run",
                "--method",
                "coin",
                "--tasks",
                "omniglot-images",
                "--data",
                str(DATA),
                "--target",
                "mlp",
                "--task-arg",
                "test_images=2",
                "--steps",
                "2",
                "--no-progress",
                "--target-arg",
                "hidden=[8]",
                "--out",
                str(tmp_path / "mlp"),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "mlp" / "results.json").read_text())["identity"]["target_name"] == "mlp"
    # coin builds its own small SIREN (453 weights for RGB) without --target, not the registry's default
    assert (
        main(
            [
                "run",
                "--method",
                "coin",
                "--tasks",
                "omniglot-images",
                "--data",
                str(DATA),
                "--task-arg",
                "test_images=2",
                "--method-arg",
                "steps=2",
                "--no-progress",
                "--out",
                str(tmp_path / "coin"),
            ]
        )
        == 0
    )
    own = PerImageFit(1, 28).target.spec.size  # siren(2, 1, hidden=(18, 18)): 415 weights
    assert f"{own:,} weights" in capsys.readouterr().out.split("coin on")[-1]
    bad_rate = [
        "run",
        "--method",
        "image-hypernet",
        "--tasks",
        "omniglot-images",
        "--data",
        str(DATA),
        "--mask-rate",
        "1.5",
        "--out",
        str(tmp_path / "bad"),
    ]
    assert main(bad_rate) == 2
    assert "mask_rate=1.5 (expected a number in [0, 1])" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


@needs_data
def test_registered_image_sets() -> None:
    om = hf.tasks.get("omniglot-images")(root=DATA, test_images=5)
    assert isinstance(om, ImageSet) and om.train.shape == (964 * 20, 1, 28, 28)
    assert om.test.shape == (5, 1, 28, 28)
    assert om.train.dtype == torch.uint8 and int(om.train.max()) == 255
    ci = hf.tasks.get("cifar10-images")(root=DATA, test_images=7)
    assert ci.channels == 3 and ci.size == 32 and len(ci.test) == 7 and len(ci.train) == 5000
    assert "cifar10" in repr(ci)


def test_non_image_task_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--method", "coin", "--tasks", "sinusoid", "--out", str(tmp_path / "x")]) == 2
    assert "gives Sinusoid, not an ImageSet" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_image_set_validation() -> None:
    with pytest.raises(ValueError, match=r"train images \[1, 8, 8\] but test images \[3, 8, 8\]"):
        ImageSet("x", torch.zeros(2, 1, 8, 8), torch.zeros(2, 3, 8, 8))


def test_per_image_fit_is_fit_from_a_seeded_init() -> None:
    coin = PerImageFit(1, 6, hf.stateless(hf.targets.siren(2, 1, hidden=(8, 8))), steps=7, lr=1e-3, seed=3)
    x = torch.rand(2, 1, 6, 6)
    got = coin.weights(x)
    start = coin.target.init_params((2,), generator=torch.Generator().manual_seed(3))
    ref = fit(coin.target, start, *image_to_coords(x), steps=7, lr=1e-3, show_progress=False).params
    assert all(torch.equal(got[n], ref[n]) for n in ref)
    assert list(coin.parameters()) == []


def test_the_inpainting_summary_stays_finite_when_holes_are_filled_exactly() -> None:
    """A hole on a flat background can be filled exactly: the summary is the PSNR of the mean error."""
    from hyperfunc.fields import FieldsConfig, ImageHyperNet
    from hyperfunc.fields._family import _finish
    from hyperfunc.fields._method import as_float_images

    class Exact(ImageHyperNet):
        def reconstruct(self, images, size=None, **kw):  # type: ignore[no-untyped-def,override]
            return as_float_images(images)

    test = torch.zeros(4, 1, 8, 8)
    test[:2, :, 2:5, 2:5] = 1.0  # two images with ink, two flat
    method = Exact(1, 8, embedding_dim=8, encoder_widths=(8,), hidden=(16,))
    res = _finish(method, test, FieldsConfig(progress=False))([], None)
    assert math.isfinite(res["inpaint_psnr_missing"]) and res["inpaint_psnr_missing"] >= 100
