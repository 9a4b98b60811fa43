"""Copy the grids of the default runs into docs/images/gallery/ for the site's gallery page (docs/gallery.md).

    python scripts/gallery.py RUNS_DIR       # RUNS_DIR holds one finished `genzoo train FAMILY` folder per family

Each run folder's `samples.png` (and a VAE's `reconstructions.png`) becomes `<family>-<name>.png`.
"""

import argparse
import shutil
from pathlib import Path

GALLERY = Path(__file__).resolve().parents[1] / "docs" / "images" / "gallery"
FIGURES = ("samples.png", "reconstructions.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="folder of finished runs, one subfolder per family")
    args = parser.parse_args()
    GALLERY.mkdir(parents=True, exist_ok=True)
    for run in sorted(path for path in args.runs.iterdir() if (path / "model_index.json").is_file()):
        for figure in FIGURES:
            if (run / figure).is_file():
                target = GALLERY / f"{run.name}-{figure}"
                shutil.copyfile(run / figure, target)
                print(f"{run / figure} -> {target}")


if __name__ == "__main__":
    main()
