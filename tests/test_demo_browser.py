"""`genzoo demo` in a real browser: the app is served on a free loopback port and driven with Playwright in
Debian's headless Chromium (never a downloaded browser). Without Chromium these tests skip and say why;
`scripts/install-browser.sh` installs it (`bash .ci/run` runs that first)."""

import io
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from genzoo import GenPipeline, demo

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches out to the network by itself.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 60_000  # the suite shares two cores: a click can wait for a busy CPU

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"browser tests need Debian's chromium at {CHROMIUM}, which is not installed and could not be: run "
    "`bash scripts/install-browser.sh` as root (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the test extra installs playwright")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serve(tmp_path_factory) -> Iterator:
    """Serve the demo of a pipeline folder on 127.0.0.1 and return its URL; closed at the end of the module."""
    apps = []

    def start(folder: Path) -> str:
        app = demo.build_app(demo.DemoSession(GenPipeline.from_pretrained(folder), device="cpu"))
        port = _free_port()
        demo.launch(app, host="127.0.0.1", port=port, block=False)
        apps.append(app)
        return f"http://127.0.0.1:{port}/"

    yield start
    for app in apps:
        app.close()


@pytest.fixture
def page(browser) -> Iterator:
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    page.close()


def _shown_image(page, selector: str, previous: str | None = None) -> tuple[str, np.ndarray]:
    """The `src` of the image an output component shows (a new one when `previous` is given) and its pixels."""
    image = page.locator(f"{selector} img")
    image.wait_for()
    if previous is not None:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while image.get_attribute("src") == previous and time.monotonic() < deadline:
            time.sleep(0.1)
    src = image.get_attribute("src")
    assert src and src != previous, f"{selector} shows no new image"
    assert src.startswith("http://127.0.0.1:"), src  # served by the app itself
    with urllib.request.urlopen(src, timeout=30) as response:
        pixels = np.asarray(PIL.Image.open(io.BytesIO(response.read())).convert("L"))
    return src, pixels


def _model_pixels(pixels: np.ndarray, image_size: int) -> np.ndarray:
    """Undo the page's whole-factor nearest-neighbour enlargement."""
    scale = max(1, demo.DISPLAY_SIZE // image_size)
    return pixels[::scale, ::scale]


def _upload_to_editor(page, editor: str, path: Path) -> None:
    """Upload a file to an image editor and wait until the editor shows it. An editor ignores an upload that arrives
    before it has set up its canvas (it still says "Upload an image"; a second or so after its tab opens), so wait for
    the canvas first, and upload again if the editor still missed it, up to 3 times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    placeholder = page.locator(editor).get_by_text("Upload an image")
    page.locator(f"{editor} canvas").first.wait_for()
    for attempt in range(3):
        page.locator(f"{editor} input[type=file]").set_input_files(str(path))
        try:
            placeholder.wait_for(state="hidden", timeout=TIMEOUT_MS // 3)
            break
        except PlaywrightTimeoutError:
            assert attempt < 2, "the image editor never showed the upload"
    page.wait_for_timeout(1000)  # the editor draws the upload before it takes strokes


def _pick(page, dropdown: str, option: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_generate_shows_images_that_change_with_the_seed(trained_dcgan, serve, page):
    page.goto(serve(trained_dcgan), wait_until="domcontentloaded")
    opened_src, opened = _shown_image(page, "#sample-out")  # the page opens with the default seed's samples
    page.locator("#sample-seed input").fill("7")
    page.get_by_role("button", name="Generate").click()
    second_src, second = _shown_image(page, "#sample-out", previous=opened_src)
    page.locator("#sample-seed input").fill("0")
    page.get_by_role("button", name="Generate").click()
    _, first = _shown_image(page, "#sample-out", previous=second_src)
    assert first.shape == second.shape == (4 * 4 * 28, 4 * 4 * 28)  # 16 images of 28 px, enlarged 4 times, 4 × 4
    assert not np.array_equal(first, second), "a new seed did not change the samples"
    np.testing.assert_array_equal(first, opened)  # seed 0 again: the same samples
    # The page shows exactly what the pipeline makes for each seed.
    session = demo.DemoSession(GenPipeline.from_pretrained(trained_dcgan))
    for seed, shown in ((0, first), (7, second)):
        np.testing.assert_array_equal(shown, np.asarray(session.sample(seed, 16).convert("L")))
    # The Explore tab opens with the sample its sliders move, not an empty frame.
    page.get_by_role("tab", name="Explore").click()
    _, explored = _shown_image(page, "#explore-sample")
    np.testing.assert_array_equal(explored, np.asarray(session.explore(0, class_name=None).convert("L")))


@pytest.fixture(scope="module")
def digit_cgan(tmp_path_factory) -> Path:
    """A tiny CGAN fitted in a few seconds to draw one real held-out digit per class, whatever the latent, so that
    the MNIST classifier can read the class it draws (a few adversarial steps would draw noise)."""
    from genzoo import load_dataset
    from genzoo_cgan.modeling_cgan import CGANGenerator, CGANPipeline

    dataset = load_dataset("mnist-5k", split="test")
    labels = np.asarray(dataset.data[dataset.label_column])
    exemplars = [dataset.data[int(np.flatnonzero(labels == c)[0])][dataset.image_column] for c in range(10)]
    targets = (
        torch.stack([torch.from_numpy(np.asarray(im, dtype=np.float32)) for im in exemplars])[:, None] / 127.5 - 1
    )
    torch.manual_seed(0)
    model = CGANGenerator(latent_dim=8, base_channels=8, conditioning="concat", class_names=dataset.class_names)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        classes = torch.randint(10, (32,))
        loss = torch.nn.functional.mse_loss(model(torch.randn(32, 8), classes), targets[classes])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    folder = tmp_path_factory.mktemp("digit-cgan")
    CGANPipeline(model=model.eval()).save_pretrained(folder)
    return folder


def test_the_class_picker_changes_the_class(digit_cgan, serve, page):
    from genzoo.metrics import load_feature_extractor

    classifier = load_feature_extractor("mnist-classifier")
    page.goto(serve(digit_cgan), wait_until="domcontentloaded")
    previous, _ = _shown_image(page, "#sample-out")  # the samples the page opens with (every class)
    for digit in ("3", "7"):
        _pick(page, "#sample-class", digit)
        page.get_by_role("button", name="Generate").click()
        previous, grid = _shown_image(page, "#sample-out", previous)
        grid = _model_pixels(grid, 28)
        tiles = [
            grid[r : r + 28, c : c + 28] for r in range(0, grid.shape[0], 28) for c in range(0, grid.shape[1], 28)
        ]
        assert len(tiles) == 20  # the conditional default: two rows of one column per class
        images = torch.from_numpy(np.stack(tiles)[:, None].astype(np.float32)) / 127.5 - 1
        _, logits = classifier.features_and_logits(images)
        predicted = logits.argmax(1)
        assert (predicted == int(digit)).float().mean() >= 0.9, f"asked for {digit}, the classifier read {predicted}"


def test_upload_and_mask_give_an_inpainted_image_with_the_rest_kept(trained_dcgan, serve, page, tmp_path):
    from genzoo import load_dataset

    dataset = load_dataset("mnist-5k", split="test")
    upload = tmp_path / "digit.png"
    dataset.data[0][dataset.image_column].convert("L").save(upload)
    original = np.asarray(PIL.Image.open(upload))

    page.goto(serve(trained_dcgan), wait_until="domcontentloaded")
    _shown_image(page, "#sample-out")  # the page is live: its opening samples have arrived
    page.get_by_role("tab", name="Restore").click()
    _upload_to_editor(page, "#restore-editor", upload)
    # A horizontal stroke through the middle of the image, drawn with the brush. On a busy CPU the editor's
    # software-WebGL canvas can drop a stroke; the page then says the mask is empty, and only then is it drawn again
    # (a restoration that is merely slow is waited for, never answered with a second stroke).
    empty_mask = page.get_by_text("Draw the region to repaint")
    for attempt in range(3):
        box = page.locator("#restore-editor img, #restore-editor canvas").last.bounding_box()
        x0, y0, width, height = box["x"], box["y"], box["width"], box["height"]
        middle = y0 + height / 2
        page.mouse.move(x0 + width * 0.3, middle)
        page.mouse.down()
        page.mouse.move(x0 + width * 0.7, middle, steps=8)  # few events: software WebGL on a busy CPU is slow
        page.mouse.up()
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Restore").click()
        page.locator("#restore-out img").or_(empty_mask).first.wait_for()
        if page.locator("#restore-out img").count():
            break
        assert attempt < 2, "the editor dropped the brush stroke three times"
        empty_mask.first.wait_for(state="hidden")  # the message fades before the next try
    _, restored = _shown_image(page, "#restore-out")
    _, given = _shown_image(page, "#restore-given")
    restored, given = _model_pixels(restored, 28), _model_pixels(given, 28)
    assert restored.shape == original.shape
    # The page shows the masked pixels in grey in what the model sees: a band around the stroke.
    masked_rows = np.flatnonzero((given != original).any(axis=1))
    assert len(masked_rows) and masked_rows.min() >= 8 and masked_rows.max() <= 20, masked_rows
    unmasked = np.ones_like(original, dtype=bool)
    unmasked[masked_rows.min() : masked_rows.max() + 1] = False
    np.testing.assert_array_equal(restored[unmasked], original[unmasked])  # the rest of the image is kept exactly
    assert (restored[~unmasked] != original[~unmasked]).any(), "nothing was repainted"
