"""Screenshots of each tab of `genzoo demo` for the documentation (docs/images/demo-<tab>.png).

    python scripts/demo_screenshots.py PIPELINE [--output-dir docs/images]

Serves the demo of PIPELINE on a free loopback port and photographs every tab the pipeline supports in Debian's
headless Chromium (driven by Playwright), after pressing each tab's button once with the default settings. The
Restore tab is shown inpainting a held-out mnist-5k digit (the first of the test split) through a brush stroke.
"""

import argparse
import socket
import tempfile
from pathlib import Path

from genzoo import GenPipeline, demo

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Tab label, the button that fills it (None: nothing to press) and the output that shows the result.
TABS = [
    ("Sample", "Generate", "#sample-out img"),
    ("Interpolate", "Interpolate", "#interp-out img"),
    ("Explore", "Traverse", None),
    ("Restore", "Restore", "#restore-out img"),
    ("About", None, None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipeline", help="pipeline folder or Hub repo id")
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    session = demo.DemoSession(GenPipeline.from_pretrained(args.pipeline), device="cpu")
    app = demo.build_app(session)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(app, port=port, block=False)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as scratch:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.locator("#sample-out img").wait_for()  # the page is live: its opening samples have arrived
            for tab, button, output in TABS:
                if page.get_by_role("tab", name=tab).count() == 0:
                    print(f"{tab}: not supported by this pipeline, no screenshot")
                    continue
                page.get_by_role("tab", name=tab).click()
                if tab == "Restore":
                    _upload_and_paint(page, Path(scratch))
                if button:
                    page.get_by_role("button", name=button).click()
                    if output:
                        page.locator(output).wait_for()
                page.wait_for_timeout(1500)
                path = args.output_dir / f"demo-{tab.lower()}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"{tab}: {path}")
            browser.close()
    finally:
        app.close()


def _upload_and_paint(page, scratch: Path) -> None:
    """Upload a held-out digit to the Restore tab's editor and paint a band across its middle with the brush."""
    from genzoo import load_dataset

    dataset = load_dataset("mnist-5k", split="test")
    upload = scratch / "digit.png"
    dataset.data[0][dataset.image_column].convert("L").save(upload)
    page.locator("#restore-editor canvas").first.wait_for()  # an editor without its canvas yet ignores uploads
    page.locator("#restore-editor input[type=file]").set_input_files(str(upload))
    page.locator("#restore-editor").get_by_text("Upload an image").wait_for(state="hidden")  # the editor shows it
    page.wait_for_timeout(1000)  # the editor draws the upload before it takes strokes
    box = page.locator("#restore-editor img, #restore-editor canvas").last.bounding_box()
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, middle)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, middle, steps=8)
    page.mouse.up()
    page.wait_for_timeout(500)


if __name__ == "__main__":
    main()
