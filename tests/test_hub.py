"""Publishing to and loading from the Hugging Face Hub, offline.

- Loading by repo id runs the real huggingface_hub code against a cache pre-filled in its real layout
  (`models--org--name/{refs,snapshots,blobs}` with relative symlinks), under `HF_HUB_OFFLINE=1`.
- A real HTTP download runs against olah serving a local git repo on loopback, when olah is installed.
- Publishing is tested at the `HfApi` boundary (no server here accepts uploads): the exact commit that would be
  made, file by file, and a card that `ModelCard.load` parses.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from huggingface_hub import CommitInfo, ModelCard, constants

from genzoo import GenPipeline, GenzooError, cli
from genzoo.errors import UnsafePipelineError
from genzoo.folder import PIPELINE_IGNORE_PATTERNS, pipeline_file_patterns
from genzoo.hub import build_model_card, publishable_files, push_folder
from genzoo_gan import DCGANGenerator

TINY_TRAIN_ARGS = [
    "--set", "model_args.latent_dim=8",
    "--set", "model_args.base_channels=8",
    "--set", "objective_args.discriminator.base_channels=8",
    "--batch-size", "8",
    "--sample-every", "2",
    "--checkpoint-every", "0",
    "--set", "num_sample_images=4",
]  # fmt: skip
PUBLISHED = {"model_index.json", "model/config.json", "model/diffusion_pytorch_model.safetensors", "README.md"}


# ---------------------------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory) -> Path:
    """A folder written by `genzoo train dcgan --max-steps 5` (a tiny DCGAN, so it takes about a second)."""
    output_dir = tmp_path_factory.mktemp("train") / "dcgan"
    cli.main(["train", "dcgan", "--max-steps", "5", "--output-dir", str(output_dir), *TINY_TRAIN_ARGS])
    return output_dir


def save_tiny_pipeline(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    GenPipeline(model=DCGANGenerator(latent_dim=8, base_channels=8)).save_pretrained(folder)
    return folder


def sample(pipe: GenPipeline, seed: int = 0) -> np.ndarray:
    return pipe(batch_size=4, generator=torch.Generator().manual_seed(seed), output_type="np").images


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fill_hub_cache(cache_dir: Path, repo_id: str, files: dict[str, bytes], revision: str = "main") -> Path:
    """Place files in a huggingface_hub cache exactly as a download would: content-addressed blobs (git blob sha1
    for regular files, sha256 for LFS files such as weights and images), a snapshot folder per commit whose files
    are relative symlinks to the blobs, and `refs/<revision>` holding the commit hash."""
    repo_folder = cache_dir / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repr(sorted((path, _git_blob_sha1(data)) for path, data in files.items())).encode())
    snapshot = repo_folder / "snapshots" / commit.hexdigest()
    for path, data in files.items():
        lfs = path.endswith((".safetensors", ".png"))
        blob = repo_folder / "blobs" / (hashlib.sha256(data).hexdigest() if lfs else _git_blob_sha1(data))
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo_folder / "refs").mkdir(exist_ok=True)
    (repo_folder / "refs" / revision).write_text(commit.hexdigest())
    return snapshot


def hub_repo_files(folder: Path) -> dict[str, bytes]:
    """What a Hub repo published from `folder` holds: the publishable files plus the card."""
    files = {path: local.read_bytes() for path, local in publishable_files(folder).items()}
    files["README.md"] = (folder / "README.md").read_bytes()
    return files


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty default huggingface_hub cache for this test."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


class FakeHfApi:
    """Records what genzoo asks the Hub for, at the `HfApi` boundary: no server here accepts uploads."""

    calls: list[tuple[str, dict]] = []

    def __init__(self, token=None, **kwargs):
        self.calls.append(("init", {"token": token}))

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

        class RepoUrl:
            pass

        url = RepoUrl()
        url.repo_id = repo_id if "/" in repo_id else f"me/{repo_id}"
        return url

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def create_commit(self, repo_id, operations, **kwargs):
        uploads = {}
        for op in operations:
            source = op.path_or_fileobj
            uploads[op.path_in_repo] = source if isinstance(source, bytes) else Path(source).read_bytes()
        self.calls.append(("create_commit", {"repo_id": repo_id, "uploads": uploads, **kwargs}))
        return CommitInfo(
            commit_url=f"https://huggingface.co/{repo_id}/commit/{'a' * 40}",
            commit_message=kwargs.get("commit_message"),
            commit_description="",
            oid="a" * 40,
            pr_url=None,
        )

    @classmethod
    def call(cls, name: str) -> dict:
        matching = [kwargs for call, kwargs in cls.calls if call == name]
        assert len(matching) == 1, f"expected one {name} call, got {len(matching)}"
        return matching[0]


@pytest.fixture
def fake_hub(monkeypatch) -> type[FakeHfApi]:
    FakeHfApi.calls = []
    monkeypatch.setattr("genzoo.hub.HfApi", FakeHfApi)
    return FakeHfApi


def card_from_upload(uploads: dict[str, bytes], tmp_path: Path) -> ModelCard:
    path = tmp_path / "uploaded-README.md"
    path.write_bytes(uploads["README.md"])
    return ModelCard.load(path)


# ---------------------------------------------------------------------------------------------------------------
# Loading by repo id from a pre-filled cache


def test_trained_pipeline_loads_by_repo_id_offline_with_the_same_images(trained_dir, hub_cache):
    assert os.environ["HF_HUB_OFFLINE"] == "1" and constants.HF_HUB_OFFLINE
    snapshot = fill_hub_cache(hub_cache, "org/dcgan-test", hub_repo_files(trained_dir))

    pipe = GenPipeline.from_pretrained("org/dcgan-test")
    local = GenPipeline.from_pretrained(trained_dir)

    local_card = ModelCard.load(trained_dir / "README.md")  # written by the trainer's save_pretrained
    assert local_card.data.library_name == "genzoo" and local_card.data.datasets == ["ylecun/mnist"]
    assert "| steps | 5 |" in local_card.text and "![Samples from this model](samples.png)" in local_card.text
    assert Path(pipe.name_or_path) == snapshot
    assert (snapshot / "model" / "diffusion_pytorch_model.safetensors").is_symlink()
    np.testing.assert_array_equal(sample(pipe, seed=3), sample(local, seed=3))
    assert not np.array_equal(sample(pipe, seed=3), sample(pipe, seed=4))


def test_local_files_only_resolves_from_the_cache_without_offline_mode(trained_dir, hub_cache, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    fill_hub_cache(hub_cache, "org/dcgan-test", hub_repo_files(trained_dir))
    pipe = GenPipeline.from_pretrained("org/dcgan-test", local_files_only=True)
    np.testing.assert_array_equal(sample(pipe), sample(GenPipeline.from_pretrained(trained_dir)))


def test_revision_and_cache_dir_are_honoured(tmp_path, hub_cache):
    first, second = save_tiny_pipeline(tmp_path / "a", seed=0), save_tiny_pipeline(tmp_path / "b", seed=1)
    elsewhere = tmp_path / "other-cache"
    fill_hub_cache(elsewhere, "org/tiny", hub_repo_files(first))
    v2 = fill_hub_cache(elsewhere, "org/tiny", hub_repo_files(second), revision="v2")

    main_images = sample(GenPipeline.from_pretrained("org/tiny", cache_dir=elsewhere))
    v2_images = sample(GenPipeline.from_pretrained("org/tiny", cache_dir=elsewhere, revision="v2"))
    by_commit = sample(GenPipeline.from_pretrained("org/tiny", cache_dir=elsewhere, revision=v2.name))

    np.testing.assert_array_equal(main_images, sample(GenPipeline.from_pretrained(first)))
    np.testing.assert_array_equal(v2_images, sample(GenPipeline.from_pretrained(second)))
    np.testing.assert_array_equal(by_commit, v2_images)
    assert not np.array_equal(main_images, v2_images)

    no_such_revision = r"no local folder 'org/tiny'; as a Hub repo \(revision 'v3'\).*not in the Hugging Face cache"
    with pytest.raises(GenzooError, match=no_such_revision):
        GenPipeline.from_pretrained("org/tiny", cache_dir=elsewhere, revision="v3")
    with pytest.raises(GenzooError, match="not in the Hugging Face cache"):  # not in the default cache
        GenPipeline.from_pretrained("org/tiny")


def test_cli_sample_accepts_a_repo_id(trained_dir, hub_cache, tmp_path):
    fill_hub_cache(hub_cache, "org/dcgan-test", hub_repo_files(trained_dir))
    from_hub, from_folder = tmp_path / "hub.png", tmp_path / "folder.png"
    cli.main(["sample", "org/dcgan-test", "--revision", "main", "-n", "4", "--seed", "1", "-o", str(from_hub)])
    cli.main(["sample", str(trained_dir), "-n", "4", "--seed", "1", "-o", str(from_folder)])
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(from_hub)), np.asarray(Image.open(from_folder)))


def test_unregistered_module_in_a_cached_repo_is_refused_unimported(tmp_path, hub_cache, monkeypatch, capsys):
    """A repo whose model_index.json names a module no plugin registered: refused before the import, which would
    otherwise run the module's code (here: create a marker file)."""
    marker = tmp_path / "imported.marker"
    site = tmp_path / "site"
    site.mkdir()
    (site / "evil_genzoo_model.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass EvilGenerator: pass\n")
    monkeypatch.syspath_prepend(str(site))
    files = hub_repo_files(save_tiny_pipeline(tmp_path / "tiny"))
    index = json.loads(files["model_index.json"])
    index["model"] = ["evil_genzoo_model", "EvilGenerator"]
    files["model_index.json"] = json.dumps(index).encode()
    fill_hub_cache(hub_cache, "org/evil", files)

    with pytest.raises(UnsafePipelineError) as caught:
        GenPipeline.from_pretrained("org/evil")
    message = str(caught.value)
    assert "evil_genzoo_model.EvilGenerator" in message and "install the plugin" in message and "\n" not in message
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sample", "org/evil", "-n", "1", "-o", str(tmp_path / "x.png")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("genzoo: error:") and "evil_genzoo_model" in err and len(err.splitlines()) == 1
    assert not marker.exists() and "evil_genzoo_model" not in sys.modules
    assert not (tmp_path / "x.png").exists()


def test_download_patterns_exclude_code_pickles_and_training_leftovers():
    from huggingface_hub.utils import filter_repo_objects

    wanted = [
        "model_index.json", "README.md", "run_config.yaml", "samples.png", "eval_results.json", "model/config.json",
        "reconstructions.png",
        "model/diffusion_pytorch_model.safetensors", "model/diffusion_pytorch_model.safetensors.index.json",
        "model/diffusion_pytorch_model-00001-of-00002.safetensors",
    ]  # fmt: skip
    unwanted = [
        "model/modeling_evil.py", "None.py", "model/diffusion_pytorch_model.bin", "model/weights.pt", "other.md",
        "checkpoints/step_000005/model.safetensors", "checkpoints/step_000005/optimizer.bin",
        "samples/step_000002.png", "logs/metrics.jsonl", "logs/config.json", "extra/config.json",
    ]  # fmt: skip
    kept = filter_repo_objects(
        [*wanted, *unwanted],
        allow_patterns=pipeline_file_patterns(["model"]),
        ignore_patterns=PIPELINE_IGNORE_PATTERNS,
    )
    assert sorted(kept) == sorted(wanted)


def test_a_download_fetches_exactly_what_a_push_uploads(trained_dir):
    """One file list for both directions: the files of a trained folder that a push uploads are the ones the
    download patterns fetch (the card aside, which a push rebuilds)."""
    from huggingface_hub.utils import filter_repo_objects

    local = sorted(p.relative_to(trained_dir).as_posix() for p in trained_dir.rglob("*") if p.is_file())
    fetched = filter_repo_objects(
        local, allow_patterns=pipeline_file_patterns(["model"]), ignore_patterns=PIPELINE_IGNORE_PATTERNS
    )
    assert set(fetched) - {"README.md"} == set(publishable_files(trained_dir))
    assert any(name.startswith("samples/") for name in local)  # intermediate grids exist and stay behind


# ---------------------------------------------------------------------------------------------------------------
# Real HTTP on loopback: olah serving a local git repo, read-only and offline


def _olah_cli() -> str | None:
    configured = os.environ.get("GENZOO_TEST_OLAH")
    if configured:
        return configured
    beside = Path(sys.executable).parent / "olah-cli"
    return str(beside) if beside.exists() else shutil.which("olah-cli")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def olah_server(tmp_path):
    """Start olah on a free loopback port, serving git repos under `mirrors/models/<org>/<name>` with no upstream;
    yields (base URL, mirrors folder)."""
    executable = _olah_cli()
    if executable is None:
        pytest.skip("olah is not installed (pip install olah, or set GENZOO_TEST_OLAH to an olah-cli executable)")
    if shutil.which("git") is None:
        pytest.skip("git is needed to build the repo olah serves")
    mirrors, port = tmp_path / "mirrors", _free_port()
    (mirrors / "models").mkdir(parents=True)
    config = tmp_path / "olah.toml"
    config.write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {port}\nrepos-path = "{tmp_path / "olah-repos"}"\n'
        f'mirrors-path = ["{mirrors}"]\n\n[accessibility]\noffline = true\n'
    )
    log = (tmp_path / "olah.log").open("w")
    process = subprocess.Popen([executable, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"olah did not start: {(tmp_path / 'olah.log').read_text()[-500:]}")
                time.sleep(0.2)
        yield url, mirrors
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _git_repo(path: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    git = ["git", "-c", "user.name=genzoo", "-c", "user.email=tests@genzoo.invalid", "-C", str(path)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "publish"], check=True)


def test_download_over_http_from_a_local_hub_server(olah_server, trained_dir, tmp_path, monkeypatch):
    url, mirrors = olah_server
    files = hub_repo_files(trained_dir)
    # Files a pipeline never needs must stay on the server: code, pickles, checkpoints, intermediate grids.
    extras = {
        "model/modeling_evil.py": b"raise SystemExit('imported')\n",
        "checkpoints/step_000005/optimizer.bin": b"not downloaded",
        "samples/step_000002.png": (trained_dir / "samples.png").read_bytes(),
    }
    _git_repo(mirrors / "models" / "org" / "dcgan-http", {**files, **extras})
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    cache = tmp_path / "http-cache"

    pipe = GenPipeline.from_pretrained("org/dcgan-http", cache_dir=cache)

    snapshot = Path(pipe.name_or_path)
    downloaded = {str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if not p.is_dir()}
    assert downloaded == set(files)
    assert (snapshot / "model" / "diffusion_pytorch_model.safetensors").is_symlink()
    np.testing.assert_array_equal(sample(pipe), sample(GenPipeline.from_pretrained(trained_dir)))

    # Once downloaded, the same repo id loads with the server gone.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offline = GenPipeline.from_pretrained("org/dcgan-http", cache_dir=cache)
    np.testing.assert_array_equal(sample(offline), sample(pipe))


# ---------------------------------------------------------------------------------------------------------------
# Publishing, at the HfApi boundary


def test_push_uploads_exactly_the_pipeline_files_and_a_card(trained_dir, tmp_path, fake_hub):
    (trained_dir / "eval_results.json").write_text(json.dumps({"fid": 123.456, "kid": 0.0123, "num_samples": 500}))
    before = {p: p.read_bytes() for p in trained_dir.rglob("*") if p.is_file() and p.name != "eval_results.json"}
    try:
        commit = push_folder(
            trained_dir, "org/dcgan-test", private=True, token="hf_test", commit_message="First", revision="dev"
        )
    finally:
        (trained_dir / "eval_results.json").unlink()

    assert commit.commit_url.startswith("https://huggingface.co/org/dcgan-test")
    assert fake_hub.call("init") == {"token": "hf_test"}
    assert fake_hub.call("create_repo") == {
        "repo_id": "org/dcgan-test", "private": True, "exist_ok": True, "repo_type": "model",
    }  # fmt: skip
    assert fake_hub.call("create_branch") == {
        "repo_id": "org/dcgan-test", "branch": "dev", "exist_ok": True, "repo_type": "model",
    }  # fmt: skip
    commit_call = fake_hub.call("create_commit")
    assert commit_call["commit_message"] == "First"
    assert commit_call["revision"] == "dev" and commit_call["create_pr"] is False
    uploads = commit_call["uploads"]
    assert set(uploads) == PUBLISHED | {"run_config.yaml", "samples.png", "eval_results.json"}
    for path, data in uploads.items():  # uploaded as they are on disk; samples/, checkpoints/, logs/ stay home
        if path not in ("README.md", "eval_results.json", "run_config.yaml"):
            assert data == (trained_dir / path).read_bytes(), path
    # The run config is published with its local paths reduced to names (here the absolute output_dir).
    run_config = yaml.safe_load((trained_dir / "run_config.yaml").read_text())
    assert Path(run_config["output_dir"]).is_absolute()
    assert yaml.safe_load(uploads["run_config.yaml"]) == {**run_config, "output_dir": trained_dir.name}
    assert before == {
        p: p.read_bytes() for p in trained_dir.rglob("*") if p.is_file() and p.name != "eval_results.json"
    }
    assert uploads["README.md"] != before[trained_dir / "README.md"]  # rebuilt: for the repo id, with metrics

    card = card_from_upload(uploads, tmp_path)
    assert card.data.library_name == "genzoo"
    assert card.data.tags == ["genzoo", "dcgan", "gan", "hinge", "unconditional-image-generation"]
    assert card.data.pipeline_tag == "unconditional-image-generation"
    assert card.data.datasets == ["ylecun/mnist"]
    assert card.data.metrics == ["fid", "kid"]
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["fid"].metric_value == pytest.approx(123.456) and results["kid"].metric_value == pytest.approx(
        0.0123
    )
    assert results["fid"].dataset_name == "mnist-5k" and results["fid"].task_type == "unconditional-image-generation"
    assert card.data.model_name == "dcgan-test"
    assert "![Samples from this model](samples.png)" in card.text
    assert 'GenPipeline.from_pretrained("org/dcgan-test")' in card.text
    assert "| FID | 123.5 |" in card.text and "num_samples 500" in card.text
    assert "| steps | 5 |" in card.text and "| dataset | `mnist-5k` |" in card.text


def test_cli_push(trained_dir, fake_hub, capsys):
    cli.main(["push", str(trained_dir), "org/dcgan-cli", "--commit-message", "From the CLI"])
    assert f"Pushed {trained_dir} to https://huggingface.co/org/dcgan-cli" in capsys.readouterr().out
    assert fake_hub.call("create_repo")["private"] is None
    assert not [call for call, _ in fake_hub.calls if call == "create_branch"]
    commit_call = fake_hub.call("create_commit")
    assert commit_call["commit_message"] == "From the CLI" and commit_call["revision"] is None
    assert set(commit_call["uploads"]) == PUBLISHED | {"run_config.yaml", "samples.png"}

    FakeHfApi.calls = []
    cli.main(["push", str(trained_dir), "org/dcgan-cli", "--private", "--token", "t", "--revision", "main"])
    assert fake_hub.call("init") == {"token": "t"} and fake_hub.call("create_repo")["private"] is True
    assert [call for call, _ in fake_hub.calls] == ["init", "create_repo", "create_commit"]  # main exists already
    assert fake_hub.call("create_commit")["revision"] == "main"


def test_pipeline_push_to_hub_saves_then_uploads(trained_dir, tmp_path, fake_hub):
    pipe = GenPipeline.from_pretrained(trained_dir)
    pipe.push_to_hub("org/from-python", private=False, commit_message="Python", revision="v1", create_pr=False)
    uploads = fake_hub.call("create_commit")["uploads"]
    assert set(uploads) == PUBLISHED | {"run_config.yaml", "samples.png"}  # the run config travels along
    run_config = yaml.safe_load((trained_dir / "run_config.yaml").read_text())
    assert yaml.safe_load(uploads["run_config.yaml"]) == {**run_config, "output_dir": trained_dir.name}
    assert fake_hub.call("create_branch")["branch"] == "v1"
    assert fake_hub.call("create_repo")["private"] is False
    card = card_from_upload(uploads, tmp_path)
    assert card.data.library_name == "genzoo" and card.data.datasets == ["ylecun/mnist"]

    # A pipeline built in memory publishes a freshly rendered grid and a card without training details.
    FakeHfApi.calls = []
    GenPipeline(model=DCGANGenerator(latent_dim=8, base_channels=8)).push_to_hub("fresh")
    uploads = fake_hub.call("create_commit")["uploads"]
    assert set(uploads) == PUBLISHED | {"samples.png"}
    assert uploads["samples.png"].startswith(b"\x89PNG")
    card = card_from_upload(uploads, tmp_path)
    assert card.data.datasets is None and "## Training" not in card.text
    assert fake_hub.call("create_commit")["repo_id"] == "me/fresh"  # the Hub put "fresh" in the user's namespace
    assert 'GenPipeline.from_pretrained("me/fresh")' in card.text

    FakeHfApi.calls = []
    pipe.push_to_hub("org/ema", variant="ema")
    uploads = fake_hub.call("create_commit")["uploads"]
    assert "model/diffusion_pytorch_model.ema.safetensors" in uploads
    assert "model/diffusion_pytorch_model.safetensors" not in uploads

    # save_pretrained(push_to_hub=True) publishes the folder it saved, with genzoo's card (not diffusers' own).
    FakeHfApi.calls = []
    pipe.save_pretrained(tmp_path / "saved", push_to_hub=True, repo_id="org/saved", private=True, revision="dev")
    assert fake_hub.call("create_repo")["private"] is True and fake_hub.call("create_commit")["revision"] == "dev"
    uploads = fake_hub.call("create_commit")["uploads"]
    assert set(uploads) == PUBLISHED | {"samples.png"}
    assert card_from_upload(uploads, tmp_path).data.library_name == "genzoo"


def test_save_pretrained_writes_the_card_and_grid(tmp_path):
    folder = save_tiny_pipeline(tmp_path / "tiny")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "model", "model_index.json", "samples.png"]
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "genzoo" and "genzoo" in card.data.tags
    assert card.text == build_model_card(folder).text
    with pytest.raises(GenzooError, match="safetensors only"):
        GenPipeline.from_pretrained(folder).save_pretrained(tmp_path / "pickled", safe_serialization=False)


def test_push_refuses_what_would_not_load(tmp_path, fake_hub):
    folder = save_tiny_pipeline(tmp_path / "tiny")
    (folder / "model" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(UnsafePipelineError, match="pickle"):
        push_folder(folder, "org/tiny")
    assert fake_hub.calls == []


def test_push_without_network_is_one_clear_line(tmp_path, capsys, monkeypatch):
    folder = save_tiny_pipeline(tmp_path / "tiny")
    with pytest.raises(SystemExit):
        cli.main(["push", str(folder), "org/tiny"])
    err = capsys.readouterr().err.strip()
    assert err == "genzoo: error: Cannot push to 'org/tiny': HF_HUB_OFFLINE is set; unset it to publish."

    def unreachable(self, repo_id, **kwargs):
        raise ConnectionError("[Errno 111] Connection refused")

    monkeypatch.setattr(FakeHfApi, "create_repo", unreachable)
    monkeypatch.setattr("genzoo.hub.HfApi", FakeHfApi)
    with pytest.raises(GenzooError) as caught:
        push_folder(folder, "org/tiny")
    assert str(caught.value) == (
        "Could not reach the Hub to push to 'org/tiny' (ConnectionError: [Errno 111] Connection refused); "
        "check the network."
    )


@pytest.mark.parametrize("link", ["samples.png", "extra.png", "run_config.yaml"])
def test_push_refuses_links_to_files_outside_the_folder(tmp_path, fake_hub, link):
    folder = save_tiny_pipeline(tmp_path / "tiny")
    private = tmp_path / f"private{Path(link).suffix}"  # real content: only its place is wrong
    private.write_bytes((folder / "samples.png").read_bytes() if link.endswith(".png") else b"seed: 0\n")
    (folder / link).unlink(missing_ok=True)
    (folder / link).symlink_to(private)
    with pytest.raises(GenzooError, match="outside the pipeline folder") as caught:
        push_folder(folder, "org/tiny")
    assert "\n" not in str(caught.value) and fake_hub.calls == []


def test_push_refuses_a_linked_component_folder_outside(tmp_path, fake_hub):
    folder = save_tiny_pipeline(tmp_path / "tiny")
    outside = tmp_path / "elsewhere"
    (folder / "model").rename(outside)
    (folder / "model").symlink_to(outside, target_is_directory=True)
    with pytest.raises(GenzooError, match="outside the pipeline folder"):
        push_folder(folder, "org/tiny")
    assert fake_hub.calls == []


def test_push_accepts_a_link_inside_the_folder(tmp_path, fake_hub):
    folder = save_tiny_pipeline(tmp_path / "tiny")
    (folder / "extra.png").symlink_to(folder / "samples.png")
    push_folder(folder, "org/tiny")
    uploads = fake_hub.call("create_commit")["uploads"]
    assert uploads["extra.png"] == (folder / "samples.png").read_bytes()


def test_push_refuses_a_figure_that_is_not_an_image(tmp_path, fake_hub, capsys):
    folder = save_tiny_pipeline(tmp_path / "tiny")
    (folder / "extra.png").write_bytes(b"#!/bin/sh\necho not an image\n")
    with pytest.raises(SystemExit):
        cli.main(["push", str(folder), "org/tiny"])
    err = capsys.readouterr().err
    assert err.startswith("genzoo: error: ") and "extra.png is not a valid image" in err and err.count("\n") == 1
    assert fake_hub.calls == []


def test_push_uploads_only_what_the_index_and_components_name(tmp_path, fake_hub):
    """A stray safetensors file, notes or a cache beside the weights belong to no component: they stay home."""
    folder = save_tiny_pipeline(tmp_path / "tiny")
    weights = (folder / "model" / "diffusion_pytorch_model.safetensors").read_bytes()
    (folder / "model" / "stolen.safetensors").write_bytes(weights)
    (folder / "model" / "diffusion_pytorch_model-00009-of-00009.safetensors").write_bytes(weights)
    (folder / "model" / "notes.json").write_text("{}")
    (folder / "unlisted").mkdir()
    (folder / "unlisted" / "config.json").write_text("{}")
    push_folder(folder, "org/tiny")
    assert set(fake_hub.call("create_commit")["uploads"]) == PUBLISHED | {"samples.png"}


def test_push_uploads_the_shards_the_index_lists(tmp_path, fake_hub):
    folder = tmp_path / "sharded"
    torch.manual_seed(0)
    GenPipeline(model=DCGANGenerator(latent_dim=8, base_channels=8)).save_pretrained(folder, max_shard_size="20KB")
    shards = sorted(p.name for p in (folder / "model").glob("*-of-*.safetensors"))
    assert len(shards) > 1
    (folder / "model" / "diffusion_pytorch_model-00099-of-00099.safetensors").write_bytes(b"stray")
    push_folder(folder, "org/sharded")
    uploads = set(fake_hub.call("create_commit")["uploads"])
    expected = {f"model/{name}" for name in shards} | {"model/diffusion_pytorch_model.safetensors.index.json"}
    assert {name for name in uploads if name.startswith("model/") and name != "model/config.json"} == expected


@pytest.mark.parametrize("repo_id", ["org/..", "../name", "org/a..b", "a/b/c", "org/na me", ""])
def test_push_refuses_an_invalid_repo_id_before_anything(tmp_path, fake_hub, repo_id, capsys):
    folder = save_tiny_pipeline(tmp_path / "tiny")
    with pytest.raises(GenzooError, match="is not a valid Hub repo id") as caught:
        push_folder(folder, repo_id)
    assert "\n" not in str(caught.value)
    with pytest.raises(GenzooError, match="is not a valid Hub repo id"):
        GenPipeline.from_pretrained(folder).push_to_hub(repo_id)
    with pytest.raises(SystemExit):
        cli.main(["push", str(folder), repo_id])
    err = capsys.readouterr().err
    assert err.startswith("genzoo: error: ") and "is not a valid Hub repo id" in err and err.count("\n") == 1
    assert fake_hub.calls == []


def test_loading_a_repo_id_imports_the_hub_module_only_then(tmp_path):
    """A local folder loads without genzoo.hub; a repo id imports it to download (checked in a fresh process)."""
    folder = save_tiny_pipeline(tmp_path / "tiny")
    code = (
        "import sys; from genzoo import GenPipeline, GenzooError\n"
        f"GenPipeline.from_pretrained({str(folder)!r}); assert 'genzoo.hub' not in sys.modules\n"
        "try: GenPipeline.from_pretrained('org/not-cached')\n"
        "except GenzooError as exc: assert 'not in the Hugging Face cache' in str(exc), exc\n"
        "assert 'genzoo.hub' in sys.modules\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_push_publishes_names_not_local_paths(trained_dir, tmp_path, fake_hub):
    folder = tmp_path / "run"
    shutil.copytree(trained_dir, folder)
    run_config = yaml.safe_load((folder / "run_config.yaml").read_text())
    private = {"dataset": "imagefolder:/home/someone/faces", "output_dir": "/home/someone/runs/faces-dcgan"}
    (folder / "run_config.yaml").write_text(yaml.safe_dump({**run_config, **private}, sort_keys=False))
    results = {"fid": 3.5, "dataset": private["dataset"], "split": "train", "reference_stats": "~/stats/faces.npz"}
    (folder / "eval_results.json").write_text(json.dumps(results))
    push_folder(folder, "org/faces")
    uploads = fake_hub.call("create_commit")["uploads"]
    published = yaml.safe_load(uploads["run_config.yaml"])
    assert published == {**run_config, "dataset": "imagefolder:faces", "output_dir": "faces-dcgan"}
    assert json.loads(uploads["eval_results.json"]) == {
        **results,
        "dataset": "imagefolder:faces",
        "reference_stats": "faces.npz",
    }
    assert "| dataset | `imagefolder:faces` |" in uploads["README.md"].decode()
    assert all(b"/home/someone" not in data for data in uploads.values())
    assert "/home/someone" in (folder / "run_config.yaml").read_text()  # the local folder keeps what repeats the run
