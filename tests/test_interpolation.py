"""Latent interpolation: slerp itself, `GenPipeline.interpolate`, `interpolation_grid` and `genzoo interpolate`."""

import itertools

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers.configuration_utils import register_to_config

from genzoo import Generator, GenPipeline
from genzoo.cli import main
from genzoo.modeling import slerp
from genzoo_gan import DCGANGenerator


def _angle(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return torch.arccos((a @ b / (a.norm() * b.norm())).clamp(-1, 1)).item()


# --- slerp --------------------------------------------------------------------------------------------------------
def test_slerp_end_points_are_exact():
    start, end = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(slerp(start, end, 0.0), start)
    torch.testing.assert_close(slerp(start, end, 1.0), end, rtol=0, atol=1e-6)
    assert slerp(start, end, 0.3).dtype == start.dtype and slerp(start, end, 0.3).shape == start.shape


def test_slerp_turns_at_constant_angular_speed_in_the_plane_of_its_end_points():
    start, end = torch.randn(2, 100, generator=torch.Generator().manual_seed(1))
    omega = _angle(start, end)
    path = [slerp(start, end, t) for t in np.linspace(0, 1, 11)]
    for t, point in zip(np.linspace(0, 1, 11), path, strict=True):
        assert _angle(start, point) == pytest.approx(t * omega, abs=1e-5)
        assert _angle(point, end) == pytest.approx((1 - t) * omega, abs=1e-5)
    steps = [_angle(a, b) for a, b in itertools.pairwise(path)]
    assert max(steps) - min(steps) < 1e-5
    # Every point is a combination of the end points: the path stays in their plane.
    basis = torch.stack([start, end]).double().T
    for point in path:
        coefficients = torch.linalg.lstsq(basis, point.double()[:, None]).solution
        torch.testing.assert_close((basis @ coefficients).flatten(), point.double(), rtol=0, atol=1e-5)


def test_slerp_keeps_the_norm_that_a_straight_line_loses():
    """Between latents of equal norm slerp keeps the norm; the straight line dips to |p|·cos(Ω/2) at its middle,
    into the low-density centre of a Gaussian."""
    generator = torch.Generator().manual_seed(2)
    start, end = torch.randn(2, 512, generator=generator)
    end = end / end.norm() * start.norm()
    omega = _angle(start, end)
    for t in np.linspace(0, 1, 9):
        assert slerp(start, end, t).norm().item() == pytest.approx(start.norm().item(), rel=1e-5)
    middle = (start + end) / 2
    assert middle.norm().item() == pytest.approx(start.norm().item() * np.cos(omega / 2), rel=1e-5)
    assert middle.norm() < 0.8 * start.norm()  # nearly orthogonal high-dimensional latents: ~0.71
    # Unequal norms: the norm moves linearly from one to the other, at the same constant angular speed.
    long_end = end * 2
    for t in np.linspace(0, 1, 9):
        point = slerp(start, long_end, t)
        expected_norm = (1 - t) * start.norm().item() + t * long_end.norm().item()
        assert point.norm().item() == pytest.approx(expected_norm, rel=1e-5)
        assert _angle(start, point) == pytest.approx(t * omega, abs=1e-5)


def test_slerp_of_parallel_latents_is_the_straight_line():
    start = torch.randn(16, generator=torch.Generator().manual_seed(3))
    end = 3 * start
    for t in (0.0, 0.25, 0.5, 1.0):
        out = slerp(start, end, t)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, (1 - t) * start + t * end, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(slerp(start, start, 0.5), start)


def test_slerp_of_antiparallel_latents_goes_round_not_through_zero():
    start = torch.randn(32, generator=torch.Generator().manual_seed(4))
    end = -start
    path = [slerp(start, end, t) for t in np.linspace(0, 1, 9)]
    assert all(torch.isfinite(p).all() for p in path)
    torch.testing.assert_close(path[0], start)
    torch.testing.assert_close(path[-1], end, rtol=0, atol=1e-6)
    for t, point in zip(np.linspace(0, 1, 9), path, strict=True):
        assert point.norm().item() == pytest.approx(start.norm().item(), rel=1e-5)
        assert _angle(start, point) == pytest.approx(t * np.pi, abs=1e-4)
    # Deterministic: the same end points always take the same way round.
    torch.testing.assert_close(slerp(start, end, 0.3), slerp(start.clone(), end.clone(), 0.3))


def test_slerp_degenerate_inputs_stay_finite():
    zero, point = torch.zeros(8), torch.randn(8, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(slerp(zero, point, 0.5), 0.5 * point)
    one, minus_one = torch.tensor([2.0]), torch.tensor([-1.0])  # one-element latents: only the line remains
    torch.testing.assert_close(slerp(one, minus_one, 0.5), torch.tensor([0.5]))


def test_slerp_works_on_multi_dimensional_latents():
    start, end = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(6))
    out = slerp(start, end, 0.5)
    assert out.shape == (4, 3, 3)
    assert _angle(start, out) == pytest.approx(_angle(out, end), abs=1e-5)


def test_interpolate_latents_stacks_the_path():
    model = DCGANGenerator(latent_dim=8, base_channels=8)
    start, end = model.sample_latents(2, generator=torch.Generator().manual_seed(0))
    path = model.interpolate_latents(start, end, 5)
    assert path.shape == (5, 8)
    for t, point in zip(np.linspace(0, 1, 5), path, strict=True):
        torch.testing.assert_close(point, slerp(start, end, float(t)))


# --- the pipeline -------------------------------------------------------------------------------------------------
@pytest.fixture
def pipe():
    torch.manual_seed(0)
    return GenPipeline(model=DCGANGenerator(latent_dim=8, image_size=28, base_channels=8).eval())


def test_interpolate_returns_the_images_along_the_path(pipe):
    start, end = pipe.model.sample_latents(2, generator=torch.Generator().manual_seed(0))
    images = pipe.interpolate(start, end, steps=5).images
    assert len(images) == 5 and all(isinstance(image, PIL.Image.Image) for image in images)
    expected = pipe(latents=pipe.model.interpolate_latents(start, end, 5), output_type="np").images
    np.testing.assert_array_equal(pipe.interpolate(start, end, steps=5, output_type="np").images, expected)
    (tensors,) = pipe.interpolate(start, end, steps=3, output_type="pt", return_dict=False)
    assert tensors.shape == (3, 1, 28, 28)


def test_interpolate_draws_missing_end_points_from_the_generator(pipe):
    images = pipe.interpolate(steps=4, generator=torch.Generator().manual_seed(7), output_type="np").images
    generator = torch.Generator().manual_seed(7)  # start, then end, one latent at a time
    start, end = (pipe.model.sample_latents(1, generator=generator)[0] for _ in range(2))
    ends = pipe(latents=torch.stack([start, end]), output_type="np").images
    np.testing.assert_allclose(images[[0, -1]], ends, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 1}, "at least 2"),
        ({"start": torch.zeros(1, 8)}, r"`start` must be one latent of shape \(8,\)"),
        ({"end": torch.zeros(9)}, "`end` must be one latent"),
        ({"class_labels": 3}, "unconditional"),
    ],
)
def test_interpolate_refuses_bad_input(pipe, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipe.interpolate(**kwargs)


def test_interpolation_grid_puts_one_path_per_row(pipe):
    grid = pipe.interpolation_grid(rows=3, steps=4, generator=torch.Generator().manual_seed(0))
    assert grid.size == (4 * 28, 3 * 28)
    # Row r is the r-th interpolation drawn from the same generator.
    generator = torch.Generator().manual_seed(0)
    rows = [pipe.interpolate(steps=4, generator=generator, output_type="np").images for _ in range(3)]
    cells = np.asarray(grid.convert("L"), dtype=np.float64).reshape(3, 28, 4, 28).transpose(0, 2, 1, 3)
    expected = np.round(np.stack(rows)[..., 0] * 255)
    np.testing.assert_allclose(cells, expected, atol=1)  # grid pixels are rounded to 8 bits
    again = pipe.interpolation_grid(rows=3, steps=4, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(np.asarray(grid), np.asarray(again))
    with pytest.raises(ValueError, match="rows"):
        pipe.interpolation_grid(rows=0)


def test_genzoo_interpolate_writes_a_grid(pipe, tmp_path, capsys):
    pipe.save_pretrained(tmp_path / "pipe")
    output = tmp_path / "interp.png"
    main(["interpolate", str(tmp_path / "pipe"), "--rows", "2", "--steps", "5", "--seed", "3", "-o", str(output)])
    assert "Saved 2 interpolations of 5 images" in capsys.readouterr().out
    with PIL.Image.open(output) as image:
        saved = np.asarray(image.convert("RGB"))
    expected = pipe.interpolation_grid(rows=2, steps=5, generator=torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(saved, np.asarray(expected.convert("RGB")))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--steps", "1"], "steps"), (["--rows", "0"], "rows"), (["--class-label", "2"], "unconditional")],
)
def test_genzoo_interpolate_bad_input_is_one_line(pipe, tmp_path, capsys, arguments, message):
    pipe.save_pretrained(tmp_path / "pipe")
    with pytest.raises(SystemExit) as excinfo:
        main(["interpolate", str(tmp_path / "pipe"), "-o", str(tmp_path / "x.png"), *arguments])
    assert excinfo.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]  # earlier lines: loading progress bars
    assert error.startswith("genzoo: error:") and message in error


class ToyConditionalGenerator(Generator):
    """A tiny class-conditional generator: tanh(linear(latent) + class embedding)."""

    @register_to_config
    def __init__(self, latent_dim: int = 4, image_size: int = 4, num_channels: int = 1, num_classes: int = 3):
        super().__init__()
        self.linear = torch.nn.Linear(latent_dim, num_channels * image_size * image_size)
        self.embedding = torch.nn.Embedding(num_classes, num_channels * image_size * image_size)

    def forward(self, latents, class_labels=None):
        c, s = self.config.num_channels, self.config.image_size
        return torch.tanh(self.linear(latents) + 3 * self.embedding(class_labels)).reshape(-1, c, s, s)


@pytest.fixture
def conditional_pipe():
    torch.manual_seed(0)
    return GenPipeline(model=ToyConditionalGenerator().eval())


def test_conditional_interpolation_keeps_one_class_per_path(conditional_pipe):
    pipe = conditional_pipe
    start, end = pipe.model.sample_latents(2, generator=torch.Generator().manual_seed(0))
    path = pipe.interpolate(start, end, steps=4, class_labels=2, output_type="np").images
    latents = pipe.model.interpolate_latents(start, end, 4)
    np.testing.assert_array_equal(path, pipe(latents=latents, class_labels=[2] * 4, output_type="np").images)
    # Without a class, one is drawn from the generator for the whole path (not spread over the path).
    drawn = pipe.interpolate(start, end, steps=4, generator=torch.Generator().manual_seed(5), output_type="np")
    matches = [
        np.array_equal(drawn.images, pipe(latents=latents, class_labels=[c] * 4, output_type="np").images)
        for c in range(3)
    ]
    assert sum(matches) == 1
    with pytest.raises(ValueError, match="out of range"):
        pipe.interpolate(steps=3, class_labels=3)


def test_conditional_grid_rows_spread_over_classes_or_follow_the_labels(conditional_pipe):
    pipe = conditional_pipe

    def rows_of(grid, rows, steps):
        return np.asarray(grid.convert("L")).reshape(rows, 4, steps, 4).transpose(0, 2, 1, 3)

    def expected_rows(labels, steps, seed):
        generator = torch.Generator().manual_seed(seed)
        out = []
        for label in labels:
            images = pipe.interpolate(steps=steps, generator=generator, class_labels=label, output_type="pil").images
            out.append(np.stack([np.asarray(image.convert("L")) for image in images]))
        return np.stack(out)

    spread = pipe.interpolation_grid(rows=3, steps=2, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(rows_of(spread, 3, 2), expected_rows([0, 1, 2], 2, 0))
    chosen = pipe.interpolation_grid(rows=2, steps=3, generator=torch.Generator().manual_seed(1), class_labels=[2, 0])
    np.testing.assert_array_equal(rows_of(chosen, 2, 3), expected_rows([2, 0], 3, 1))
    single = pipe.interpolation_grid(rows=2, steps=3, generator=torch.Generator().manual_seed(1), class_labels=1)
    np.testing.assert_array_equal(rows_of(single, 2, 3), expected_rows([1, 1], 3, 1))
    with pytest.raises(ValueError, match="one per row"):
        pipe.interpolation_grid(rows=2, class_labels=[0, 1, 2])
