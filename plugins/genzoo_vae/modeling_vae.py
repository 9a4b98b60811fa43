r"""A convolutional variational autoencoder (Kingma & Welling, 2014) as a genzoo generator, and its pipeline.

Conventions (see `docs/models/vae.md`):

- Images enter and leave the model in [-1, 1], like every genzoo generator. The likelihood p(x|z) is defined on
  pixel intensities x = (image + 1) / 2 in [0, 1], and log-likelihoods are in nats per image (summed over pixels).
- The decoder outputs one logit per pixel; its mean image is sigmoid(logit), returned by `forward` as
  2·sigmoid(logit) − 1 = tanh(logit / 2).
- `likelihood="bernoulli"`: log p(x|z) = Σ x log μ + (1 − x) log(1 − μ) with μ = sigmoid(logit), applied to grey
  levels as they are (not binarised). This is the usual cross-entropy on grey-level MNIST and what pythae reports;
  it is not a normalised density over [0, 1] (the continuous Bernoulli would add a normalising constant).
- `likelihood="gaussian"`: log p(x|z) = Σ log N(x; μ, σ²) with μ = sigmoid(logit), every normalising constant
  included, and one standard deviation σ per channel, learned (from `gaussian_std`) unless `learn_gaussian_std` is
  off. σ is floored at `MIN_GAUSSIAN_STD`.
"""

import math
from dataclasses import dataclass
from typing import Any

import PIL.Image
import torch
import torch.nn.functional as F
from diffusers import ImagePipelineOutput
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput, make_image_grid
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from genzoo import Generator, GenPipeline
from genzoo.images import image_to_tensor
from genzoo.modeling import check_sizes, class_embedding, resolution_plan
from genzoo.pipeline import ClassConditionalMixin

__all__ = [
    "LIKELIHOODS",
    "CVAEGenerator",
    "CVAEPipeline",
    "VAEGenerator",
    "VAEOutput",
    "VAEPipeline",
    "bernoulli_log_likelihood",
    "diagonal_gaussian_log_prob",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "reparameterize",
]

LIKELIHOODS = ("bernoulli", "gaussian")
MIN_GAUSSIAN_STD = 1e-3
LOG_2PI = math.log(2.0 * math.pi)


# --- the pieces of the ELBO -------------------------------------------------------------------------------------
def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL(N(μ, diag σ²) ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²), summed over the last dimension."""
    return -0.5 * torch.sum(1.0 + logvar - mean.pow(2) - logvar.exp(), dim=-1)


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A sample z = μ + σ·ε of N(μ, diag σ²) with ε ~ N(0, I) drawn from `generator`: differentiable in μ and
    log σ² (the reparameterisation trick)."""
    noise = randn_tensor(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * logvar) * noise


def diagonal_gaussian_log_prob(value: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""log N(value; μ, diag σ²), summed over the last dimension (normalising constant included)."""
    return -0.5 * torch.sum(LOG_2PI + logvar + (value - mean).pow(2) * torch.exp(-logvar), dim=-1)


def bernoulli_log_likelihood(targets: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Σ x log μ + (1 − x) log(1 − μ) per image, with μ = sigmoid(logits) and targets x in [0, 1] (grey levels are
    used as they are)."""
    return -F.binary_cross_entropy_with_logits(logits, targets, reduction="none").flatten(1).sum(1)


def gaussian_log_likelihood(targets: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    r"""Σ log N(x; μ, σ²) per image, with one log σ per channel (`log_scale` of shape `(channels,)`)."""
    log_scale = log_scale.clamp_min(math.log(MIN_GAUSSIAN_STD)).view(1, -1, *([1] * (targets.dim() - 2)))
    z = (targets - mean) * torch.exp(-log_scale)
    return -0.5 * (z.pow(2) + 2.0 * log_scale + LOG_2PI).flatten(1).sum(1)


@dataclass
class VAEOutput(BaseOutput):
    r"""What `VAEGenerator(images=...)` returns: one pass through encoder, sampled latent and decoder.

    Args:
        log_likelihood (`torch.Tensor`): log p(x|z) per image, in nats, for the sampled z.
        kl (`torch.Tensor`): KL(q(z|x) ‖ N(0, I)) per image, in nats.
        latents (`torch.Tensor`): the sampled z, shape `(batch, latent_dim)`.
        mean, logvar (`torch.Tensor`): the posterior's parameters.
        logits (`torch.Tensor`): the decoder's output for z, shape `(batch, channels, size, size)`.
    """

    # Defaults of None let Accelerate rebuild the output from a dict (it does so to cast mixed-precision outputs).
    log_likelihood: torch.Tensor | None = None
    kl: torch.Tensor | None = None
    latents: torch.Tensor | None = None
    mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class VAEGenerator(Generator):
    r"""A convolutional VAE: an encoder q(z|x) = N(μ(x), diag σ²(x)), a decoder p(x|z) and the prior N(0, I).

    The encoder halves the resolution with 4x4 stride-2 convolutions (doubling the channels each time) down to a
    4-7 pixel map, then a hidden linear layer gives μ and log σ². The decoder mirrors it with transposed
    convolutions and ends in one logit per pixel. SiLU activations, no normalisation layers (every image is
    encoded independently of the rest of its batch, which importance sampling relies on).

    Args:
        latent_dim (`int`, defaults to 16): size of z.
        image_size (`int`, defaults to 28): height and width (4 to 7 times a power of two: 28, 32, 64, ...).
        num_channels (`int`, defaults to 1): image channels.
        base_channels (`int`, defaults to 32): channels after the first convolution; each further one doubles them.
        hidden_dim (`int`, defaults to 256): width of the linear layer between the feature map and z.
        likelihood (`str`, defaults to `"bernoulli"`): `"bernoulli"` or `"gaussian"`; see the module docstring.
        gaussian_std (`float`, defaults to 0.1): σ of the Gaussian likelihood on the [0, 1] pixel scale (its
            starting value when learned).
        learn_gaussian_std (`bool`, defaults to `True`): learn one σ per channel rather than keep `gaussian_std`.
    """

    @register_to_config
    def __init__(
        self,
        latent_dim: int = 16,
        image_size: int = 28,
        num_channels: int = 1,
        base_channels: int = 32,
        hidden_dim: int = 256,
        likelihood: str = "bernoulli",
        gaussian_std: float = 0.1,
        learn_gaussian_std: bool = True,
    ) -> None:
        super().__init__()
        self._build_networks(condition_dim=0)

    def _build_networks(self, condition_dim: int) -> None:
        """Encoder, decoder and likelihood from the config; `condition_dim` extra inputs carry a class embedding
        (the CVAE's): as constant feature maps beside the image, and beside z."""
        config = self.config
        latent_dim, base_channels, hidden_dim = config.latent_dim, config.base_channels, config.hidden_dim
        num_channels = config.num_channels
        check_sizes(
            type(self).__name__,
            latent_dim=latent_dim,
            num_channels=num_channels,
            base_channels=base_channels,
            hidden_dim=hidden_dim,
        )
        if not config.gaussian_std > 0:
            raise ValueError(f"gaussian_std must be positive, got {config.gaussian_std}.")
        size, num_layers = resolution_plan(config.image_size)

        channels = base_channels
        encoder: list[nn.Module] = [nn.Conv2d(num_channels + condition_dim, channels, 4, 2, 1), nn.SiLU()]
        for _ in range(num_layers - 1):
            encoder += [nn.Conv2d(channels, channels * 2, 4, 2, 1), nn.SiLU()]
            channels *= 2
        encoder += [
            nn.Flatten(),
            nn.Linear(channels * size * size, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, 2 * latent_dim),
        ]
        self.encoder = nn.Sequential(*encoder)

        decoder: list[nn.Module] = [
            nn.Linear(latent_dim + condition_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, channels * size * size),
            nn.SiLU(),
            nn.Unflatten(1, (channels, size, size)),
        ]
        for _ in range(num_layers - 1):
            decoder += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1), nn.SiLU()]
            channels //= 2
        decoder.append(nn.ConvTranspose2d(channels, num_channels, 4, 2, 1))
        self.decoder = nn.Sequential(*decoder)
        self._build_likelihood()

    # --- likelihood ---------------------------------------------------------------------------------------------
    def _build_likelihood(self) -> None:
        """Create (or drop) the Gaussian likelihood's per-channel log σ for the configured likelihood."""
        likelihood = self.config.likelihood
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {likelihood!r}.")
        if hasattr(self, "log_scale"):
            del self.log_scale
        if likelihood == "gaussian":
            value = torch.full((self.config.num_channels,), math.log(self.config.gaussian_std))
            if self.config.learn_gaussian_std:
                self.log_scale = nn.Parameter(value)
            else:
                self.register_buffer("log_scale", value)

    def set_likelihood(self, likelihood: str) -> None:
        """Switch to another likelihood before training: it is recorded in the config (decoding and the NLL depend
        on it) and the Gaussian σ is created or dropped. The ELBO objective calls this for
        `objective_args.likelihood`."""
        if likelihood == self.config.likelihood:
            return
        previous = self.config.likelihood
        self.register_to_config(likelihood=likelihood)
        try:
            self._build_likelihood()
        except ValueError:
            self.register_to_config(likelihood=previous)
            raise

    def log_likelihood(self, images: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        r"""log p(x|z) per image in nats (float32), for images in [-1, 1] and the decoder's `logits` for z."""
        targets = (images.float() + 1.0) / 2.0
        logits = logits.float()
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(targets, logits)
        return gaussian_log_likelihood(targets, torch.sigmoid(logits), self.log_scale.float())

    # --- encoder and decoder ------------------------------------------------------------------------------------
    def condition(self, class_labels: torch.Tensor | None) -> torch.Tensor | None:
        """What the encoder and the decoder see of the class: nothing for the VAE (labels are ignored); a class
        embedding for a conditional subclass (the CVAE)."""
        return None

    def encode(
        self, images: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The posterior q(z|x) (q(z|x, y) for a conditional model) = N(μ, diag σ²) of images in [-1, 1]:
        `(mean, logvar)`, each `(batch, latent_dim)`.

        log σ² is clamped to [-30, 20], as diffusers' `DiagonalGaussianDistribution` does, so σ² never overflows.
        """
        condition = self.condition(class_labels)
        if condition is not None:  # the class as constant feature maps beside the image
            maps = condition.to(images.dtype)[:, :, None, None].expand(-1, -1, *images.shape[-2:])
            images = torch.cat([images, maps], dim=1)
        mean, logvar = self.encoder(images).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def posterior(
        self, images: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""`(mean, logvar)` of q(z|x): the `Generator` interface's access to the encoder (inversion starts from the
        mean; `find_directions(method="dims")` ranks dimensions by their KL)."""
        return self.encode(images, *_given(class_labels))

    def decode_logits(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's per-pixel logits for latents of shape `(batch, latent_dim)` (and their classes, for a
        conditional model)."""
        condition = self.condition(class_labels)
        if condition is not None:
            latents = torch.cat([latents, condition.to(latents.dtype)], dim=1)
        return self.decoder(latents)

    def forward(
        self,
        latents: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        *,
        images: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor | VAEOutput:
        r"""Decode `latents` to mean images in [-1, 1]; or, given `images` instead, run the autoencoder once.

        Training goes through `forward` (not `encode`/`decode_logits` directly) so that a DDP-wrapped model
        synchronises its gradients.

        Args:
            latents (`torch.Tensor`, *optional*): `(batch, latent_dim)`.
            class_labels (`torch.Tensor`, *optional*): `(batch,)` classes, or `(batch, num_classes)` class weights, for
                a conditional model (the CVAE); the VAE ignores them.
            images (`torch.Tensor`, *optional*): `(batch, channels, size, size)` in [-1, 1].
            generator (`torch.Generator`, *optional*): the source of the posterior sample's noise.

        Returns:
            `torch.Tensor` of images for `latents`; `VAEOutput` for `images`.
        """
        if (latents is None) == (images is None):
            raise ValueError("Pass either `latents` (to decode) or `images` (to autoencode), not both or neither.")
        if latents is not None:
            return torch.tanh(0.5 * self.decode_logits(latents, *_given(class_labels)))  # = 2 * sigmoid(logits) - 1
        mean, logvar = self.encode(images, *_given(class_labels))
        mean, logvar = mean.float(), logvar.float()
        latents = reparameterize(mean, logvar, generator)
        logits = self.decode_logits(latents, *_given(class_labels))
        return VAEOutput(
            log_likelihood=self.log_likelihood(images, logits),
            kl=gaussian_kl(mean, logvar),
            latents=latents,
            mean=mean,
            logvar=logvar,
            logits=logits,
        )


class CVAEGenerator(VAEGenerator):
    r"""A conditional VAE (Sohn et al., 2015): the VAE whose encoder q(z|x, y) and decoder p(x|z, y) both see the
    class y, through a learned class embedding (beside the image as constant feature maps, beside z in the
    decoder). Everything else (likelihoods, the ELBO objective, the importance-sampled NLL, reconstruction) is the
    VAE's, given the class. It samples like the CGAN: `pipe(class_labels=[3, "7"])`.

    Args:
        latent_dim, image_size, num_channels, base_channels, hidden_dim, likelihood, gaussian_std, learn_gaussian_std:
            as in `VAEGenerator`.
        num_classes (`int`, defaults to 10): classes; labels are integers in `[0, num_classes)`.
        embedding_dim (`int`, defaults to 16): size of the class embedding.
        class_names (`list[str]`, *optional*): a name per class (the training set's), so that the pipeline takes
            `class_labels=["cat", "dog"]`.
    """

    supports_class_mixing = True

    @register_to_config
    def __init__(
        self,
        latent_dim: int = 16,
        image_size: int = 28,
        num_channels: int = 1,
        num_classes: int = 10,
        embedding_dim: int = 16,
        base_channels: int = 32,
        hidden_dim: int = 256,
        likelihood: str = "bernoulli",
        gaussian_std: float = 0.1,
        learn_gaussian_std: bool = True,
        class_names: list[str] | None = None,
    ) -> None:
        Generator.__init__(self)  # VAEGenerator.__init__ would register the VAE's config over this one
        if num_classes < 1:
            raise ValueError(
                f"CVAEGenerator needs num_classes >= 1, got {num_classes}; train on a dataset with labels, or use "
                "vae for unlabelled images."
            )
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}.")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names for {num_classes} classes.")
        self.class_embedding = nn.Embedding(num_classes, embedding_dim)
        self._build_networks(condition_dim=embedding_dim)

    def condition(self, class_labels: torch.Tensor | None) -> torch.Tensor:
        """The class embedding of integer labels `(batch,)`, or the mix for class weights `(batch, num_classes)`."""
        if class_labels is None:
            raise ValueError("CVAEGenerator is class-conditional: pass class_labels of shape (batch,).")
        device = self.class_embedding.weight.device
        if not class_labels.is_floating_point():
            class_labels = class_labels.long()
        return class_embedding(self.class_embedding, class_labels.to(device))


ImageInput = torch.Tensor | PIL.Image.Image | list[PIL.Image.Image]


def _given(class_labels: Any) -> tuple:
    """`(class_labels,)` when there are labels, else `()`: an unconditional call passes no labels, so a subclass that
    overrides `encode(images)` or `decode_logits(latents)` with the VAE's older signature keeps working."""
    return () if class_labels is None else (class_labels,)


class VAEPipeline(GenPipeline):
    r"""Pipeline for a `VAEGenerator`: sampling from the prior (`__call__`), plus `encode`, `decode`, `reconstruct`,
    `interpolate` between images and an importance-sampled negative log-likelihood (`estimate_nll`).

    Images given to it are tensors in [-1, 1] of shape `(batch, channels, size, size)` (or one `(channels, size,
    size)` image), or PIL images, which are converted like training data.

    Args:
        model (`VAEGenerator`): the trained VAE.

    Examples:
        ```py
        >>> import torch
        >>> from genzoo import GenPipeline, load_dataset
        >>> pipe = GenPipeline.from_pretrained("runs/vae-mnist")  # a VAEPipeline
        >>> digits = [row["image"] for row in load_dataset("mnist-5k", split="test").data.select(range(8))]
        >>> reconstructions = pipe.reconstruct(digits, output_type="pil").images
        >>> path = pipe.interpolate(digits[0], digits[1], steps=8).images
        >>> nll = pipe.estimate_nll(digits, num_importance_samples=500)  # nats per image
        ```
    """

    model: VAEGenerator
    card_tags = ("variational-autoencoder",)

    def preprocess(self, images: ImageInput) -> torch.Tensor:
        r"""Images as a `(batch, channels, size, size)` tensor in [-1, 1] on the model's device and dtype.

        Args:
            images: a tensor in [-1, 1] (`(batch, C, H, W)` or `(C, H, W)`), a PIL image or a list of PIL images
                (converted to the model's channels and size like training data).
        """
        config = self.model.config
        if isinstance(images, PIL.Image.Image):
            images = [images]
        if isinstance(images, list | tuple):
            if not images or not all(isinstance(image, PIL.Image.Image) for image in images):
                raise ValueError("Pass images as a tensor in [-1, 1], a PIL image or a non-empty list of PIL images.")
            images = torch.stack([image_to_tensor(image, config.image_size, config.num_channels) for image in images])
        if not torch.is_tensor(images):
            raise ValueError(f"Pass images as a tensor in [-1, 1] or PIL images, got {type(images).__name__}.")
        if images.dim() == 3:
            images = images[None]
        expected = (config.num_channels, config.image_size, config.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected or len(images) == 0:
            raise ValueError(
                f"Images must have shape (batch, {', '.join(map(str, expected))}), got {tuple(images.shape)}."
            )
        if images.min() < -1.0 - 1e-3 or images.max() > 1.0 + 1e-3:
            raise ValueError(
                f"Image tensors must lie in [-1, 1], got values in [{images.min():.3g}, {images.max():.3g}] "
                "(convert [0, 1] images with 2 * x - 1)."
            )
        return images.to(device=self._execution_device, dtype=self.model.dtype)

    def encoder_labels(self, class_labels: Any, count: int) -> torch.Tensor | None:
        """The classes of `count` images for a conditional encoder (one label or one per image, indices or names),
        `None` for the unconditional VAE (which refuses labels)."""
        if not self.model.is_conditional:
            return self.prepare_class_labels(class_labels, count)  # None, or a one-line error for labels
        if class_labels is None:
            raise ValueError(f"{type(self.model).__name__} encodes images given their class: pass class_labels.")
        labels = self.prepare_class_labels(self.class_indices(class_labels), count)
        labels = labels.expand(count) if len(labels) == 1 else labels
        if len(labels) != count:
            raise ValueError(f"Got {len(labels)} class labels for {count} images.")
        return labels

    @torch.no_grad()
    def encode(
        self, images: ImageInput, generator: torch.Generator | None = None, class_labels: Any = None
    ) -> torch.Tensor:
        r"""Latents of images: the posterior mean μ(x), or a sample of q(z|x) when a `generator` is given.

        Args:
            images: tensors in [-1, 1] or PIL images (see `preprocess`).
            generator (`torch.Generator`, *optional*): draw a posterior sample with it instead of the mean.
            class_labels (*optional*): the images' classes, required by a conditional encoder (the CVAE's).

        Returns:
            `torch.Tensor` of shape `(batch, latent_dim)`.
        """
        images = self.preprocess(images)
        mean, logvar = self.model.encode(images, *_given(self.encoder_labels(class_labels, len(images))))
        return mean if generator is None else reparameterize(mean, logvar, generator)

    @torch.no_grad()
    def decode(
        self, latents: torch.Tensor, output_type: str = "pil", return_dict: bool = True, class_labels: Any = None
    ) -> ImagePipelineOutput | tuple:
        r"""Mean images p(x|z) for latents of shape `(batch, latent_dim)` (and their classes for a conditional
        model); `output_type` as in `__call__`."""
        return self(latents=latents, class_labels=class_labels, output_type=output_type, return_dict=return_dict)

    @torch.no_grad()
    def reconstruct(
        self,
        images: ImageInput,
        output_type: str = "pil",
        generator: torch.Generator | None = None,
        return_dict: bool = True,
        class_labels: Any = None,
    ) -> ImagePipelineOutput | tuple:
        r"""Encode images and decode them again.

        Args:
            images: tensors in [-1, 1] or PIL images (see `preprocess`).
            output_type (`str`, defaults to `"pil"`, like `__call__` and `decode`): `"pil"`, `"pt"` (NCHW floats in
                [0, 1]), `"np"` (NHWC floats in [0, 1]) or `"latent"` (the encoded latents).
            generator (`torch.Generator`, *optional*): decode a posterior sample drawn with it instead of the mean.
            return_dict (`bool`, defaults to `True`): return an `ImagePipelineOutput` rather than a tuple.
            class_labels (*optional*): the images' classes, for a conditional model (encoded and decoded with them).
        """
        # 1. Encode to the posterior mean (or a sample)
        latents = self.encode(images, generator=generator, class_labels=class_labels)
        labels = self.encoder_labels(class_labels, len(latents))
        # 2. Decode and post-process
        return self.decode(latents, output_type=output_type, return_dict=return_dict, class_labels=labels)

    @torch.no_grad()
    def prepare_end_point(self, value: ImageInput | None, class_label: Any = None) -> torch.Tensor | None:
        r"""An end point of `interpolate` (`pipe.interpolate(a, b, steps)`) as a latent: an image (a tensor in
        [-1, 1] of shape `(C, H, W)` or `(1, C, H, W)`, or a PIL image) is encoded to its posterior mean; a latent of
        shape `(latent_dim,)` is used as it is; `None` is drawn from the prior."""
        if value is None or (torch.is_tensor(value) and tuple(value.shape) == tuple(self.model.latent_shape)):
            return value
        latents = self.encode(value, class_labels=class_label)
        if len(latents) != 1:
            raise ValueError(f"Interpolate between two single images, got a batch of {len(latents)}.")
        return latents[0].cpu()

    @torch.no_grad()
    def estimate_nll(
        self,
        images: ImageInput,
        num_importance_samples: int = 500,
        batch_size: int = 64,
        generator: torch.Generator | None = None,
        class_labels: Any = None,
    ) -> torch.Tensor:
        r"""Importance-sampled negative log-likelihood −log p(x) per image, in nats (Burda et al. 2016; as pythae
        reports it).

        With k samples z₁…z_k of q(z|x):
        log p(x) ≈ logsumexp_k [log p(x|z_k) + log p(z_k) − log q(z_k|x)] − log k.
        The estimate of log p(x) is a lower bound in expectation that tightens as k grows, so the NLL estimate
        decreases towards −log p(x); k = 1 is the negative single-sample ELBO. p(x|z) is the model's likelihood on
        [0, 1] pixel intensities (see the module docstring).

        Args:
            images: tensors in [-1, 1] or PIL images (see `preprocess`).
            num_importance_samples (`int`, defaults to 500): k.
            batch_size (`int`, defaults to 64): latents decoded per forward pass (a memory bound). The random draws,
                and so the estimates for a seed, depend on it.
            generator (`torch.Generator`, *optional*): makes the estimate deterministic.
            class_labels (*optional*): the images' classes for a conditional model, whose NLL is then
                −log p(x | y).

        Returns:
            `torch.Tensor` of shape `(batch,)`, float64 on the CPU.
        """
        if num_importance_samples < 1 or batch_size < 1:
            raise ValueError("num_importance_samples and batch_size must be at least 1.")
        images = self.preprocess(images)
        labels = self.encoder_labels(class_labels, len(images))
        k = num_importance_samples
        images_per_pass, samples_per_pass = max(1, batch_size // k), min(k, batch_size)
        nll = []
        for index in torch.arange(len(images)).split(images_per_pass):
            chunk = images[index.to(images.device)]
            chunk_labels = None if labels is None else labels[index.to(labels.device)]
            mean, logvar = (t.float() for t in self.model.encode(chunk, *_given(chunk_labels)))
            log_weights = []
            for first in range(0, k, samples_per_pass):
                count = min(samples_per_pass, k - first)
                # (images, samples, latent_dim) draws from q(z|x), decoded in one pass
                z = reparameterize(
                    mean[:, None].expand(-1, count, -1), logvar[:, None].expand(-1, count, -1), generator
                )
                z_labels = None if chunk_labels is None else chunk_labels.repeat_interleave(count)
                logits = self.model.decode_logits(z.flatten(0, 1).to(self.model.dtype), *_given(z_labels))
                targets = chunk[:, None].expand(-1, count, *chunk.shape[1:]).flatten(0, 1)
                log_px_given_z = self.model.log_likelihood(targets, logits).view(len(chunk), count)
                log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
                log_qz = diagonal_gaussian_log_prob(z, mean[:, None], logvar[:, None])
                log_weights.append((log_px_given_z + log_pz - log_qz).double())
            log_weights = torch.cat(log_weights, dim=1)
            nll.append(math.log(k) - torch.logsumexp(log_weights, dim=1))
        return torch.cat(nll).cpu()

    # --- the trainer's hook for figures of real images -------------------------------------------------------------
    def real_image_grids(
        self, images: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> dict[str, PIL.Image.Image]:
        r"""`{"reconstructions": grid}`: rows of real images, each followed by a row of their reconstructions (none
        for a conditional model given no labels)."""
        if not self.model.is_conditional:
            class_labels = None  # the data's labels, which the unconditional VAE does not use
        elif class_labels is None:
            return {}
        originals = self.postprocess(images.float(), "pil")
        reconstructions = self.reconstruct(images, output_type="pil", class_labels=class_labels).images
        columns = _grid_columns(len(originals))
        rows: list[Any] = []
        for first in range(0, len(originals), columns):
            rows += originals[first : first + columns] + reconstructions[first : first + columns]
        return {"reconstructions": make_image_grid(rows, 2 * len(originals) // columns, columns)}


def _grid_columns(count: int) -> int:
    """Columns of a near-square grid of `count` images: 64 -> 8, 16 -> 4, 6 -> 3."""
    return count // max(r for r in range(1, math.isqrt(count) + 1) if count % r == 0)


class CVAEPipeline(ClassConditionalMixin, VAEPipeline):
    r"""Pipeline for a `CVAEGenerator`: the VAE pipeline (`encode`, `reconstruct`, `interpolate`, `estimate_nll`,
    which then take the images' `class_labels`) with the CGAN's class handling (class names, `class_grid`).

    Examples:
        ```py
        >>> pipe = GenPipeline.from_pretrained("runs/cvae-mnist")  # a CVAEPipeline
        >>> sevens = pipe(batch_size=8, class_labels="7", generator=torch.Generator().manual_seed(0)).images
        >>> recon = pipe.reconstruct(digits, class_labels=labels).images
        >>> nll = pipe.estimate_nll(digits, class_labels=labels)  # −log p(x | y), nats per image
        ```
    """

    model: CVAEGenerator
    card_tags = ("variational-autoencoder", "conditional")
