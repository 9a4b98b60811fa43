"""Screenshots of each tab of `genzoo demo` for the documentation (docs/images/demo-<tab>.png).

    python scripts/demo_screenshots.py PIPELINE [--output-dir docs/images]

Serves the demo of PIPELINE on a free loopback port and photographs every tab the pipeline supports in Debian's
headless Chromium (driven by Playwright), after pressing each tab's button once with the default settings.
"""

import argparse
import socket
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
    ("Restore", None, None),
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
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.get_by_role("tab", name="Sample").wait_for()  # the page has rendered its tabs
            for tab, button, output in TABS:
                if page.get_by_role("tab", name=tab).count() == 0:
                    print(f"{tab}: not supported by this pipeline, no screenshot")
                    continue
                page.get_by_role("tab", name=tab).click()
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


if __name__ == "__main__":
    main()
