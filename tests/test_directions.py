"""Latent directions (genzoo.directions): SeFa against a hand-computed factorisation, KL-ranked VAE dimensions,
traversal grids, class interpolation, and `genzoo explore`."""

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers.utils import make_image_grid
from torch import nn

from genzoo import GenPipeline
from genzoo.cli import main
from genzoo.directions import first_latent_layer
from genzoo.errors import GenzooError
from genzoo_cgan import CGANGenerator, CGANPipeline
from genzoo_gan import DCGANGenerator
from genzoo_vae import VAEGenerator, VAEPipeline


def dcgan() -> GenPipeline:
    torch.manual_seed(0)
    return GenPipeline(DCGANGenerator(latent_dim=8, base_channels=8).eval())


def cgan(**kwargs) -> CGANPipeline:
    """A tiny CGAN whose class embeddings are random, so that (unlike an untrained one) its classes look different."""
    torch.manual_seed(0)
    model = CGANGenerator(latent_dim=8, base_channels=4, num_classes=3, **kwargs).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Embedding):
                module.weight.normal_(0.0, 3.0)
            elif isinstance(module, nn.ConvTranspose2d | nn.Linear):  # N(0, 0.02) weights give near-blank images
                module.weight.mul_(20.0)
    return CGANPipeline(model)


def vae() -> VAEPipeline:
    torch.manual_seed(0)
    return VAEPipeline(VAEGenerator(latent_dim=4, base_channels=4, hidden_dim=16).eval())


def test_sefa_is_the_eigendecomposition_of_the_first_layer():
    pipe = dcgan()
    weight = pipe.model.net[0].weight.detach()  # ConvTranspose2d(latent, C, 7): (8, C, 7, 7)
    layer, matrix = first_latent_layer(pipe.model)
    assert layer is pipe.model.net[0]
    torch.testing.assert_close(matrix, weight.reshape(8, -1).T)
    found = pipe.find_directions(method="sefa", num_directions=3)
    assert found.directions.shape == (3, 8) and found.strengths.shape == (3,) and found.method == "sefa"
    eigenvalues = torch.linalg.eigvalsh(matrix.T @ matrix).flip(0)[:3]
    torch.testing.assert_close(found.strengths, eigenvalues, rtol=1e-4, atol=1e-6)
    assert torch.all(found.strengths[:-1] >= found.strengths[1:])
    torch.testing.assert_close(found.directions @ found.directions.T, torch.eye(3), atol=1e-5, rtol=0)
    # Each is an eigenvector: AᵀA n = λ n.
    torch.testing.assert_close(
        found.directions @ (matrix.T @ matrix), found.strengths[:, None] * found.directions, atol=1e-4, rtol=1e-3
    )


def test_sefa_uses_only_the_latent_columns_of_a_layer_that_also_sees_the_class():
    pipe = cgan(conditioning="concat", embedding_dim=5)
    layer, matrix = first_latent_layer(pipe.model)
    assert layer is pipe.model.project and matrix.shape == (pipe.model.project.out_features, 8)
    torch.testing.assert_close(matrix, pipe.model.project.weight[:, :8].detach())
    _, vae_matrix = first_latent_layer(vae().model)
    assert vae_matrix.shape == (16, 4)  # the decoder's first linear layer, not the encoder's


class NormalisedLatentGenerator(DCGANGenerator):
    """A generator that normalises the latent before its first layer (as StyleGAN's mapping network does)."""

    def forward(self, latents, class_labels=None):
        return super().forward(latents / latents.norm(dim=1, keepdim=True))


def test_a_generator_without_a_linear_first_layer_is_refused():
    torch.manual_seed(0)
    pipe = GenPipeline(NormalisedLatentGenerator(latent_dim=8, base_channels=8).eval())
    with pytest.raises(GenzooError, match="SeFa needs a first layer acting on the latent"):
        pipe.find_directions(method="sefa")
    assert not {"directions", "traverse"} & pipe.supported_tasks()
    with pytest.raises(GenzooError, match="Unknown direction method 'pca'"):
        dcgan().find_directions(method="pca")
    with pytest.raises(GenzooError, match="between 1 and the latent size 8"):
        dcgan().find_directions(num_directions=9)


def test_vae_dims_are_ranked_by_their_kl():
    pipe = vae()
    images = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    found = pipe.find_directions(method="dims", num_directions=4, images=images)
    mean, logvar = pipe.model.encode(images * 2 - 1)
    kl = (-0.5 * (1 + logvar - mean.pow(2) - logvar.exp())).mean(0).detach()
    assert found.dims.tolist() == kl.argsort(descending=True).tolist()
    torch.testing.assert_close(found.strengths, kl.sort(descending=True).values)
    torch.testing.assert_close(found.directions, torch.eye(4)[found.dims])
    sampled = pipe.find_directions(method="dims", num_directions=2, generator=torch.Generator().manual_seed(0))
    assert sampled.dims.shape == (2,)  # on the model's own samples when no images are given
    with pytest.raises(GenzooError, match="has none, use method 'sefa'"):
        dcgan().find_directions(method="dims")


def test_traversal_of_a_dimension_sets_it_to_each_value():
    pipe = vae()
    start = torch.tensor([[0.5, -1.0, 2.0, 0.0]])
    grid = pipe.traverse(2, values=[-1.0, 1.0], latents=start)
    expected_latents = torch.tensor([[0.5, -1.0, -1.0, 0.0], [0.5, -1.0, 1.0, 0.0]])
    expected = make_image_grid(pipe(latents=expected_latents).images, 1, 2)
    np.testing.assert_array_equal(np.asarray(grid), np.asarray(expected))
    rows = pipe.traverse(0, generator=torch.Generator().manual_seed(0), num_rows=3)
    assert rows.size == (7 * 28, 3 * 28)  # seven default values, one row per starting latent


def test_traversal_of_directions_moves_the_latent_one_row_each():
    pipe = dcgan()
    found = pipe.find_directions(num_directions=3)
    start = pipe.model.sample_latents(1, generator=torch.Generator().manual_seed(0))
    grid = pipe.traverse(found, values=[-2.0, 0.0, 2.0], latents=start)
    assert grid.size == (3 * 28, 3 * 28)
    moved = start + 2.0 * found.directions[1:2]
    expected = pipe(latents=moved, output_type="pil").images[0].convert("RGB")
    np.testing.assert_array_equal(np.asarray(grid.crop((56, 28, 84, 56))), np.asarray(expected))
    seeded = pipe.traverse(found.directions[0], generator=torch.Generator().manual_seed(1))
    assert seeded == pipe.traverse(found.directions[0], generator=torch.Generator().manual_seed(1))
    with pytest.raises(GenzooError, match="out of range"):
        pipe.traverse(8)
    with pytest.raises(GenzooError, match=r"shape \(8,\) or \(k, 8\)"):
        pipe.traverse(torch.ones(5))


def test_conditional_traversal_takes_class_labels():
    pipe = cgan(class_names=["a", "b", "c"])
    grid = pipe.traverse(pipe.find_directions(num_directions=2), class_labels="b", values=[0.0, 1.0])
    assert grid.size == (2 * 28, 2 * 28)
    with pytest.raises(ValueError, match="unconditional"):
        dcgan().traverse(0, class_labels=1)


def test_class_interpolation_walks_between_class_embeddings():
    for pipe in (cgan(), cgan(conditioning="concat")):
        latent = pipe.model.sample_latents(1, generator=torch.Generator().manual_seed(0))[0]
        path = pipe.class_interpolation(0, 2, steps=4, latents=latent, output_type="pt").images
        assert path.shape == (4, 1, 28, 28)
        ends = pipe(latents=torch.stack([latent, latent]), class_labels=[0, 2], output_type="pt").images
        torch.testing.assert_close(path[[0, -1]], ends, atol=1e-5, rtol=0)
        assert not torch.allclose(path[1], path[0])
    assert "class_interpolation" in cgan().supported_tasks()
    with pytest.raises(GenzooError, match="Class interpolation needs a conditional generator"):
        dcgan().class_interpolation(0, 1)


def test_genzoo_explore_draws_one_row_per_direction(trained_dcgan, tmp_path, capsys):
    out = tmp_path / "dirs" / "sefa.png"
    main(["explore", str(trained_dcgan), "--method", "sefa", "-k", "3", "--steps", "5", "-o", str(out)])
    printed = capsys.readouterr().out
    assert "row 0: direction 0, eigenvalue" in printed and "row 2:" in printed
    with PIL.Image.open(out) as grid:
        assert grid.size == (5 * 28, 3 * 28)
    with pytest.raises(SystemExit):
        main(["explore", str(trained_dcgan), "--method", "dims", "-o", str(tmp_path / "x.png")])
    assert "genzoo: error: method 'dims' ranks" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["explore", str(trained_dcgan), "--values", "3", "-o", str(tmp_path / "x.png")])
    assert "--values must be MIN,MAX" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_traversal_is_independent_of_the_model_mode():
    """Directions and traversals put the model in eval mode for their forward passes and restore its mode."""
    pipe = dcgan()
    pipe.model.train()
    pipe.find_directions(num_directions=2)
    assert pipe.model.training
    nn.Module.eval(pipe.model)
