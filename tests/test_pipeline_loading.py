"""`GenPipeline.from_pretrained` on local folders: dispatch by `_class_name` and the safety rules.

Every refusal must be a one-line `GenzooError` that names the problem, raised before the offending code or pickle
could run: the modules and pickles below create a marker file when they are imported or unpickled.
"""

import json
import os
import pickle
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

from genzoo import GenPipeline, GenzooError, cli
from genzoo.errors import FlatImagesWarning, UnsafePipelineError
from genzoo_gan import DCGANGenerator


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pipelines") / "tiny"
    torch.manual_seed(0)
    GenPipeline(model=DCGANGenerator(latent_dim=8, base_channels=8)).save_pretrained(folder)
    return folder


@pytest.fixture
def copy(saved, tmp_path):
    """A fresh copy of the saved pipeline to tamper with."""
    target = tmp_path / "copy"
    shutil.copytree(saved, target)
    return target


def refusal(folder: Path, error: type[Exception] = GenzooError) -> str:
    with pytest.raises(error) as caught:
        GenPipeline.from_pretrained(folder)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def edit_json(path: Path, **changes) -> None:
    values = json.loads(path.read_text())
    values.update(changes)
    path.write_text(json.dumps(values))


WEIGHTS = Path("model") / "diffusion_pytorch_model.safetensors"


def test_round_trip_is_exact_and_in_eval_mode(saved):
    first, second = GenPipeline.from_pretrained(saved), GenPipeline.from_pretrained(str(saved))
    assert type(first) is GenPipeline and not first.model.training
    images = first(batch_size=3, generator=torch.Generator().manual_seed(0), output_type="np").images
    again = second(batch_size=3, generator=torch.Generator().manual_seed(0), output_type="np").images
    np.testing.assert_array_equal(images, again)


def test_dispatches_to_the_registered_pipeline_class(installed_plugin, tmp_path):
    installed_plugin(
        "toy",
        """
        import torch
        from diffusers import ModelMixin
        from diffusers.configuration_utils import register_to_config
        from genzoo import GenPipeline, Generator, hookimpl

        class ToyGenerator(Generator):
            @register_to_config
            def __init__(self, latent_dim=4, image_size=4, num_channels=1, num_classes=3):
                super().__init__()
                self.linear = torch.nn.Linear(latent_dim, image_size * image_size * num_channels)
                self.embed = torch.nn.Embedding(num_classes, latent_dim)

            def forward(self, latents, class_labels=None):
                images = self.linear(latents + self.embed(class_labels)).tanh()
                return images.view(-1, self.config.num_channels, self.config.image_size, self.config.image_size)

        class ToyPipeline(GenPipeline):
            card_tags = ("toy-kind",)

        @hookimpl
        def register_models(register):
            register("toy", ToyGenerator, pipeline_class=ToyPipeline)
        """,
    )
    from fake_genzoo_toy import ToyGenerator, ToyPipeline

    folder = tmp_path / "toy"
    ToyPipeline(model=ToyGenerator()).save_pretrained(folder)
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == "ToyPipeline"
    pipe = GenPipeline.from_pretrained(folder)
    assert type(pipe) is ToyPipeline
    assert len(pipe(class_labels=[0, 1, 2]).images) == 3
    card = ModelCard.load(folder / "README.md")
    assert card.data.tags == ["genzoo", "toy", "toy-kind", "class-conditional-image-generation"]
    assert card.data.pipeline_tag is None
    assert "genzoo and the `fake_genzoo_toy` distribution" in card.text and "class_labels=list(range(3))" in card.text


def test_unregistered_module_is_refused_and_never_imported(copy, tmp_path, monkeypatch):
    marker = tmp_path / "imported.marker"
    site = tmp_path / "site"
    site.mkdir()
    (site / "not_a_genzoo_plugin.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Anything: pass\n")
    monkeypatch.syspath_prepend(str(site))
    edit_json(copy / "model_index.json", model=["not_a_genzoo_plugin", "Anything"])

    message = refusal(copy, UnsafePipelineError)
    assert "not_a_genzoo_plugin.Anything" in message
    assert "no installed genzoo plugin registered" in message and "'not_a_genzoo_plugin'" in message
    assert not marker.exists() and "not_a_genzoo_plugin" not in sys.modules


def test_unregistered_pipeline_class_is_refused(copy):
    edit_json(copy / "model_index.json", _class_name="StableDiffusionPipeline")
    assert "pipeline class 'StableDiffusionPipeline'" in refusal(copy, UnsafePipelineError)


@pytest.mark.parametrize("code_file", ["model/genzoo_gan.py", "model/modeling_dcgan.py", "None.py", "pipeline.py"])
def test_python_files_are_refused_and_never_run(copy, tmp_path, code_file):
    """diffusers would execute `<component>/<module>.py` or a top-level `None.py` as custom code."""
    marker = tmp_path / "ran.marker"
    (copy / code_file).write_text(f"open({str(marker)!r}, 'w').close()\n")
    message = refusal(copy, UnsafePipelineError)
    assert code_file in message and "Python files" in message
    assert not marker.exists()


class _RunsOnUnpickle:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("name", ["diffusion_pytorch_model.bin", "weights.pt", "model.ckpt", "state.pkl"])
def test_pickle_weights_are_refused_and_never_unpickled(copy, tmp_path, name):
    marker = tmp_path / "unpickled.marker"
    (copy / "model" / name).write_bytes(pickle.dumps(_RunsOnUnpickle(marker)))
    message = refusal(copy, UnsafePipelineError)
    assert name in message and "safetensors only" in message
    assert not marker.exists()
    (copy / WEIGHTS).unlink()  # pickle weights alone: still refused as pickle, not as "no weights"
    assert "pickle" in refusal(copy, UnsafePipelineError)


def test_missing_component_folder(copy):
    shutil.rmtree(copy / "model")
    assert refusal(copy) == f"{copy} is missing the component folder 'model' named in model_index.json."


def test_missing_weights(copy):
    (copy / WEIGHTS).unlink()
    assert "has no safetensors weights (diffusion_pytorch_model.safetensors)" in refusal(copy)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_safetensors(copy, damage):
    data = (copy / WEIGHTS).read_bytes()
    (copy / WEIGHTS).write_bytes(b"\x00garbage" * 20 if damage == "garbage" else data[: len(data) // 2])
    message = refusal(copy)
    assert (
        message.startswith(f"{copy / WEIGHTS} is not a valid safetensors file") and "corrupt or truncated" in message
    )


def test_weights_that_do_not_match_the_config(copy):
    edit_json(copy / "model" / "config.json", base_channels=16)
    message = refusal(copy)
    assert "do not match its config.json: net.0.weight has shape [8, 16, 7, 7] but the config needs [8, 32, 7, 7]" in (
        message
    )
    assert "more)" in message  # every layer differs; the first one is named, the rest counted


def test_missing_and_unexpected_tensors(copy):
    """diffusers would load a checkpoint with a missing tensor and leave it randomly initialised; genzoo refuses."""
    weights = load_file(copy / WEIGHTS)
    weights.pop("net.0.weight")
    save_file(weights, copy / WEIGHTS, metadata={"format": "pt"})
    assert "net.0.weight is missing" in refusal(copy)
    weights = load_file(copy / WEIGHTS)
    weights["net.0.weight"], weights["extra.bias"] = torch.zeros(8, 16, 7, 7), torch.zeros(3)
    save_file(weights, copy / WEIGHTS, metadata={"format": "pt"})
    assert "extra.bias is not a parameter of DCGANGenerator" in refusal(copy)


def test_invalid_config(copy):
    edit_json(copy / "model" / "config.json", image_size=30)
    assert "config.json does not describe a valid DCGANGenerator: image_size 30 is not supported" in refusal(copy)
    (copy / "model" / "config.json").write_text("{not json")
    assert "config.json is not valid JSON" in refusal(copy)


def test_sharded_weights_load(saved, tmp_path):
    folder = tmp_path / "sharded"
    GenPipeline.from_pretrained(saved).save_pretrained(folder, max_shard_size="10KB", model_card=False)
    assert len(list((folder / "model").glob("*.safetensors"))) > 1
    assert (folder / "model" / "diffusion_pytorch_model.safetensors.index.json").is_file()
    images = GenPipeline.from_pretrained(folder)(generator=torch.Generator().manual_seed(0), output_type="np").images
    expected = GenPipeline.from_pretrained(saved)(generator=torch.Generator().manual_seed(0), output_type="np").images
    np.testing.assert_array_equal(images, expected)
    next((folder / "model").glob("*-00001-of-*.safetensors")).unlink()
    assert "is missing (listed in the shard index)" in refusal(folder)


def test_weight_variants(saved, tmp_path):
    folder = tmp_path / "variant"
    GenPipeline.from_pretrained(saved).save_pretrained(folder, variant="ema", model_card=False)
    assert [p.name for p in (folder / "model").glob("*.safetensors")] == ["diffusion_pytorch_model.ema.safetensors"]
    pipe = GenPipeline.from_pretrained(folder, variant="ema")
    expected = GenPipeline.from_pretrained(saved)(generator=torch.Generator().manual_seed(0), output_type="np").images
    np.testing.assert_array_equal(pipe(generator=torch.Generator().manual_seed(0), output_type="np").images, expected)
    assert "has no safetensors weights (diffusion_pytorch_model.safetensors); it has 'ema' weights, pass variant=" in (
        refusal(folder)
    )


class UnregisteredGenerator(DCGANGenerator):
    """A model under development that no plugin registered yet."""


def test_an_unregistered_model_saves_without_a_card_but_does_not_load(tmp_path):
    folder = tmp_path / "experimental"
    with pytest.warns(UserWarning, match="No model card written"):
        GenPipeline(model=UnregisteredGenerator(latent_dim=8, base_channels=8)).save_pretrained(folder)
    assert (folder / "model" / "diffusion_pytorch_model.safetensors").is_file() and not (folder / "README.md").exists()
    assert "UnregisteredGenerator" in refusal(folder, UnsafePipelineError)


def test_not_a_pipeline(tmp_path):
    assert "has no model_index.json" in refusal(tmp_path)
    (tmp_path / "model_index.json").write_text("[1, 2")
    assert "is not valid JSON" in refusal(tmp_path)
    with pytest.raises(GenzooError, match="neither a pipeline folder nor a Hub repo id"):
        GenPipeline.from_pretrained(tmp_path / "does" / "not" / "exist")
    with pytest.raises(GenzooError, match="does not accept trust_remote_code="):
        GenPipeline.from_pretrained(tmp_path, trust_remote_code=True)
    with pytest.raises(GenzooError, match="safetensors weights only; drop use_safetensors=False"):
        GenPipeline.from_pretrained(tmp_path, use_safetensors=False)


def test_use_safetensors_true_is_accepted(saved):
    pipe = GenPipeline.from_pretrained(saved, use_safetensors=True)
    assert isinstance(pipe.model, DCGANGenerator)


def test_cli_prints_refusals_as_one_line(copy, tmp_path, capsys):
    (copy / WEIGHTS).write_bytes(b"broken")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sample", str(copy), "-n", "1", "-o", str(tmp_path / "grid.png")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("genzoo: error: ") and "not a valid safetensors file" in err and err.count("\n") == 1


# --- component names are folder names ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../outside_weights", "/etc", "../../../../etc", "model/../../x", "a b", "model."])
def test_component_names_that_are_not_identifiers_are_refused_before_reading(copy, tmp_path, name, monkeypatch):
    # A complete pipeline outside the folder, where the name points: it must never be read.
    outside = copy.parent / "outside_weights"
    shutil.copytree(copy / "model", outside)
    (copy / "model_index.json").write_text(
        json.dumps({"_class_name": "GenPipeline", name: ["genzoo_gan.modeling_dcgan", "DCGANGenerator"]})
    )
    opened = []
    real_open = open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    message = refusal(copy, UnsafePipelineError)
    assert repr(name) in message and "plain identifier" in message
    assert not any("outside_weights" in path or path.startswith("/etc") for path in opened), opened


def test_an_index_without_the_component_the_pipeline_needs_is_refused_in_genzoos_words(copy):
    shutil.copytree(copy / "model", copy / "vae")
    (copy / "model_index.json").write_text(
        json.dumps({"_class_name": "GenPipeline", "vae": ["genzoo_gan.modeling_dcgan", "DCGANGenerator"]})
    )
    message = refusal(copy)
    assert "'vae'" in message and "needs 'model'" in message and "expected" not in message


# --- non-finite weights -----------------------------------------------------------------------------------------
def test_nan_weights_load_with_one_warning_and_the_cli_says_so(copy, tmp_path, capsys):
    weights = load_file(copy / WEIGHTS)
    name = next(key for key, value in weights.items() if value.is_floating_point())
    weights[name].view(-1)[0] = float("nan")
    save_file(weights, copy / WEIGHTS)
    with pytest.warns(UserWarning, match="NaN or Inf") as caught:
        GenPipeline.from_pretrained(copy)
    messages = [str(w.message) for w in caught if "NaN or Inf" in str(w.message)]
    assert len(messages) == 1 and "\n" not in messages[0] and name in messages[0]

    cli.main(["sample", str(copy), "-n", "2", "-o", str(tmp_path / "grid.png")])
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("genzoo: warning:")]
    assert len(warnings) == 1 and "NaN or Inf" in warnings[0]


def test_finite_weights_load_without_a_warning(saved, recwarn):
    GenPipeline.from_pretrained(saved)
    assert not [w for w in recwarn if "NaN" in str(w.message)]


def test_a_collapsed_pipeline_warns_once_that_its_images_are_flat_and_the_cli_says_so(copy, saved, tmp_path, capsys):
    # Every weight 0: the generator draws one grey for every latent, as a run that saturated leaves it.
    save_file({key: torch.zeros_like(value) for key, value in load_file(copy / WEIGHTS).items()}, copy / WEIGHTS)
    pipe = GenPipeline.from_pretrained(copy)
    with pytest.warns(FlatImagesWarning, match="All 4 images drawn are one flat colour") as caught:
        pipe(batch_size=4)
        pipe(batch_size=4)
    flat = [w for w in caught if issubclass(w.category, FlatImagesWarning)]
    assert len(flat) == 1 and "\n" not in str(flat[0].message), "one line, once per pipeline"

    cli.main(["sample", str(copy), "-n", "3", "-o", str(tmp_path / "grid.png")])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("genzoo: warning:")]
    assert len(lines) == 1 and "one flat colour" in lines[0] and "objective_args.lr" in lines[0]

    with warnings.catch_warnings():
        warnings.simplefilter("error", FlatImagesWarning)
        GenPipeline.from_pretrained(saved)(batch_size=4)  # a trained (or untrained) model's images vary


# --- the size of the weights ------------------------------------------------------------------------------------
def write_sparse_safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    """A safetensors file whose header describes `shapes` (float32) and whose data is a hole: tiny on disk."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as file:
        file.write(len(encoded).to_bytes(8, "little") + encoded)
        file.truncate(8 + len(encoded) + offset)


def test_weights_larger_than_the_cap_are_refused_before_allocating(copy, monkeypatch):
    """A config that agrees with its (sparse) weights: 10 million latent dims would map 31 GB."""
    latent_dim = 10_000_000
    edit_json(copy / "model" / "config.json", latent_dim=latent_dim)
    with torch.device("meta"):
        shapes = {
            k: list(v.shape) for k, v in DCGANGenerator(latent_dim=latent_dim, base_channels=8).state_dict().items()
        }
    write_sparse_safetensors(copy / WEIGHTS, shapes)
    assert (copy / WEIGHTS).stat().st_blocks * 512 < 2**20  # a hole on disk
    monkeypatch.delenv("GENZOO_MAX_WEIGHTS_GB", raising=False)
    message = refusal(copy)
    assert "GB" in message and "GENZOO_MAX_WEIGHTS_GB" in message
    monkeypatch.setenv("GENZOO_MAX_WEIGHTS_GB", "0.000001")  # the cap applies to small pipelines too
    assert "GENZOO_MAX_WEIGHTS_GB=0.000001" in refusal(copy.parent / "copy")


def test_the_weights_cap_totals_every_component_of_a_pipeline(copy, monkeypatch):
    from genzoo.folder import read_pipeline_folder

    checked = read_pipeline_folder(copy)
    shutil.copytree(copy / "model", copy / "twin")  # a second component of the same size
    checked.components["twin"] = checked.components["model"]
    size = (copy / WEIGHTS).stat().st_size
    monkeypatch.setenv("GENZOO_MAX_WEIGHTS_GB", str(1.5 * size / 2**30))  # each fits, both together do not
    with pytest.raises(GenzooError, match=r"The weights in .*copy take .*more than GENZOO_MAX_WEIGHTS_GB"):
        checked.check_weights()
    monkeypatch.setenv("GENZOO_MAX_WEIGHTS_GB", str(2.5 * size / 2**30))
    checked.check_weights()


def test_the_weights_cap_can_be_raised(saved, monkeypatch):
    monkeypatch.setenv("GENZOO_MAX_WEIGHTS_GB", "0.000001")
    with pytest.raises(GenzooError, match="take"):
        GenPipeline.from_pretrained(saved)
    monkeypatch.setenv("GENZOO_MAX_WEIGHTS_GB", "1")
    GenPipeline.from_pretrained(saved)
    monkeypatch.setenv("GENZOO_MAX_WEIGHTS_GB", "lots")
    with pytest.raises(GenzooError, match="must be a number of GB"):
        GenPipeline.from_pretrained(saved)
