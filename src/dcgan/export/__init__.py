"""Sharing a trained generator with people and programs that do not have this package.

    from dcgan.export import export_run
    done = export_run("runs/x", "share/x", format="onnx")   # generator.onnx, manifest.json, MODEL_CARD.md
    done = export_run("runs/x", "share/web", format="page")  # index.html that generates in the browser

Formats (FORMATS):
  onnx         generator.onnx from torch's exporter (torch.onnx.export, dynamo=True), a dynamic batch axis
  torchscript  generator.pt from torch.jit.trace: torch.jit.load runs it without this package
  safetensors  generator.safetensors: weights and config, no code (dcgan.load_generator reads it)
  page         index.html with the ONNX model and onnxruntime-web's WebAssembly build (dcgan.export.page)
Every export also holds manifest.json (inputs, outputs, how to turn outputs into pixels, where it came from),
MODEL_CARD.md and samples.png. The G exported is the one that samples: the EMA weights when the run keeps them
(dcgan.sampling.load_generator). The core never prints: these functions return what they wrote.
"""

from __future__ import annotations

import importlib

FORMATS = ("onnx", "torchscript", "safetensors", "page")

# The writers import torch (seconds); `dcgan export --help` and the server's schema need only FORMATS.
_EXPORTS = {name: "dcgan.export.write" for name in ("MODEL_FILES", "Exported", "export_run", "export_loaded",
                                                     "export_zip", "write_onnx", "write_torchscript")}
__all__ = ["FORMATS", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dcgan.export' has no attribute {name!r}")
