"""`dcgan export`: a generator for people and programs without this package (ONNX, TorchScript, safetensors,
or a web page that generates in the browser), with a manifest and a model card."""

from __future__ import annotations

import argparse

from dcgan.commands import add_checkpoint_option

FORMAT_HELP = ("onnx (generator.onnx, dynamic batch), torchscript (generator.pt), safetensors (weights and "
               "config) or page (index.html that generates in the browser, offline, also from the file system)")


def register(p) -> None:
    from dcgan.export import FORMATS

    p.description = ("Write a run's generator (its EMA weights when it keeps them) into a folder "
                     "with manifest.json (inputs, outputs, how to turn outputs into pixels, source "
                     "and evaluation), MODEL_CARD.md and samples.png. See docs/export.md.")
    p.add_argument("run", help="runs/<name>, a checkpoint .pt file or a generator.safetensors")
    p.add_argument("--format", choices=FORMATS, default="onnx", help=f"{FORMAT_HELP} (default: onnx)")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write; it must not exist or be "
                   "empty (it is written complete or not at all)")
    add_checkpoint_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.export import export_run
    from dcgan.rundir import checkpoint_in

    done = export_run(args.run, args.out, format=args.format, checkpoint=checkpoint_in(args.run, args.checkpoint))
    source = done.manifest["source"]
    print(f"exported {source['run'] or source['checkpoint']} (step {source['step']}) as {done.format} to "
          f"{done.folder}: {', '.join(done.files)} ({done.bytes / 1e6:.1f} MB)")
    if done.format == "page":
        print(f"open {done.folder / 'index.html'} in a browser (from the file system or any static host)")
    return 0
