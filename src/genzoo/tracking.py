"""A dependency-free Accelerate tracker that appends every logged value to `logs/metrics.jsonl`."""

import json
from pathlib import Path
from typing import Any

from accelerate.tracking import GeneralTracker, on_main_process

__all__ = ["JSONLTracker"]


class JSONLTracker(GeneralTracker):
    """Writes one JSON object per `accelerator.log()` call: `{"step": 10, "loss_d": 1.3, ...}`."""

    name = "jsonl"
    requires_logging_directory = True

    # No @on_main_process here: it would create Accelerate's process state before the Accelerator does.
    def __init__(self, run_name: str, logging_dir: str | Path) -> None:
        super().__init__()
        self.run_name = run_name
        self.path = Path(logging_dir) / "metrics.jsonl"
        self._folder_ready = False

    def _ensure_folder(self) -> None:
        if not self._folder_ready:  # created on first use, by the main process only
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._folder_ready = True

    @property
    def tracker(self) -> Path:
        return self.path

    @on_main_process
    def store_init_configuration(self, values: dict[str, Any]) -> None:
        self._ensure_folder()
        (self.path.parent / "config.json").write_text(json.dumps(values, indent=2, default=str))

    @on_main_process
    def log(self, values: dict[str, Any], step: int | None = None, **kwargs: Any) -> None:
        self._ensure_folder()
        record = {"step": step, **{key: _plain(value) for key, value in values.items()}}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop the records of steps after `step` (a resumed or rolled-back run logs them again)."""
        if not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= step]
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text("".join(line + "\n" for line in kept))
        temporary.replace(self.path)


def _step_of(line: str) -> float:
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return float("inf")  # a torn last line (killed mid-write) goes too
    return -1 if step is None else step


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
