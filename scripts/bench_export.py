"""Size and speed of an exported generator (docs/export.md): the ONNX file, the exported page, and the time to
draw 64 images in headless Chromium (onnxruntime-web, WebAssembly, one thread) against PyTorch's generate on
the same CPU.

    python scripts/bench_export.py                      # default networks (width 64) at 28x28 grey, 64x64 colour
    python scripts/bench_export.py --run runs/<name>    # a trained run's generator instead

The page is the folder `dcgan export --format page` writes, less its model card and sample grid. Each time
is the median of --repeats rounds after one warm-up round. "page: draw" is window.dcgan.drawNoise: the
inference plus turning the outputs into pixels and drawing the grid; "page: G only" is window.dcgan.generate
without the canvas. PyTorch's is LoadedGenerator.generate (G plus the conversion to uint8), with one thread (as
the page has) and with all of torch's threads. Times depend on the machine and its load: the first lines say
what they were.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from dcgan.bench import machine_line
from dcgan.config import TrainConfig
from dcgan.export import write_onnx
from dcgan.export.card import build_manifest, read_run
from dcgan.export.page import write_page
from dcgan.models import build_generator
from dcgan.sampling import LoadedGenerator, load_generator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
COUNT = 64


def generator_of(image_size: int, width: int) -> LoadedGenerator:
    """G of the default config at this size (grey at 28 as Fashion-MNIST, colour otherwise), at init: the
    time of a forward pass does not depend on the weights."""
    dataset = "fashion-mnist" if image_size == 28 else "celeba"
    config = TrainConfig(dataset=dataset, image_size=image_size, g_width=width, seed=0).resolved()
    return LoadedGenerator(build_generator(config).eval(), config, step=0, source="init")


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def torch_ms(g: LoadedGenerator, threads: int, repeats: int) -> float:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        z = g.noise(COUNT, seed=0)
        labels = torch.arange(COUNT) % g.num_classes if g.num_classes else None
        return median_ms(lambda: g.generate(z, labels), repeats)
    finally:
        torch.set_num_threads(before)


def browser_ms(page_folder: Path, g: LoadedGenerator, repeats: int) -> tuple[float, float, float]:
    """(load ms, draw ms, G-only ms) of the exported page in headless Chromium, opened from file://."""
    import playwright.sync_api as playwright

    z = g.noise(COUNT, seed=0).tolist()
    labels = [i % g.num_classes for i in range(COUNT)] if g.num_classes else None
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        start = time.perf_counter()
        page.goto((page_folder / "index.html").as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=300_000)
        load = (time.perf_counter() - start) * 1000
        timed = """async ([z, labels, repeats, draw]) => {
          const run = () => draw ? window.dcgan.drawNoise(z, labels) : window.dcgan.generate(z, labels);
          await run();
          const times = [];
          for (let i = 0; i < repeats; i++) {
            const start = performance.now();
            await run();
            times.push(performance.now() - start);
          }
          times.sort((a, b) => a - b);
          return times[Math.floor(times.length / 2)];
        }"""
        draw = page.evaluate(timed, [z, labels, repeats, True])
        only = page.evaluate(timed, [z, labels, repeats, False])
        browser.close()
    return load, draw, only


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="28,64", help="image sizes of default networks (default: 28,64)")
    parser.add_argument("--width", type=int, default=64, help="g_width of those networks (default: 64, the "
                        "package's default)")
    parser.add_argument("--run", help="a run folder or checkpoint to measure instead")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds, median reported (default: 5)")
    args = parser.parse_args(argv)

    load = os.getloadavg()
    print(f"python {' '.join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])])}")
    print(machine_line() + f"; {os.cpu_count()} CPUs; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
          f"(1 / 5 / 15 min) at the start")
    generators = ([load_generator(args.run)] if args.run else
                  [generator_of(int(s), args.width) for s in args.sizes.split(",")])
    print(f"\n{COUNT} images a round, median of {args.repeats} rounds (ms)\n")
    print("| generator | G parameters | generator.onnx | page | page: load | page: draw | page: G only | "
          "PyTorch, 1 thread | PyTorch, " + f"{torch.get_num_threads()} threads | draw / PyTorch 1 thread |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for g in generators:
        cfg = g.config
        with tempfile.TemporaryDirectory() as tmp:
            # The page as `dcgan export --format page` writes it, from one ONNX export (they take seconds).
            onnx, page = Path(tmp) / "generator.onnx", Path(tmp) / "page"
            details = write_onnx(g, onnx)
            page.mkdir()
            write_page(page, onnx.read_bytes(), build_manifest(g, "page", read_run(None), "model.js", details))
            load_ms, draw_ms, only_ms = browser_ms(page, g, args.repeats)
            sizes = onnx.stat().st_size, folder_bytes(page)
        one, many = torch_ms(g, 1, args.repeats), torch_ms(g, torch.get_num_threads(), args.repeats)
        name = (f"{cfg.image_size}x{cfg.image_size}x{cfg.channels}, width {cfg.g_width}"
                + (f", {g.num_classes} classes" if g.num_classes else ""))
        print(f"| {name} | {sum(p.numel() for p in g.model.parameters()):,} | {sizes[0] / 1e6:.1f} MB | "
              f"{sizes[1] / 1e6:.1f} MB | {load_ms:.0f} | {draw_ms:.1f} | {only_ms:.1f} | {one:.1f} | {many:.1f} | "
              f"{draw_ms / one:.1f}x |", flush=True)
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    main()
