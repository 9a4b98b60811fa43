r"""InfoGAN (Chen et al., 2016): a GAN whose input carries structured codes, a categorical one and continuous ones,
that a Q head sharing the discriminator's trunk learns to recover, so that the generator keeps them readable in its
images (the mutual-information term).

The latent vector is `[noise, one-hot category, continuous codes]`: `noise_dim` N(0, 1) values, a one-hot vector of
`num_categories` values drawn uniformly, and `num_continuous` values drawn from U(−1, 1). `latent_dim` is their sum,
so everything that works on latents (interpolation, inversion, the sample grids) works on the whole vector.

Networks follow the paper's MNIST architecture (its Table 1), sized by `resolution_plan` so 32×32 and 64×64 images
work too:

- generator: FC `hidden_dim` → FC to a `size`×`size` map → transposed 4×4 stride-2 convolutions, batch norm and ReLU,
  tanh at the end;
- discriminator trunk: 4×4 stride-2 convolutions with LeakyReLU(0.1) (batch norm after all but the first) → FC
  `hidden_dim` with batch norm; the adversarial head is one linear layer, the Q head an FC `q_hidden_dim` layer with
  batch norm, then the category logits and, per continuous code, a mean and a log standard deviation.

The trained Q network (trunk and Q head) is copied into the generator after every discriminator update
(`InfoGANGenerator.recognizer`), so the saved pipeline carries it: `pipe.encode_codes(images)` reads the codes of
any image, which the disentanglement metrics use.
"""

from typing import Any

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from genzoo import Generator, GenPipeline, dcgan_init
from genzoo.errors import GenzooError
from genzoo.modeling import check_sizes, resolution_plan

__all__ = [
    "CodeRecognizer",
    "InfoGANDiscriminator",
    "InfoGANGenerator",
    "InfoGANPipeline",
    "RivalQNetworks",
    "code_rows",
    "has_codes",
    "split_latents",
    "swap_states",
]


def split_latents(latents: torch.Tensor, noise_dim: int, num_categories: int) -> tuple[torch.Tensor, ...]:
    """`(noise, one_hot, continuous)` slices of InfoGAN latents of shape `(batch, latent_dim)`."""
    return (
        latents[:, :noise_dim],
        latents[:, noise_dim : noise_dim + num_categories],
        latents[:, noise_dim + num_categories :],
    )


class CodeRecognizer(nn.Module):
    r"""The discriminator's trunk and InfoGAN's Q head: images → trunk features → code estimates.

    Args:
        image_size, num_channels: the images it reads.
        num_categories (`int`): values of the categorical code (0: none).
        num_continuous (`int`): continuous codes.
        base_channels (`int`): channels of the first convolution; each later one doubles them.
        hidden_dim (`int`): width of the trunk's fully connected layer (its output: the shared features).
        q_hidden_dim (`int`): width of the Q head's hidden layer.
        norm (`str`): `"none"` or `"batch"` (the paper's) after every hidden layer but the first. The adversarial
            objectives judge real and generated images in separate batches, and batch norm, most of all on the
            last hidden layer, normalises away what tells the two batches apart: with it the discriminator barely
            learned and the generator drew noise.
    """

    def __init__(
        self,
        image_size: int,
        num_channels: int,
        num_categories: int,
        num_continuous: int,
        base_channels: int = 64,
        hidden_dim: int = 1024,
        q_hidden_dim: int = 128,
        norm: str = "none",
    ) -> None:
        super().__init__()
        if norm not in ("none", "batch"):
            raise ValueError(f"norm must be 'none' or 'batch', got {norm!r}.")
        batch_norm = norm == "batch"
        size, num_layers = resolution_plan(image_size)
        channels = base_channels
        layers: list[nn.Module] = [nn.Conv2d(num_channels, channels, 4, 2, 1), nn.LeakyReLU(0.1)]
        for _ in range(num_layers - 1):
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=not batch_norm),
                nn.BatchNorm2d(channels * 2) if batch_norm else nn.Identity(),
                nn.LeakyReLU(0.1),
            ]
            channels *= 2
        layers += [
            nn.Flatten(),
            nn.Linear(channels * size * size, hidden_dim, bias=not batch_norm),
            nn.BatchNorm1d(hidden_dim) if batch_norm else nn.Identity(),
            nn.LeakyReLU(0.1),
        ]
        self.trunk = nn.Sequential(*layers)
        self.num_categories, self.num_continuous = num_categories, num_continuous
        self.code_head = self.build_code_head(hidden_dim, q_hidden_dim, norm)

    def build_code_head(self, hidden_dim: int, q_hidden_dim: int, norm: str) -> nn.Sequential:
        """A Q head for this recognizer's codes: trunk features → category logits, continuous means and log
        standard deviations."""
        batch_norm = norm == "batch"
        return nn.Sequential(
            nn.Linear(hidden_dim, q_hidden_dim, bias=not batch_norm),
            nn.BatchNorm1d(q_hidden_dim) if batch_norm else nn.Identity(),
            nn.LeakyReLU(0.1),
            nn.Linear(q_hidden_dim, self.num_categories + 2 * self.num_continuous),
        )

    def codes_from_features(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(category_logits, continuous_mean, continuous_log_std)` from trunk features."""
        out = self.code_head(features)
        logits = out[:, : self.num_categories]
        mean, log_std = out[:, self.num_categories :].chunk(2, dim=1)
        return logits, mean, log_std.clamp(-5.0, 2.0)  # a floor on σ keeps the Gaussian NLL finite

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.codes_from_features(self.trunk(images))


class InfoGANDiscriminator(nn.Module):
    r"""InfoGAN's discriminator: a `CodeRecognizer` (trunk and Q head) plus an adversarial head on the trunk.

    `forward(images)` returns one logit per image, like every genzoo discriminator, so genzoo's adversarial objectives
    train it; `forward(images, return_codes=True)` also returns the Q head's estimates from the same trunk pass.

    Args:
        image_size, num_channels: the images it judges (set by the objective).
        num_classes (`int`): must be 0 (InfoGAN is unconditional; its categories are learned, not given).
        num_categories, num_continuous: the codes, set by the objective from the generator's config.
        base_channels, hidden_dim, q_hidden_dim, norm: see `CodeRecognizer` (set by the objective from the
            generator's config).
        cluster_heads (`int`, defaults to 1): Q heads that learn to cluster real images in the objective's warm-up,
            Q's own and `cluster_heads − 1` candidates (`candidate_heads`) on the same trunk. `running_head_losses`
            keeps each one's running clustering loss, so that the objective can make the best of them Q's head
            (set by the objective).
    """

    def __init__(
        self,
        image_size: int = 28,
        num_channels: int = 1,
        num_classes: int = 0,
        num_categories: int = 10,
        num_continuous: int = 2,
        base_channels: int = 64,
        hidden_dim: int = 1024,
        q_hidden_dim: int = 128,
        norm: str = "none",
        cluster_heads: int = 1,
    ) -> None:
        super().__init__()
        if num_classes:
            raise ValueError("InfoGANDiscriminator is unconditional: its categories are learned codes, not labels.")
        check_sizes(type(self).__name__, base_channels=base_channels, hidden_dim=hidden_dim, q_hidden_dim=q_hidden_dim)
        self.recognizer = CodeRecognizer(
            image_size, num_channels, num_categories, num_continuous, base_channels, hidden_dim, q_hidden_dim, norm
        )
        self.adversarial_head = nn.Linear(hidden_dim, 1)
        if isinstance(cluster_heads, bool) or not isinstance(cluster_heads, int) or cluster_heads < 1:
            raise ValueError(f"cluster_heads must be an integer >= 1, got {cluster_heads!r}.")
        self.candidate_heads = nn.ModuleList(
            self.recognizer.build_code_head(hidden_dim, q_hidden_dim, norm) for _ in range(cluster_heads - 1)
        )
        self.register_buffer("running_head_losses", torch.zeros(cluster_heads))
        self.apply(dcgan_init)

    def forward(
        self,
        images: torch.Tensor,
        class_labels: torch.Tensor | None = None,
        return_codes: bool = False,
        with_candidates: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """One logit per image, shape `(batch,)`; with `return_codes`, also the Q head's `(category_logits,
        continuous_mean, continuous_log_std)` from the same trunk pass. The estimates of the latest call are kept
        in `last_codes` (and the trunk's features in `last_features`), where InfoGAN's objective reads them inside the
        adversarial steps; `with_candidates` also keeps the candidate heads' category logits, Q's first, stacked
        in `last_category_logits` of shape `(cluster_heads, batch, num_categories)`."""
        features = self.recognizer.trunk(images)
        logits = self.adversarial_head(features).squeeze(1)
        self.last_features = features
        self.last_codes = self.recognizer.codes_from_features(features)
        if with_candidates:
            categories = self.recognizer.num_categories
            candidates = [head(features)[:, :categories] for head in self.candidate_heads]
            self.last_category_logits = torch.stack([self.last_codes[0], *candidates])
        if return_codes:
            return logits, self.last_codes
        return logits

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # checkpoints from before the candidate heads have no running losses: theirs start at zero, as a new run's
        state_dict.setdefault(prefix + "running_head_losses", torch.zeros_like(self.running_head_losses))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def swap_q_network(self, other: "InfoGANDiscriminator") -> None:
        """Swap Q (the trunk, Q head, candidate heads and their running losses) with `other`'s; everything else
        (the adversarial head, ADA's and LeCam's buffers) stays."""
        swap_states(self.recognizer, other.recognizer)
        swap_states(self.candidate_heads, other.candidate_heads)
        kept = self.running_head_losses.clone()
        self.running_head_losses.copy_(other.running_head_losses)
        other.running_head_losses.copy_(kept)


@torch.no_grad()
def swap_states(first: nn.Module, second: nn.Module) -> None:
    """Swap the parameters and buffers of two modules of the same architecture, in place."""
    for mine, theirs in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        kept = mine.clone()
        mine.copy_(theirs)
        theirs.copy_(kept)


class RivalQNetworks(nn.Module):
    r"""Independent Q networks that learn to cluster the real images beside the discriminator's, each from its own
    random start, so that InfoGAN's objective can keep whichever clusters best (the discriminator's Q and these
    take part in a tournament in the first warm-up steps).

    Args:
        rivals (`list[InfoGANDiscriminator]`): the rivals, built like the discriminator (their adversarial heads are
            never trained).
    """

    def __init__(self, rivals: list[InfoGANDiscriminator]) -> None:
        super().__init__()
        self.rivals = nn.ModuleList(rivals)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Every rival's category logits for `images` from every one of its heads: shape `(rivals, cluster_heads,
        batch, num_categories)`."""
        category_logits = []
        for rival in self.rivals:
            logits = rival(images, with_candidates=True)
            # + 0·logits: the adversarial head takes part in the graph, as DDP expects of every parameter
            category_logits.append(rival.last_category_logits + 0.0 * logits[None, :, None])
        return torch.stack(category_logits)


class InfoGANGenerator(Generator):
    r"""InfoGAN's generator, with a copy of the trained Q network for reading codes back from images.

    Args:
        noise_dim (`int`, defaults to 62): incompressible N(0, 1) noise.
        num_categories (`int`, defaults to 10): values of the categorical code (uniform, one-hot); 0 for none.
        num_continuous (`int`, defaults to 2): continuous codes, U(−1, 1) each.
        image_size (`int`, defaults to 28), num_channels (`int`, defaults to 1): the images.
        base_channels (`int`, defaults to 64): channels of the last hidden layer (each earlier one doubles them);
            also the first convolution's channels of the Q network copy.
        hidden_dim (`int`, defaults to 1024): width of the first fully connected layer (and of the Q trunk's).
        q_hidden_dim (`int`, defaults to 128): width of the Q head's hidden layer.
        critic_norm (`str`, defaults to `"none"`): the discriminator's (and Q network's) normalisation, `"none"` or
            `"batch"` (the paper's; see `CodeRecognizer` for why it is off).
        latent_dim (`int`, *optional*): `noise_dim + num_categories + num_continuous`, filled in (and checked if
            given), so that the config holds it like every genzoo generator's.
    """

    latent_prior = "infogan"  # noise, a categorical and uniform codes: not N(0, I), so no truncation trick

    @register_to_config
    def __init__(
        self,
        noise_dim: int = 62,
        num_categories: int = 10,
        num_continuous: int = 2,
        image_size: int = 28,
        num_channels: int = 1,
        base_channels: int = 64,
        hidden_dim: int = 1024,
        q_hidden_dim: int = 128,
        critic_norm: str = "none",
        latent_dim: int | None = None,
    ) -> None:
        super().__init__()
        check_sizes(
            type(self).__name__,
            noise_dim=noise_dim,
            num_channels=num_channels,
            base_channels=base_channels,
            hidden_dim=hidden_dim,
            q_hidden_dim=q_hidden_dim,
        )
        for name, value in (("num_categories", num_categories), ("num_continuous", num_continuous)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{type(self).__name__} needs {name} to be an integer >= 0, got {value!r}.")
        if num_categories == 1:
            raise ValueError("num_categories must be 0 (no categorical code) or at least 2, got 1.")
        if num_categories + num_continuous == 0:
            raise ValueError("InfoGAN needs at least one code: set num_categories >= 2 or num_continuous >= 1.")
        total = noise_dim + num_categories + num_continuous
        if latent_dim is not None and latent_dim != total:
            raise ValueError(
                f"latent_dim is noise_dim + num_categories + num_continuous = {total}, got {latent_dim}; drop "
                "model_args.latent_dim and set noise_dim instead."
            )
        self.register_to_config(latent_dim=total)
        size, num_layers = resolution_plan(image_size)
        channels = base_channels * 2 ** (num_layers - 1)
        self.start = (channels, size)
        self.project = nn.Sequential(
            nn.Linear(total, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, channels * size * size, bias=False),
            nn.BatchNorm1d(channels * size * size),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        for _ in range(num_layers - 1):
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(),
            ]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, num_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        # The Q network as trained by the objective (copied in, never optimised here): saved with the pipeline.
        self.recognizer = CodeRecognizer(
            image_size, num_channels, num_categories, num_continuous, base_channels, hidden_dim, q_hidden_dim,
            critic_norm,
        )  # fmt: skip
        self.recognizer.requires_grad_(False)
        self.apply(dcgan_init)

    # --- codes ----------------------------------------------------------------------------------------------------
    def split_latents(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(noise, one_hot, continuous)` slices of `latents`."""
        return split_latents(latents, self.config.noise_dim, self.config.num_categories)

    def sample_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
        r"""Draw `[noise, one-hot category, continuous codes]`: N(0, I) noise, a uniform category and U(−1, 1)
        codes, in that order from `generator`. `truncation` is refused (the prior is not Gaussian)."""
        if truncation is not None:
            raise ValueError(
                f"{type(self).__name__} draws latents from an InfoGAN prior (noise and codes); the truncation trick "
                "needs a Gaussian prior, so drop `truncation`."
            )
        config = self.config
        device = torch.device(device) if device is not None else self.device
        dtype = dtype or self.dtype
        noise = randn_tensor((batch_size, config.noise_dim), generator=generator, device=device, dtype=dtype)
        category = self.draw_uniform((batch_size, 1), generator, device)
        continuous = self.draw_uniform((batch_size, config.num_continuous), generator, device) * 2.0 - 1.0
        one_hot = F.one_hot((category[:, 0] * config.num_categories).long(), max(config.num_categories, 1))
        one_hot = one_hot[:, : config.num_categories]
        return torch.cat([noise, one_hot.to(dtype), continuous.to(dtype)], dim=1)

    @staticmethod
    def draw_uniform(
        shape: tuple[int, int], generator: torch.Generator | list[torch.Generator] | None, device: torch.device
    ) -> torch.Tensor:
        """U(0, 1) values of `shape`, from one generator or one per row (as `randn_tensor` takes them)."""
        if isinstance(generator, list):
            rows = [torch.rand((1, shape[1]), generator=g, device=g.device).to(device) for g in generator]
            return torch.cat(rows)
        source = generator.device if generator is not None else device
        return torch.rand(shape, generator=generator, device=source).to(device)

    def make_latents(
        self,
        noise: torch.Tensor,
        category: torch.Tensor | None = None,
        continuous: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""Latents from their parts: `noise` `(batch, noise_dim)`, integer `category` `(batch,)` and `continuous`
        `(batch, num_continuous)`; a part left out stays at zero (no category, the codes' centre).

        Raises:
            `GenzooError`: for a category outside `[0, num_categories)` or a wrong number of continuous codes.
        """
        config = self.config
        batch = noise.shape[0]
        one_hot = torch.zeros(batch, config.num_categories, device=noise.device, dtype=noise.dtype)
        if category is not None:
            category = torch.as_tensor(category, device=noise.device).long().flatten()
            if config.num_categories == 0:
                raise GenzooError("This InfoGAN has no categorical code (num_categories=0); drop codes['category'].")
            bad = category[(category < 0) | (category >= config.num_categories)]
            if len(bad):
                raise GenzooError(
                    f"Code value {int(bad[0])} is out of range for codes['category']: use 0 to "
                    f"{config.num_categories - 1} (num_categories={config.num_categories})."
                )
            one_hot = F.one_hot(category, config.num_categories).to(noise.dtype)
        values = torch.zeros(batch, config.num_continuous, device=noise.device, dtype=noise.dtype)
        if continuous is not None:
            values = torch.as_tensor(continuous, dtype=noise.dtype).to(noise.device)
            if values.dim() == 1 and config.num_continuous == 1:
                values = values[:, None]
            if values.dim() != 2 or values.shape[1] != config.num_continuous:
                raise GenzooError(
                    f"codes['continuous'] must hold {config.num_continuous} value(s) per image (this InfoGAN's "
                    f"num_continuous), got shape {tuple(values.shape)}."
                )
        return torch.cat([noise, one_hot, values], dim=1)

    def forward(self, latents: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        channels, size = self.start
        return self.net(self.project(latents).view(-1, channels, size, size))

    def prior_nll(self, latents: torch.Tensor) -> torch.Tensor:
        r"""½‖noise‖² (the codes' priors are flat on their range): what inversion adds to keep the noise likely."""
        return 0.5 * self.split_latents(latents)[0].pow(2).sum(1)

    @torch.no_grad()
    def encode_codes(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        r"""The Q network's reading of images in [-1, 1]: `{"category_logits", "category", "continuous",
        "continuous_log_std"}` (batch first). Runs the recognizer in eval mode."""
        was_training = self.recognizer.training
        self.recognizer.eval()
        try:
            logits, mean, log_std = self.recognizer(images.to(self.device, self.dtype))
        finally:
            self.recognizer.train(was_training)
        return {"category_logits": logits, "category": logits.argmax(1), "continuous": mean,
                "continuous_log_std": log_std}  # fmt: skip


class InfoGANPipeline(GenPipeline):
    r"""Pipeline for InfoGAN: samples like any genzoo pipeline, and takes `codes=` to set the structured codes.

    `codes` is a dict with `"category"` (an int, or one per image, in `[0, num_categories)`) and/or `"continuous"`
    (one list of `num_continuous` values, or one per image); codes left out are drawn from their prior, and the
    noise always is. `encode_codes(images)` reads the codes back with the trained Q network, and
    `code_rows(...)` draws one row per category value with the continuous codes swept along the columns.

    Examples:
        ```py
        >>> import torch
        >>> from genzoo import GenPipeline
        >>> pipe = GenPipeline.from_pretrained("runs/infogan-mnist")  # loads as InfoGANPipeline
        >>> digits = pipe(batch_size=10, codes={"category": list(range(10))}).images  # one image per category
        >>> tilted = pipe(batch_size=3, codes={"category": 7, "continuous": [[-1, 0], [0, 0], [1, 0]]}).images
        >>> rows = pipe.code_rows(columns=8, generator=torch.Generator().manual_seed(0))  # a PIL grid
        ```
    """

    card_tags = ("infogan",)

    def prepare_latents(
        self,
        batch_size: int,
        generator: torch.Generator | list[torch.Generator] | None,
        latents: torch.Tensor | None,
        codes: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        r"""Drawn latents with `codes` written over them (see the class docstring); the rest as in `GenPipeline`."""
        latents = super().prepare_latents(batch_size, generator, latents, **kwargs)
        if codes is None:
            return latents
        if not isinstance(codes, dict) or set(codes) - {"category", "continuous"}:
            raise GenzooError(
                f"`codes` must be a dict with 'category' and/or 'continuous', got {codes!r}; e.g. "
                "codes={'category': [0, 1], 'continuous': [[0.5, -1.0], [0.5, -1.0]]}."
            )
        model = self.model
        noise, one_hot, continuous = model.split_latents(latents)
        batch = latents.shape[0]
        category = one_hot.argmax(1) if model.config.num_categories else None
        if "category" in codes:
            category = torch.as_tensor(codes["category"]).long().flatten()
            if len(category) == 1:
                category = category.expand(batch)
            if len(category) != batch:
                raise GenzooError(
                    f"codes['category'] has {len(category)} values for {batch} images; give one, or one per image."
                )
        if "continuous" in codes:
            continuous = torch.as_tensor(codes["continuous"], dtype=torch.float32)
            if continuous.dim() < 2:  # one set of values for every image
                continuous = continuous.reshape(1, -1)
            if continuous.shape[0] == 1:
                continuous = continuous.expand(batch, -1)
            if continuous.shape[0] != batch:
                raise GenzooError(
                    f"codes['continuous'] has {continuous.shape[0]} rows for {batch} images; give one, or one per "
                    "image."
                )
        return model.make_latents(noise, category, continuous).to(latents.device, latents.dtype)

    @torch.no_grad()
    def encode_codes(self, images: Any) -> dict[str, torch.Tensor]:
        r"""The trained Q network's estimate of the codes of `images` (a tensor in [-1, 1], or PIL images / arrays
        in [0, 1]): see `InfoGANGenerator.encode_codes`."""
        if not torch.is_tensor(images):
            from genzoo.data import image_to_tensor

            images = torch.stack([image_to_tensor(image, self.model.config.image_size,
                                                  self.model.config.num_channels) for image in images])  # fmt: skip
        return self.model.encode_codes(images)


def has_codes(pipe: Any) -> bool:
    """Whether `pipe`'s model has learned codes (InfoGAN's): what the `codes` task applies to."""
    return callable(getattr(getattr(pipe, "model", None), "encode_codes", None))


@torch.no_grad()
def code_rows(
    pipe: Any,
    columns: int = 8,
    code: str = "category",
    values: list[float] | None = None,
    generator: torch.Generator | None = None,
    output_type: str = "pil",
) -> Any:
    r"""A grid with one row per value of a code and the same noise down each column (the `codes` task,
    `pipe.code_rows(...)`, `genzoo explore RUN --method codes`).

    Args:
        pipe (`InfoGANPipeline`): the pipeline.
        columns (`int`, defaults to 8): images per row (columns share their noise and other codes).
        code (`str`, defaults to `"category"`): `"category"` (one row per category) or `"continuous:I"` (one row
            per value of continuous code I, from −2 to 2 by default, beyond the training range of ±1 to show where
            the code's effect ends).
        values (`list[float]`, *optional*): the row values of a continuous code.
        generator (`torch.Generator`, *optional*): seeds the noise.
        output_type (`str`): `"pil"` for one grid image, `"pt"` for the images `(rows * columns, C, H, W)`.

    Raises:
        `GenzooError`: for a model without codes, an unknown code or a code index out of range.
    """
    from genzoo.grids import image_grid

    if not has_codes(pipe):
        raise GenzooError(
            f"code rows need a model with learned codes (InfoGAN); {type(pipe.model).__name__} has none."
        )
    if columns < 1:
        raise GenzooError(f"code rows need at least 1 column, got {columns}.")
    model = pipe.model
    base = model.sample_latents(columns, generator=generator, device="cpu").to(pipe._execution_device)
    noise, one_hot, continuous = model.split_latents(base)
    category = one_hot.argmax(1) if model.config.num_categories else None
    rows = []
    if code == "category":
        if not model.config.num_categories:
            raise GenzooError("This InfoGAN has no categorical code; use code='continuous:0'.")
        for value in range(model.config.num_categories):
            rows.append(model.make_latents(noise, torch.full_like(one_hot[:, 0], value).long(), continuous))
    elif code.startswith("continuous:") and code.partition(":")[2].isdigit():
        index = int(code.partition(":")[2])
        if index >= model.config.num_continuous:
            raise GenzooError(
                f"Code value {index} is out of range for code 'continuous:I': use 0 to "
                f"{model.config.num_continuous - 1}."
            )
        for value in values if values is not None else [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]:
            swept = continuous.clone()
            swept[:, index] = value
            rows.append(model.make_latents(noise, category, swept))
    else:
        raise GenzooError(f"code must be 'category' or 'continuous:I' (I an index), got {code!r}.")
    images = pipe(latents=torch.cat(rows), output_type="pt" if output_type == "pt" else "pil").images
    return images if output_type == "pt" else image_grid(images, rows=len(rows))
