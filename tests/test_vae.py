"""The VAE plugin: the shared tester mixins, the ELBO's pieces against `torch.distributions`, the importance-sampled
NLL against a model whose likelihood is known in closed form, the pipeline's methods and `genzoo train vae`."""

import json
import math

import numpy as np
import PIL.Image
import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal, kl_divergence

from genzoo import GenPipeline, load_dataset
from genzoo.cli import main
from genzoo.errors import ConfigError
from genzoo.testing import GeneratorTesterMixin
from genzoo_gan import DCGANGenerator
from genzoo_vae import (
    CVAEGenerator,
    CVAEPipeline,
    ELBOObjective,
    VAEGenerator,
    VAEPipeline,
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_likelihood,
    reparameterize,
)

TINY_VAE = {"latent_dim": 4, "image_size": 28, "num_channels": 1, "base_channels": 4, "hidden_dim": 16}


class TestVAE(GeneratorTesterMixin):
    model_name = "vae"
    model_args = TINY_VAE


class TestCVAE(GeneratorTesterMixin):
    model_name = "cvae"
    model_args = {**TINY_VAE, "num_classes": 3, "embedding_dim": 3}


class TestVAEGaussianRGB32(GeneratorTesterMixin):
    model_name = "vae"
    model_args = {**TINY_VAE, "image_size": 32, "num_channels": 3, "likelihood": "gaussian"}
    objective_args = {"beta": 4.0}


def tiny_pipeline(seed: int = 0, **overrides) -> VAEPipeline:
    torch.manual_seed(seed)
    return VAEPipeline(model=VAEGenerator(**{**TINY_VAE, **overrides}).eval())


def random_images(count: int, seed: int = 0, shape=(1, 28, 28)) -> torch.Tensor:
    return torch.rand(count, *shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- the ELBO's pieces ------------------------------------------------------------------------------------------
def test_kl_matches_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(64, 8, generator=generator, dtype=torch.float64) * 2
    logvar = torch.randn(64, 8, generator=generator, dtype=torch.float64) * 3
    expected = kl_divergence(Normal(mean, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mean, logvar), expected)
    assert torch.all(gaussian_kl(mean, logvar) >= 0)
    torch.testing.assert_close(gaussian_kl(torch.zeros(3, 8), torch.zeros(3, 8)), torch.zeros(3))


def test_bernoulli_log_likelihood_matches_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 1, 6, 6, generator=generator, dtype=torch.float64) * 4
    binary = (torch.rand(5, 1, 6, 6, generator=generator) > 0.5).double()
    expected = Bernoulli(logits=logits).log_prob(binary).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(binary, logits), expected)
    # Grey levels are used as they are: the same cross-entropy formula, outside Bernoulli's binary support.
    grey = torch.rand(5, 1, 6, 6, generator=generator, dtype=torch.float64)
    expected = Bernoulli(logits=logits, validate_args=False).log_prob(grey).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(grey, logits), expected)


def test_gaussian_log_likelihood_matches_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    targets = torch.rand(4, 3, 5, 5, generator=generator, dtype=torch.float64)
    mean = torch.rand(4, 3, 5, 5, generator=generator, dtype=torch.float64)
    log_scale = torch.tensor([-2.0, -1.0, 0.5], dtype=torch.float64)
    expected = Normal(mean, log_scale.exp().view(1, 3, 1, 1)).log_prob(targets).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(targets, mean, log_scale), expected)


def test_model_likelihood_is_on_pixel_intensities_in_0_1():
    model = VAEGenerator(**TINY_VAE)
    images, logits = random_images(3), torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(
        model.log_likelihood(images, logits), bernoulli_log_likelihood((images + 1) / 2, logits)
    )
    model.set_likelihood("gaussian")
    expected = Normal(torch.sigmoid(logits), 0.1).log_prob((images + 1) / 2).flatten(1).sum(1)
    torch.testing.assert_close(model.log_likelihood(images, logits), expected)


def test_reparameterisation_gradients_and_statistics():
    mean = torch.tensor([[1.0, -2.0, 0.5]], requires_grad=True)
    logvar = torch.tensor([[0.0, 1.0, -3.0]], requires_grad=True)
    z = reparameterize(mean, logvar, torch.Generator().manual_seed(0))
    z.sum().backward()
    torch.testing.assert_close(mean.grad, torch.ones_like(mean))
    # dz/dlogvar = ½ σ ε = ½ (z − μ)
    torch.testing.assert_close(logvar.grad, 0.5 * (z - mean).detach())

    many = reparameterize(mean.detach().expand(200_000, 3), logvar.detach().expand(200_000, 3))
    torch.testing.assert_close(many.mean(0), mean.detach()[0], atol=0.02, rtol=0)
    torch.testing.assert_close(many.std(0), torch.exp(0.5 * logvar.detach()[0]), atol=0.01, rtol=0.01)

    first = reparameterize(mean, logvar, torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, reparameterize(mean, logvar, torch.Generator().manual_seed(3)))


def test_forward_on_images_returns_the_elbo_terms():
    model = VAEGenerator(**TINY_VAE)
    images = random_images(4)
    output = model(images=images, generator=torch.Generator().manual_seed(0))
    mean, logvar = model.encode(images)
    torch.testing.assert_close(output.kl, gaussian_kl(mean, logvar))
    torch.testing.assert_close(output.latents, reparameterize(mean, logvar, torch.Generator().manual_seed(0)))
    torch.testing.assert_close(
        output.log_likelihood, model.log_likelihood(images, model.decode_logits(output.latents))
    )
    with pytest.raises(ValueError, match="either"):
        model(latents=torch.zeros(1, 4), images=images)


def test_beta_weights_the_kl_term():
    log_likelihood, kl = torch.tensor([-100.0, -80.0]), torch.tensor([10.0, 20.0])
    for beta in (0.0, 1.0, 4.0):
        objective = ELBOObjective(VAEGenerator(**TINY_VAE), beta=beta)
        assert objective.loss(log_likelihood, kl).item() == pytest.approx(90.0 + beta * 15.0)


@pytest.mark.parametrize(
    ("likelihood", "mixed_precision"), [("bernoulli", "no"), ("bernoulli", "bf16"), ("gaussian", "no")]
)
def test_training_step_logs_the_elbo_of_the_models_outputs(likelihood, mixed_precision):
    """The logged loss, reconstruction term and KL equal the β-weighted negative ELBO computed independently from
    the model's encoder and decoder outputs (before the step): q(z|x) and p(x|z) as `torch.distributions`, one
    sample z = μ + σ·ε with ε drawn from the step's generator, and the KL from `kl_divergence`."""
    import copy

    from accelerate import Accelerator

    torch.manual_seed(0)
    model = VAEGenerator(**TINY_VAE, likelihood=likelihood)
    with torch.no_grad():  # a posterior away from N(0, I) (σ from 0.37 to 1) and a decoder that depends on z
        model.encoder[-1].bias.copy_(torch.tensor([0.5, -0.5, 1.0, 0.0, -1.5, -1.0, -2.0, 0.0]))
        model.decoder[0].weight.mul_(10.0)
    before = copy.deepcopy(model).double()  # the weights the step starts from, evaluated in float64
    beta, images = 3.0, random_images(4)
    objective = ELBOObjective(model, beta=beta)
    accelerator = Accelerator(cpu=True, mixed_precision=mixed_precision)
    prepared, optimizer = accelerator.prepare(model, objective.configure_optimizers()["model"])
    objective.bind(accelerator, {"model": prepared}, {"model": optimizer})
    with accelerator.autocast():
        logs = objective.training_step({"pixel_values": images}, 0, torch.Generator().manual_seed(0))

    with torch.no_grad():
        mean, logvar = before.encode(images.double())
        posterior = Normal(mean, torch.exp(0.5 * logvar))
        epsilon = torch.randn(mean.shape, generator=torch.Generator().manual_seed(0)).double()
        logits = before.decode_logits(mean + posterior.scale * epsilon)
        pixels = (images.double() + 1) / 2
        if likelihood == "bernoulli":  # grey levels as they are, so no support check
            decoder = Bernoulli(logits=logits, validate_args=False)
        else:
            decoder = Normal(torch.sigmoid(logits), torch.exp(before.log_scale).view(1, -1, 1, 1))
        log_likelihood = decoder.log_prob(pixels).flatten(1).sum(1)
        kl = kl_divergence(posterior, Normal(0.0, 1.0)).sum(1)
    expected = {"recon_nll": -log_likelihood.mean(), "kl": kl.mean(), "loss": (-log_likelihood + beta * kl).mean()}
    tolerance = 1e-5 if mixed_precision == "no" else 5e-3  # bf16 autocast runs the networks in bfloat16
    for name, value in expected.items():
        assert logs[name].item() == pytest.approx(value.item(), rel=tolerance), name
    assert logs["kl"].item() > 0 and logs["recon_nll"].item() != 0


def test_objective_likelihood_switches_and_is_saved_with_the_model(tmp_path):
    model = VAEGenerator(**TINY_VAE)
    assert not hasattr(model, "log_scale")
    ELBOObjective(model, likelihood="gaussian")
    assert model.config.likelihood == "gaussian" and isinstance(model.log_scale, torch.nn.Parameter)
    with torch.no_grad():
        model.log_scale.fill_(-3.0)
    VAEPipeline(model=model).save_pretrained(tmp_path / "pipe")
    loaded = GenPipeline.from_pretrained(tmp_path / "pipe")
    assert loaded.model.config.likelihood == "gaussian"
    torch.testing.assert_close(loaded.model.log_scale, model.log_scale)

    fixed = VAEGenerator(**TINY_VAE, likelihood="gaussian", learn_gaussian_std=False)
    assert "log_scale" in dict(fixed.named_buffers()) and "log_scale" not in dict(fixed.named_parameters())
    ELBOObjective(fixed, likelihood="bernoulli")
    assert fixed.config.likelihood == "bernoulli" and not hasattr(fixed, "log_scale")


def test_bad_objective_and_model_options_are_refused():
    with pytest.raises(ConfigError, match="likelihood"):
        ELBOObjective(VAEGenerator(**TINY_VAE), likelihood="poisson")
    with pytest.raises(ConfigError, match="beta"):
        ELBOObjective(VAEGenerator(**TINY_VAE), beta=-1.0)
    with pytest.raises(ConfigError, match="encoder"):
        ELBOObjective(DCGANGenerator(latent_dim=4, base_channels=4))
    with pytest.raises(ValueError, match="likelihood"):
        VAEGenerator(**TINY_VAE, likelihood="poisson")
    with pytest.raises(ValueError, match="image_size"):
        VAEGenerator(image_size=30)


# --- the importance-sampled NLL ---------------------------------------------------------------------------------
class LinearGaussianVAE(VAEGenerator):
    """p(z) = N(0, I), p(x|z) = N(b + Wz, σ²I) with orthogonal columns of W, so that log p(x) is known in closed form
    and the exact posterior is diagonal. `encode` returns that posterior, or a deliberately worse proposal."""

    def setup(self, weight: torch.Tensor, bias: float, proposal_shift: float = 0.0, proposal_scale: float = 1.0):
        self.weight, self.bias = weight, bias
        self.proposal_shift, self.proposal_scale = proposal_shift, proposal_scale
        return self

    def encode(self, images):
        x = (images.flatten(1).double() + 1) / 2
        var = self.config.gaussian_std**2
        precision = 1 + (self.weight**2).sum(0) / var  # I + WᵀW/σ², diagonal by construction
        post_var = 1 / precision
        post_mean = post_var * ((x - self.bias) @ self.weight) / var
        mean = post_mean + self.proposal_shift * post_var.sqrt()
        logvar = torch.log(post_var * self.proposal_scale**2).expand_as(mean)
        return mean.float(), logvar.float()

    def decode_logits(self, latents):
        mean = self.bias + latents.double() @ self.weight.T
        return torch.logit(mean).view(-1, 1, self.config.image_size, self.config.image_size).float()

    def exact_log_likelihood(self, images):
        x = (images.flatten(1).double() + 1) / 2
        covariance = self.weight @ self.weight.T + self.config.gaussian_std**2 * torch.eye(len(self.weight))
        return MultivariateNormal(torch.full((len(self.weight),), self.bias), covariance).log_prob(x)


def linear_gaussian_pipeline(**proposal) -> tuple[VAEPipeline, torch.Tensor]:
    size, std = 8, 0.05
    weight = torch.zeros(size * size, 2, dtype=torch.float64)
    weight[:32, 0], weight[32:, 1] = 0.08, -0.06  # orthogonal columns
    model = LinearGaussianVAE(
        latent_dim=2, image_size=size, likelihood="gaussian", gaussian_std=std, learn_gaussian_std=False
    ).setup(weight, 0.5, **proposal)
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(6, 2, generator=generator, dtype=torch.float64)
    x = 0.5 + z @ weight.T + std * torch.randn(6, size * size, generator=generator, dtype=torch.float64)
    images = (2 * x.clamp(0.02, 0.98) - 1).view(6, 1, size, size).float()
    return VAEPipeline(model=model), images


def test_nll_is_exact_with_the_true_posterior_for_any_k():
    pipe, images = linear_gaussian_pipeline()
    exact = -pipe.model.exact_log_likelihood(images)
    for k, batch_size in ((1, 64), (7, 3), (50, 16)):
        nll = pipe.estimate_nll(images, num_importance_samples=k, batch_size=batch_size)
        assert nll.shape == (6,) and nll.dtype == torch.float64
        torch.testing.assert_close(nll, exact, atol=2e-3, rtol=0)


def test_nll_estimates_decrease_towards_the_true_value_with_k():
    # A poor proposal (shifted by 2 posterior standard deviations, 3 times too wide): KL(q ‖ p(z|x)) ≈ 7 nats.
    pipe, images = linear_gaussian_pipeline(proposal_shift=2.0, proposal_scale=3.0)
    exact = -pipe.model.exact_log_likelihood(images).mean().item()
    gaps = []
    for k in (1, 16, 4096):
        estimates = [
            pipe.estimate_nll(images, k, batch_size=8192, generator=torch.Generator().manual_seed(seed)).mean().item()
            for seed in range(4)
        ]
        gaps.append(float(np.mean(estimates)) - exact)
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[0] > 3.0  # the k = 1 bound is loose
    assert abs(gaps[2]) < 0.03  # and 4096 samples close the gap


def test_nll_with_one_sample_is_the_negative_single_sample_elbo():
    pipe = tiny_pipeline()
    images = random_images(4)
    nll = pipe.estimate_nll(images, num_importance_samples=1, generator=torch.Generator().manual_seed(5))
    output = pipe.model(images=images, generator=torch.Generator().manual_seed(5))  # the same posterior sample
    std = torch.exp(0.5 * output.logvar)
    log_pz = Normal(0.0, 1.0).log_prob(output.latents).sum(-1)
    log_qz = Normal(output.mean, std).log_prob(output.latents).sum(-1)
    elbo = output.log_likelihood + log_pz - log_qz
    torch.testing.assert_close(nll, -elbo.double(), atol=1e-3, rtol=1e-5)
    assert torch.isfinite(pipe.estimate_nll(images, num_importance_samples=20, batch_size=7)).all()


def test_nll_is_deterministic_for_a_seed():
    pipe, images = tiny_pipeline(), random_images(3)
    first = pipe.estimate_nll(images, 10, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(first, pipe.estimate_nll(images, 10, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(ValueError, match="num_importance_samples"):
        pipe.estimate_nll(images, 0)


# --- the pipeline -----------------------------------------------------------------------------------------------
def test_encode_gives_the_posterior_mean_or_a_sample():
    pipe, images = tiny_pipeline(), random_images(3)
    mean, _ = pipe.model.encode(images)
    torch.testing.assert_close(pipe.encode(images), mean)
    sample = pipe.encode(images, generator=torch.Generator().manual_seed(0))
    assert sample.shape == (3, 4) and not torch.allclose(sample, mean)
    torch.testing.assert_close(sample, pipe.encode(images, generator=torch.Generator().manual_seed(0)))


def test_decode_and_reconstruct_shapes_and_ranges():
    pipe, images = tiny_pipeline(), random_images(3)
    decoded = pipe.decode(pipe.encode(images), output_type="pt").images
    reconstructed = pipe.reconstruct(images, output_type="pt").images
    assert reconstructed.shape == (3, 1, 28, 28)
    assert reconstructed.min() >= 0 and reconstructed.max() <= 1
    torch.testing.assert_close(reconstructed, decoded)
    torch.testing.assert_close(reconstructed, (pipe.model(pipe.encode(images)) + 1) / 2)
    assert pipe.reconstruct(images, output_type="np").images.shape == (3, 28, 28, 1)
    pil = pipe.reconstruct(images, output_type="pil").images
    assert len(pil) == 3 and pil[0].size == (28, 28)
    assert pipe.reconstruct(images[0], output_type="pt").images.shape == (1, 1, 28, 28)
    sampled = pipe.reconstruct(images, output_type="pt", generator=torch.Generator().manual_seed(0)).images
    assert not torch.allclose(sampled, reconstructed)


def test_pil_images_are_accepted_like_training_data():
    pipe = tiny_pipeline()
    digits = [row["image"] for row in load_dataset("mnist-5k", split="test").data.select(range(3))]
    as_tensor = torch.stack([torch.from_numpy(np.asarray(d, dtype=np.float32) / 127.5 - 1)[None] for d in digits])
    torch.testing.assert_close(
        pipe.reconstruct(digits, output_type="pt").images, pipe.reconstruct(as_tensor, output_type="pt").images
    )
    assert pipe.reconstruct(digits[0], output_type="pt").images.shape == (1, 1, 28, 28)
    rgb = PIL.Image.new("RGB", (56, 40), (255, 255, 255))  # converted and resized
    assert pipe.encode(rgb).shape == (1, 4)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.zeros(2, 3, 28, 28), "shape"),
        (torch.zeros(2, 1, 16, 16), "shape"),
        (torch.full((2, 1, 28, 28), 255.0), r"\[-1, 1\]"),
        ("digit.png", "tensor"),
        ([], "list"),
    ],
)
def test_bad_images_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        tiny_pipeline().reconstruct(bad)


def test_interpolate_between_images():
    pipe, images = tiny_pipeline(), random_images(2)
    path = pipe.interpolate(images[0], images[1], steps=5, output_type="pt").images
    assert path.shape == (5, 1, 28, 28) and path.min() >= 0 and path.max() <= 1
    ends = pipe.reconstruct(images, output_type="pt").images
    torch.testing.assert_close(path[0], ends[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], ends[1], atol=1e-5, rtol=0)
    # Latents pass through as they are, and missing ends come from the prior (the base class's behaviour).
    latents = pipe.encode(images)
    by_latents = pipe.interpolate(latents[0], latents[1], steps=5, output_type="pt").images
    torch.testing.assert_close(by_latents, path)
    assert len(pipe.interpolate(steps=3, generator=torch.Generator().manual_seed(0)).images) == 3
    with pytest.raises(ValueError, match="single images"):
        pipe.interpolate(images, images[1])


def test_reconstruction_grid_for_the_trainer():
    pipe = tiny_pipeline()
    grids = pipe.real_image_grids(random_images(6))
    assert list(grids) == ["reconstructions"]
    assert grids["reconstructions"].size == (3 * 28, 4 * 28)  # 2 rows of 3 originals, each above its reconstructions
    assert GenPipeline(model=DCGANGenerator(latent_dim=4, base_channels=4)).real_image_grids(random_images(2)) == {}


# --- genzoo train vae -------------------------------------------------------------------------------------------
def test_genzoo_train_vae_end_to_end(tmp_path, capsys):
    output = tmp_path / "vae"
    tiny = [f"model_args.{key}={value}" for key, value in TINY_VAE.items() if key != "image_size"]
    argv = ["train", "vae", "--output-dir", str(output), "--max-steps", "10", "--batch-size", "16", "--seed", "0"]
    main([*argv, *(arg for item in tiny for arg in ("--set", item)), "--set", "num_sample_images=4"])
    assert "objective elbo" in capsys.readouterr().out
    index = json.loads((output / "model_index.json").read_text())
    assert index["_class_name"] == "VAEPipeline"
    assert index["model"] == ["genzoo_vae.modeling_vae", "VAEGenerator"]
    for name in ("samples.png", "reconstructions.png", "run_config.yaml"):
        assert (output / name).is_file()
    losses = [json.loads(line) for line in (output / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "recon_nll", "kl"} <= set(losses[-1])

    pipe = GenPipeline.from_pretrained(output)
    assert type(pipe) is VAEPipeline
    card = (output / "README.md").read_text()
    assert "variational-autoencoder" in card and "VAEPipeline" in card
    digits = torch.stack(load_dataset("mnist-5k", split="test").with_transform(28, 1)[:4]["pixel_values"])
    nll = pipe.estimate_nll(digits, num_importance_samples=8, generator=torch.Generator().manual_seed(0))
    assert nll.shape == (4,) and torch.isfinite(nll).all()
    # Nats per image: no worse than a model that ignores z and predicts ½ for every pixel (784 log 2).
    assert nll.mean() < 784 * math.log(2) + 1


# --- the conditional VAE ------------------------------------------------------------------------------------------
def tiny_cvae(seed: int = 0) -> "CVAEPipeline":
    torch.manual_seed(seed)
    model = CVAEGenerator(**TINY_VAE, num_classes=3, embedding_dim=3, class_names=["zero", "one", "two"]).eval()
    return CVAEPipeline(model=model)


def test_cvae_shares_the_vae_machinery_and_conditions_both_halves():
    pipe = tiny_cvae()
    assert isinstance(pipe.model, VAEGenerator) and isinstance(pipe, VAEPipeline)
    assert {"class_labels", "class_interpolation", "reconstruct", "invert"} <= pipe.supported_tasks()
    images = random_images(2)
    # The encoder sees the class: the same images give other posteriors under other classes.
    mean_a, _ = pipe.model.encode(images, torch.tensor([0, 0]))
    mean_b, _ = pipe.model.encode(images, torch.tensor([1, 1]))
    assert not torch.allclose(mean_a, mean_b)
    # So does the decoder; sampling takes names like the CGAN's.
    latents = pipe.model.sample_latents(2, generator=torch.Generator().manual_seed(0))
    by_name = pipe(latents=latents, class_labels=["two", "two"], output_type="np").images
    by_index = pipe(latents=latents, class_labels=2, output_type="np").images
    np.testing.assert_array_equal(by_name, by_index)
    assert not np.allclose(by_index, pipe(latents=latents, class_labels=0, output_type="np").images)
    assert pipe.class_grid(images_per_class=2).size == (3 * 28, 2 * 28)
    # The ELBO's pieces, given the class, through the VAE's forward.
    output = pipe.model(images=images, class_labels=torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
    assert output.log_likelihood.shape == (2,) and torch.all(output.kl >= 0)


def test_cvae_reconstruction_and_nll_need_the_class():
    pipe = tiny_cvae()
    images = random_images(2)
    nll = pipe.estimate_nll(images, num_importance_samples=4, class_labels=[0, 1], generator=torch.Generator())
    assert nll.shape == (2,) and torch.isfinite(nll).all()
    other = pipe.estimate_nll(images, num_importance_samples=4, class_labels="two", generator=torch.Generator())
    assert not torch.allclose(nll, other)  # −log p(x | y) depends on y
    assert pipe.reconstruct(images, class_labels=[0, 1], output_type="pt").images.shape == (2, 1, 28, 28)
    for call in (lambda: pipe.reconstruct(images), lambda: pipe.estimate_nll(images), lambda: pipe.encode(images)):
        with pytest.raises(ValueError, match="pass class_labels"):
            call()
    with pytest.raises(ValueError, match="unconditional"):
        tiny_pipeline().reconstruct(images, class_labels=[0, 1])
    path = pipe.interpolate(images[0], images[1], steps=3, class_labels="one", output_type="np").images
    assert path.shape == (3, 28, 28, 1)


def test_genzoo_train_cvae_saves_reconstructions_with_labels(tiny_parquet, tmp_path):
    run = tmp_path / "run"
    main(["train", "cvae", "--dataset", f"parquet:{tiny_parquet}", "--output-dir", str(run), "--max-steps", "2",
          "--batch-size", "8", "--set", "model_args.base_channels=4", "--set", "model_args.hidden_dim=16",
          "--set", "sample_every=0", "--set", "checkpoint_every=0", "--set", "num_sample_images=10"])  # fmt: skip
    pipe = GenPipeline.from_pretrained(run)
    assert type(pipe).__name__ == "CVAEPipeline" and pipe.class_names == [str(i) for i in range(10)]
    assert (run / "reconstructions.png").is_file()
    assert pipe(class_labels="7", output_type="np").images.shape == (1, 28, 28, 1)


def test_the_vae_metrics_apply_to_the_cvae_with_the_held_out_labels():
    from genzoo.metrics.evaluation import evaluate_pipeline

    results = evaluate_pipeline(
        tiny_cvae_mnist(), "nll,reconstruction", ["nll.num_images=8", "nll.importance_samples=2",
                                                  "reconstruction.num_images=8"], progress=False,
    )  # fmt: skip
    assert results["nll"] > 0 and 0 < results["reconstruction_mse"] < 1


def tiny_cvae_mnist() -> "CVAEPipeline":
    torch.manual_seed(0)
    return CVAEPipeline(model=CVAEGenerator(**TINY_VAE, num_classes=10, embedding_dim=3).eval())
