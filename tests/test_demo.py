"""`genzoo demo` without a browser: what the tabs compute, which tabs a pipeline gets, bad input as one line, the
command line and the exported Space (started with `python app.py`, as a Space starts it)."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import ImagePipelineOutput

from genzoo import GenPipeline, demo
from genzoo.cli import build_parser, main

gr = pytest.importorskip("gradio", reason="the demo extra (pip install -e '.[demo]') installs Gradio")


@pytest.fixture(scope="module")
def session(trained_dcgan) -> demo.DemoSession:
    return demo.DemoSession(GenPipeline.from_pretrained(trained_dcgan), device="cpu")


def _tab_labels(app) -> list[str]:
    return [block.label for block in app.blocks.values() if isinstance(block, gr.Tab)]


def test_an_unconditional_gan_gets_sample_interpolate_and_about(session):
    assert {"sample", "interpolate"} <= session.tasks and "class_labels" not in session.tasks
    assert (session.channels, session.image_size, session.display_scale) == (1, 28, 4)
    tabs = _tab_labels(demo.build_app(session))
    expected = ["Sample", "Interpolate"] + (["Restore"] if "inpaint" in session.tasks else []) + ["About"]
    assert [tab for tab in tabs if tab != "Explore"] == expected


def test_sample_is_deterministic_per_seed_and_shows_what_the_pipeline_makes(session, trained_dcgan):
    first, again, other = session.sample(0, 4), session.sample(0, 4), session.sample(1, 4)
    assert first.size == (2 * 112, 2 * 112)  # 2 × 2 digits of 28 px, enlarged 4 times
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))
    pipe = GenPipeline.from_pretrained(trained_dcgan)
    direct = pipe(batch_size=4, generator=torch.Generator().manual_seed(0)).images[0]
    np.testing.assert_array_equal(np.asarray(first)[:112:4, :112:4], np.asarray(direct))


def test_truncation_reaches_the_pipeline(session, trained_dcgan):
    assert "truncation" in session.tasks  # GenPipeline.__call__ takes it
    pipe = GenPipeline.from_pretrained(trained_dcgan)
    direct = pipe(batch_size=1, truncation=0.5, generator=torch.Generator().manual_seed(0)).images[0]
    np.testing.assert_array_equal(np.asarray(session.sample(0, 1, truncation=0.5))[::4, ::4], np.asarray(direct))
    assert not np.array_equal(np.asarray(session.sample(0, 1, truncation=0.5)), np.asarray(session.sample(0, 1)))


def test_interpolate_walks_from_one_seed_to_the_other(session):
    row = np.asarray(session.interpolate(3, 5, 6))
    assert row.shape == (112, 6 * 112)
    start, end = np.asarray(session.sample(3, 1)), np.asarray(session.sample(5, 1))
    np.testing.assert_array_equal(row[:, :112], start)
    np.testing.assert_allclose(row[:, -112:].astype(int), end.astype(int), atol=1)  # slerp's end point, to rounding


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.sample(0, 0), "between 1 and 64"),
        (lambda s: s.sample(0.5, 4), "whole number"),
        (lambda s: s.interpolate(0, 1, 1), "between 2 and 16"),
        (lambda s: s.check_image(PIL.Image.new("L", (64, 48)), 28), "64×48 pixels; this model works on 28×28"),
        (lambda s: s.check_image(PIL.Image.new("RGB", (28, 28), (255, 0, 0)), 28), "in colour"),
        (lambda s: s.class_index("cat"), "Unknown class"),
    ],
)
def test_bad_input_is_one_line(session, call, message):
    with pytest.raises(ValueError, match=message) as raised:
        call(session)
    assert "\n" not in str(raised.value)


def test_uploads_a_whole_multiple_larger_or_in_gray_rgb_are_accepted(session):
    digit = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8), mode="L")
    enlarged = digit.resize((112, 112), PIL.Image.Resampling.NEAREST).convert("RGBA")
    checked = session.check_image(enlarged, 28)
    assert checked.mode == "L" and np.array_equal(np.asarray(checked), np.asarray(digit))


def test_errors_reach_the_page_as_gradio_messages_without_traceback():
    def broken(_: object) -> None:
        raise ValueError("The image is 64×64 pixels;\n   this model works on 28×28 images.")

    with pytest.raises(gr.Error) as raised:
        demo._in_page(broken)(None)
    assert raised.value.message == "The image is 64×64 pixels; this model works on 28×28 images."
    assert raised.value.print_exception is False

    def bug(_: object) -> None:
        raise KeyError("boom")

    with pytest.raises(gr.Error, match="KeyError: 'boom'"):
        demo._in_page(bug)(None)


class _RecordingInpaint(GenPipeline):
    """A pipeline with an `inpaint` that keeps the known pixels and fills the mask with white, recording its input:
    it tests the demo's plumbing (the mask drawn in the editor reaches the pipeline), not the restoration."""

    calls: list = []

    def inpaint(self, image, mask_image, *, class_labels=None, generator=None, output_type="pil", return_dict=True):
        self.calls.append((image, mask_image))
        mask = np.asarray(mask_image) >= 128
        return ImagePipelineOutput(
            images=[PIL.Image.fromarray(np.where(mask, 255, np.asarray(image)).astype(np.uint8))]
        )


def test_a_pipeline_with_inpaint_gets_the_restore_tab_and_the_drawn_mask(trained_dcgan):
    pipe = GenPipeline.from_pretrained(trained_dcgan)
    session = demo.DemoSession(_RecordingInpaint(model=pipe.model), device="cpu")
    assert "inpaint" in session.tasks and "inpaint" in session.restore_tasks
    assert "Restore" in _tab_labels(demo.build_app(session))
    image = PIL.Image.fromarray(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28) % 200, mode="L")
    canvas = image.resize((112, 112), PIL.Image.Resampling.NEAREST).convert("RGBA")
    stroke = PIL.Image.new("RGBA", (112, 112), (0, 0, 0, 0))
    stroke.paste((255, 0, 0, 255), (40, 48, 80, 60))  # model pixels 10..19 wide, rows 12..14
    _, restored = session.restore("inpaint", {"background": canvas, "layers": [stroke], "composite": canvas})
    sent_image, sent_mask = _RecordingInpaint.calls[-1]
    mask = np.asarray(sent_mask) >= 128
    assert sent_image.size == (28, 28) and mask[12:15, 10:20].all() and mask.sum() == 3 * 10
    restored = np.asarray(restored)[::4, ::4]
    np.testing.assert_array_equal(restored[~mask], np.asarray(image)[~mask])
    with pytest.raises(ValueError, match="Draw the region"):
        session.restore("inpaint", {"background": canvas, "layers": [], "composite": canvas})


def test_supported_tasks_prefers_the_pipeline_s_own_answer(trained_dcgan):
    class Declared(GenPipeline):
        def supported_tasks(self) -> frozenset[str]:
            return frozenset({"sample", "truncation"})

    pipe = GenPipeline.from_pretrained(trained_dcgan)
    assert demo.supported_tasks(Declared(model=pipe.model)) == {"sample", "truncation"}


def test_the_class_picker_lists_class_names_and_draws_that_class(tmp_path):
    from genzoo_cgan.modeling_cgan import CGANGenerator, CGANPipeline

    torch.manual_seed(0)
    model = CGANGenerator(latent_dim=8, base_channels=8, num_classes=3, class_names=["cat", "dog", "owl"])
    pipe = CGANPipeline(model=model.eval())
    session = demo.DemoSession(pipe, device="cpu")
    assert session.class_names == ["cat", "dog", "owl"] and "class_labels" in session.tasks
    dogs = session.sample(0, 2, "dog")
    expected = pipe(batch_size=2, class_labels="dog", generator=torch.Generator().manual_seed(0)).images
    np.testing.assert_array_equal(np.asarray(dogs)[::4, ::4][:, :28], np.asarray(expected[0]))


def test_without_a_class_the_grid_has_one_column_per_class():
    from genzoo_cgan.modeling_cgan import CGANGenerator, CGANPipeline

    torch.manual_seed(0)
    pipe = CGANPipeline(model=CGANGenerator(latent_dim=8, base_channels=8, num_classes=3).eval())
    grid = np.asarray(demo.DemoSession(pipe, device="cpu").sample(0, 6))[::4, ::4]
    expected = pipe(class_labels=[0, 1, 2, 0, 1, 2], generator=torch.Generator().manual_seed(0)).images
    assert grid.shape == (2 * 28, 3 * 28)
    for index, image in enumerate(expected):
        row, column = divmod(index, 3)
        np.testing.assert_array_equal(grid[row * 28 : (row + 1) * 28, column * 28 : (column + 1) * 28], image)


def test_a_missing_model_gives_a_page_that_says_why(tmp_path):
    app = demo.load_app(str(tmp_path / "nowhere"))
    texts = [block.value for block in app.blocks.values() if isinstance(block, gr.Markdown)]
    assert any("could not be loaded" in text and "nowhere" in text for text in texts)


def test_cli_defaults_are_loopback_without_share():
    args = build_parser().parse_args(["demo", "runs/a"])
    assert (args.host, args.port, args.share) == ("127.0.0.1", None, False)


def test_cli_refuses_a_missing_model_and_a_space_without_repo_id(trained_dcgan, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["demo", str(tmp_path / "missing")])
    assert exited.value.code == 1 and "No such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", str(trained_dcgan), "--export-space", str(tmp_path / "space")])
    assert "pass --repo-id" in capsys.readouterr().err and not (tmp_path / "space").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_exported_space_starts_with_python_app_py(trained_dcgan, tmp_path, capsys):
    space = tmp_path / "space"
    main(["demo", str(trained_dcgan), "--export-space", str(space), "--repo-id", "my-org/dcgan-mnist"])
    assert sorted(p.name for p in space.iterdir()) == ["README.md", "app.py", "requirements.txt"]
    assert "'my-org/dcgan-mnist'" in (space / "app.py").read_text()
    requirements = [line for line in (space / "requirements.txt").read_text().splitlines() if line]
    assert requirements[0].startswith("# genzoo is on no package index")  # this checkout declares no repository URL
    assert next(line for line in requirements if not line.startswith("#")).startswith("genzoo[demo]")
    assert "sdk: gradio" in (space / "README.md").read_text()
    with pytest.raises(SystemExit):  # never overwritten without --overwrite
        main(["demo", str(trained_dcgan), "--export-space", str(space), "--repo-id", "my-org/dcgan-mnist"])

    # A Space runs `python app.py` in the folder; the local pipeline stands in for the repo id.
    port = _free_port()
    env = {**os.environ, demo.SPACE_MODEL_VARIABLE: str(trained_dcgan), "GRADIO_SERVER_PORT": str(port)}
    env["OMP_NUM_THREADS"] = "1"
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=space, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline, page = time.monotonic() + 240, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert page is not None, f"app.py did not serve: {process.stdout.read() if process.poll() is not None else ''}"
        assert '"Sample"' in page and '"Interpolate"' in page and "could not be loaded" not in page
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- bounded work for every upload and control (issue 18) --------------------------------------------------------
def _editor():
    return demo._checked_editor(gr, type="pil", image_mode="RGBA")


def test_an_upload_with_a_huge_pixel_count_is_refused_before_decoding(tmp_path, monkeypatch):
    from gradio.data_classes import FileData

    path = tmp_path / "huge.png"
    PIL.Image.new("L", (3000, 3000)).save(path)  # 9 Mpx, a few KB compressed
    decoded = []
    monkeypatch.setattr(PIL.Image.Image, "load", lambda self: decoded.append(self.size))
    with pytest.raises(gr.Error, match=r"3000x3000 pixels, above the limit of 4,194,304") as error:
        _editor().convert_and_format_image(FileData(path=str(path)))
    assert not decoded and str(tmp_path) not in str(error.value)


@pytest.mark.parametrize(("content", "match"), [(b"not an image\n", "cannot be read"), (b"", "cannot be read")])
def test_text_and_empty_uploads_are_answered_in_one_line(tmp_path, content, match):
    from gradio.data_classes import FileData

    path = tmp_path / "upload.png"
    path.write_bytes(content)
    with pytest.raises(gr.Error, match=match):
        _editor().convert_and_format_image(FileData(path=str(path)))


def test_a_truncated_upload_is_answered_in_one_line(tmp_path):
    from gradio.data_classes import FileData

    path = tmp_path / "cut.png"
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(gr.Error, match=r"truncated|cannot be read"):
        _editor().convert_and_format_image(FileData(path=str(path)))


def test_huge_seeds_are_answered_clearly(session):
    for call in (lambda: session.sample(2**70, 4), lambda: session.interpolate(0, -1, 4)):
        with pytest.raises(ValueError, match="must be between 0 and 9223372036854775807"):
            call()


def test_the_app_queues_requests_and_bounds_uploads(session, monkeypatch):
    app = demo.build_app(session)
    assert app._queue.default_concurrency_limit == demo.CONCURRENCY_LIMIT and app.delete_cache
    launched = {}
    monkeypatch.setattr(app, "launch", lambda **kwargs: launched.update(kwargs))
    demo.launch(app, block=False)
    assert launched["max_file_size"] == demo.MAX_FILE_SIZE


def test_the_about_tab_names_the_dataset_not_its_path(trained_dcgan, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(trained_dcgan, folder)
    secret = str(tmp_path / "home" / "alice" / "faces")
    (folder / "run_config.yaml").write_text(f"dataset: imagefolder:{secret}\n")
    (folder / "README.md").write_text(f"# run\nIt was trained on `imagefolder:{secret}` only.\n")
    card = demo.DemoSession(GenPipeline.from_pretrained(folder), device="cpu", folder=folder).model_card()
    assert "alice" not in card and "imagefolder:faces" in card
