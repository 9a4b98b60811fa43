"""`genzoo recipes`: the shipped recipes (`genzoo train --recipe NAME`) with the figure each aims at."""

import argparse
import json

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON, with each recipe's run config")


def run(args: argparse.Namespace) -> None:
    from ..recipes import recipes  # lazy: reading the recipes parses YAML

    shipped = recipes()
    if args.json:
        payload = [
            {"name": r.name, "description": r.description, "anchor": r.anchor, "notes": r.notes, "config": r.config}
            for r in shipped.values()
        ]
        print(json.dumps(payload, indent=2))
        return
    for recipe in shipped.values():
        anchor = recipe.anchor
        figure = f"{anchor['metric']} {anchor['value']}" if anchor["value"] is not None else "no published figure"
        print(f"{recipe.name}: {recipe.description}")
        print(f"  aims at: {figure} ({' '.join(anchor['protocol'].split())})")
        print(f"  source: {' '.join(anchor['source'].split())}")
