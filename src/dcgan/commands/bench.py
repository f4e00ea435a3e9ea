"""`dcgan bench`: throughput of the trainer's step and of generation, against a textbook loop in the same run."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from dcgan.config import TrainConfig


def register(p) -> None:
    p.description = ("Time the trainer's real step and generation (images/s, FLOPs, model FLOP "
                     "utilisation against this device's measured matmul peak) and a plain textbook "
                     "DCGAN loop of the same architecture, in the same run.")
    p.add_argument("--dataset", default="fashion-mnist", help="dataset to read (default: fashion-mnist)")
    p.add_argument("--image-size", type=int, default=64, help="training resolution (default: 64)")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    p.add_argument("--g-width", type=int, default=64, help="generator width (default: 64)")
    p.add_argument("--d-width", type=int, default=64, help="discriminator width (default: 64)")
    p.add_argument("--minibatch-discrimination", type=int, default=None, metavar="K",
                   help="D's minibatch-discrimination kernels, in both loops (default: as dcgan train, 100; 0 = the "
                        "paper's networks)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="auto = bf16 on CUDA GPUs that support it, else fp32 (default: auto)")
    p.add_argument("--steps", type=int, default=20, help="timed steps for each loop (default: 20)")
    p.add_argument("--no-baseline", action="store_true", help="skip the textbook loop")
    p.add_argument("--levers", action="store_true", help="also time the trainer with each speed lever changed")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.bench import run_bench
    from dcgan.console import progress_lines
    from dcgan.errors import ConfigError

    if args.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {args.steps}")
    config = TrainConfig.from_dict({"dataset": args.dataset, "image_size": args.image_size,
                                    "batch_size": args.batch_size, "g_width": args.g_width, "d_width": args.d_width,
                                    "device": args.device, "precision": args.precision, "seed": 0, "steps": 1,
                                    "minibatch_discrimination": args.minibatch_discrimination})
    result = run_bench(config, args.steps, baseline=not args.no_baseline, levers=args.levers,
                       progress=progress_lines(quiet=args.json, prefix="... "))
    result["command"] = "dcgan " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_report(result))
    return 0


def format_report(r: dict) -> str:
    c = r["config"]
    lines = [f"dcgan bench: {c['dataset']} {c['image_size']}x{c['image_size']}, batch {c['batch_size']}, "
             f"widths {c['g_width']}/{c['d_width']}, minibatch discrimination "
             f"{c['minibatch_discrimination'] or 'off'}, {c['precision']}, device {r['device']} "
             f"({r['threads']} threads, "
             f"OMP_WAIT_POLICY {r['omp_wait_policy']}), "
             f"torch {r['torch']}",
             f"data: {r['data']}",
             f"cpu: {r['cpu']['capability']}, native bf16: {'yes' if r['cpu']['native_bf16'] else 'no'}",
             f"matmul peak ({r['peak_dtype']}): {r['peak_gflops']:.1f} GFLOP/s"
             + (f" (the best of {', '.join(f'{name} {v:.0f}' for name, v in r['peaks'].items())})"
                if len(r.get("peaks", {})) > 1 else ""),
             "",
             f"{'':<22}{'images/s':>10}{'GFLOP/img':>11}{'GFLOP/s':>10}{'MFU':>7}"]

    def row(name: str, d: dict) -> str:
        return (f"{name:<22}{d['images_per_s']:>10.1f}{d['gflop_per_image']:>11.3f}"
                f"{d['images_per_s'] * d['gflop_per_image']:>10.1f}{d['mfu']:>7.0%}")

    lines.append(row("train (dcgan)", r["train"]))
    if "baseline" in r:
        lines.append(row("train (textbook loop)", r["baseline"]))
    lines.append(row("generate (batch 64)", r["generate"]))
    if "speedup" in r:
        lines.append(f"\nspeed-up over the textbook loop: {r['speedup']:.2f}x")
    lines.append(f"generate 64 images: {r['generate']['ms_per_batch']:.1f} ms (median)")
    lines.append(f"peak resident memory of training and generating: {r['peak_rss_mb']:.0f} MB")
    if "levers" in r:
        base = r["levers"]["defaults"]["images_per_s"]
        lines.append("\nlevers (one change from the defaults):")
        for name, d in r["levers"].items():
            lines.append(f"  {name:<20}{d['images_per_s']:>10.1f} images/s  {d['images_per_s'] / base:>6.2f}x")
    lines.append(f"\nreproduce: {r['command']}")
    return "\n".join(lines)
