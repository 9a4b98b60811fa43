"""The plugin tutorial's non-adversarial family (docs/writing-a-plugin.md, "A non-adversarial family, end to end")
works as printed: its code blocks, installed as a plugin, train, save and sample."""

import re
from pathlib import Path

import torch

from genzoo import GenPipeline
from genzoo.config import TrainConfig
from genzoo.registry import get_model
from genzoo.training import train

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "writing-a-plugin.md"


def _section_code() -> str:
    section = TUTORIAL.read_text().split("## A non-adversarial family, end to end", 1)[1].split("\n## ", 1)[0]
    return "\n\n".join(re.findall(r"```python\n(.*?)```", section, re.DOTALL))


def test_the_tutorial_vae_trains_saves_and_samples(installed_plugin, tmp_path):
    installed_plugin("mlp-vae", _section_code())
    registration = get_model("mlp-vae")
    assert registration.default_objective == "mlp-elbo" and registration.discriminator_class is None
    values = {
        "model": "mlp-vae", "output_dir": str(tmp_path / "run"), "model_args": {"hidden_dim": 32, "latent_dim": 4},
        "objective_args": {"beta": 2.0}, "max_steps": 3, "batch_size": 8, "sample_every": 0, "checkpoint_every": 0,
        "num_sample_images": 4,
    }  # fmt: skip
    folder = train(TrainConfig.from_dict(values))
    pipe = GenPipeline.from_pretrained(folder)
    images = pipe(batch_size=2, generator=torch.Generator().manual_seed(0), output_type="pt").images
    assert images.shape == (2, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    logs = (folder / "logs").rglob("*.jsonl")
    assert any('"kl"' in path.read_text() for path in logs)
