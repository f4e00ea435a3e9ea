"""Train the textbook DCGAN loop (dcgan.bench.TextbookLoop: per-sample transforms, 2 DataLoader workers,
Sigmoid + BCELoss) for one epoch and save its generator as a run folder that `dcgan eval` and `dcgan generate`
read like any other. The reference point of docs/performance.md's time-to-quality measurement.

    .venv/bin/python scripts/textbook_epoch.py --image-size 64 --batch-size 64 --out runs/textbook-64
"""

import argparse
import json
import time
from pathlib import Path

import torch

from dcgan.bench import TextbookLoop, load_native
from dcgan.checkpoint import GENERATOR_FILE, atomic_write_text, export_generator
from dcgan.config import TrainConfig
from dcgan.data import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/textbook-64")
    args = parser.parse_args()

    config = TrainConfig(dataset="fashion-mnist", image_size=args.image_size, batch_size=args.batch_size,
                         seed=args.seed, steps=1).resolved()
    data = load_dataset(config.dataset, config.data_dir, 28, config.channels, download=False)
    loop = TextbookLoop(config, load_native(config, data), torch.device("cpu"))
    steps = args.epochs * len(loop.loader)
    batches = loop.batches()
    start = time.perf_counter()
    for i in range(steps):
        loop.step(next(batches))
        if (i + 1) % 50 == 0:
            elapsed = time.perf_counter() - start
            print(f"step {i + 1}/{steps}  {(i + 1) * args.batch_size / elapsed:.1f} images/s  {elapsed:.0f} s",
                  flush=True)
    seconds = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", config.to_json())
    export_generator(out / GENERATOR_FILE, loop.net_g, config.to_dict(), steps)
    atomic_write_text(out / "textbook.json", json.dumps({"steps": steps, "seconds": seconds,
                                                         "images_per_s": steps * args.batch_size / seconds}))
    print(f"{steps} steps in {seconds:.0f} s; generator saved to {out / GENERATOR_FILE}")


if __name__ == "__main__":
    main()
