"""Sampling speed: `GenPipeline.__call__` against the bare generator forward plus the same conversion, side by side.

Both sides make the same images from the same seed: the pipeline draws latents and class labels, runs the model and
post-processes; the raw side draws the same latents with `torch.randn`, runs `pipe.model` under `torch.no_grad()`
and converts with the same `VaeImageProcessor.postprocess` (the check before timing asserts the outputs are equal).
So the ratio is what the pipeline's own code (input checks, latent and label preparation, hooks) costs.

Rounds interleave the two sides (pipeline, raw, pipeline, raw, ...) so that a change in the machine's load hits both
alike. Each ratio is raw time / pipeline time for one round (1.0: the pipeline costs nothing; the goal is >= 0.95),
printed as median [min-max] over the rounds for CPU time (`time.process_time`) and wall time.

    python bench/sampling_speed.py                                    # a DCGAN of the default size, batch 256, PIL
    python bench/sampling_speed.py --pipeline runs/dcgan-mnist --output-type np --rounds 9 --threads 2
    python bench/sampling_speed.py --model cgan

The figure in bench/README.md comes from the first command.
"""

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def timed(run: Callable[[], Any]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def build_pipeline(args: argparse.Namespace) -> Any:
    from genzoo import GenPipeline
    from genzoo.registry import get_model

    if args.pipeline:
        return GenPipeline.from_pretrained(args.pipeline)
    registration = get_model(args.model)
    torch.manual_seed(0)
    model = registration.generator_class().eval()  # the family's default size (28 x 28 digits for the built-ins)
    return (registration.pipeline_class or GenPipeline)(model=model)


def as_array(images: Any) -> np.ndarray:
    if isinstance(images, list):  # PIL images
        return np.stack([np.asarray(image) for image in images])
    return np.asarray(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan", help="a registered model family (default size, random weights)")
    parser.add_argument("--pipeline", help="a saved pipeline folder instead of --model")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--output-type", choices=["pil", "np", "pt"], default="pil")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="calls per side and round")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pipe = build_pipeline(args)
    model, batch = pipe.model, args.batch_size
    labels = pipe.prepare_class_labels(None, batch)  # the pipeline's default labels (None when unconditional)

    def pipeline_side(seed: int) -> Any:
        return pipe(batch_size=batch, generator=torch.Generator().manual_seed(seed), output_type=args.output_type)[0]

    @torch.no_grad()
    def raw_side(seed: int) -> Any:
        latents = torch.randn((batch, *model.latent_shape), generator=torch.Generator().manual_seed(seed))
        images = model(latents, labels) if labels is not None else model(latents)
        return pipe.image_processor.postprocess(images.float(), output_type=args.output_type)

    # The same work on both sides (this also warms both up).
    if not np.array_equal(as_array(pipeline_side(0)), as_array(raw_side(0))):
        raise SystemExit("the pipeline and the raw forward made different images; the comparison would be unfair")

    sides = {"pipeline": pipeline_side, "raw": raw_side}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for round_index in range(args.rounds):
        for name, side in sides.items():
            times[name].append(
                timed(lambda s=side, r=round_index: [s(r * args.repeats + i) for i in range(args.repeats)])
            )

    cpu = [raw[0] / ours[0] for raw, ours in zip(times["raw"], times["pipeline"], strict=True)]
    wall = [raw[1] / ours[1] for raw, ours in zip(times["raw"], times["pipeline"], strict=True)]
    source = args.pipeline or f"{args.model} (default size)"
    print(
        f"sampling: {source}, batch {batch}, output_type {args.output_type!r}, {torch.get_num_threads()} thread(s), "
        f"{args.rounds} rounds of {args.repeats} calls per side (ratio: raw time / pipeline time)"
    )
    print(f"  pipeline vs raw forward + the same conversion: CPU {summary(cpu)}, wall {summary(wall)}")
    for name, values in times.items():
        print(f"    {name}: median {statistics.median(v[0] for v in values) / args.repeats:.4f} CPU s per call")


if __name__ == "__main__":
    main()
