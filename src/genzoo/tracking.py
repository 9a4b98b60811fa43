"""The JSONL tracker: moved to `genzoo.training.trackers`; importable from here as before."""

from .training.trackers import JSONLTracker

__all__ = ["JSONLTracker"]
