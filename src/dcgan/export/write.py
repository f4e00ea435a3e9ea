"""Writing an export: the generator as a graph (ONNX, TorchScript) or weights (safetensors), then the manifest,
the model card and the samples, into a folder that appears complete or not at all (dcgan.export says what each
format holds)."""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dcgan.checkpoint import GENERATOR_FILE, atomic_folder, export_generator
from dcgan.errors import ConfigError
from dcgan.export import FORMATS
from dcgan.export.card import (CARD_FILE, MANIFEST_FILE, SAMPLES_FILE, build_manifest, model_card, public_config,
                               read_run)
from dcgan.rundir import checkpoint_in, run_of
from dcgan.sampling import LoadedGenerator, load_generator

MODEL_FILES = {"onnx": "generator.onnx", "torchscript": "generator.pt", "safetensors": GENERATOR_FILE}
PAGE_MODEL_FILE = "model.js"  # the page's copy of generator.onnx, base64 in a classic script
EXPORT_EXTRA = "pip install 'dcgan[export]' (onnx, onnxscript, onnxruntime)"


@dataclass
class Exported:
    """What an export wrote: the folder, its files (relative names) and the manifest."""

    folder: Path
    format: str
    files: list[str]
    manifest: dict

    @property
    def bytes(self) -> int:
        return sum((self.folder / f).stat().st_size for f in self.files)


# --- The generator as a graph with named inputs ---------------------------------------------------------------

class Unconditional(nn.Module):
    """G with one input, z (B, latent_dim) -> image (B, C, S, S): the exporters name inputs by position."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)


class Conditional(Unconditional):
    """A conditional G: z (B, latent_dim) and class labels (B,) int64 -> image (B, C, S, S)."""

    def forward(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.generator(z, label)


def graph_inputs(g: LoadedGenerator) -> tuple[nn.Module, tuple[torch.Tensor, ...], list[str]]:
    """(module, example inputs, input names) to trace. A copy of G: torch.export swaps a module's parameters
    for fake tensors while it traces, and the dashboard may be generating with the same G meanwhile. A batch
    of 2: an example batch of 1 would be specialised as a constant by torch.export (its 0/1 rule)."""
    model = copy.deepcopy(g.model).cpu().eval()
    z = torch.zeros(2, g.config.latent_dim)
    if g.num_classes:
        return Conditional(model), (z, torch.zeros(2, dtype=torch.long)), ["z", "label"]
    return Unconditional(model), (z,), ["z"]


def write_onnx(g: LoadedGenerator, path: Path) -> dict:
    """G as ONNX with a dynamic batch axis, from torch's current exporter (torch.export + onnxscript; the
    TorchScript-based one is deprecated since torch 2.9). BatchNorm is folded into the convolutions by its
    optimiser. Returns {"opset": ..., "exporter": ...} for the manifest."""
    if importlib.util.find_spec("onnxscript") is None or importlib.util.find_spec("onnx") is None:
        raise ConfigError(f"ONNX export needs the onnx and onnxscript packages: {EXPORT_EXTRA}", field="format")
    module, example, names = graph_inputs(g)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and shape-naming notices are not the user's
        program = torch.onnx.export(module, example, dynamo=True, verbose=False, input_names=names,
                                    output_names=["image"], dynamic_shapes=tuple({0: batch} for _ in example),
                                    external_data=False)
        program.save(str(path), external_data=False)
    _strip_onnx_provenance(path)
    opset = next((o.version for o in program.model_proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"opset": opset, "exporter": f"torch.onnx.export(dynamo=True), torch {torch.__version__}"}


def _strip_onnx_provenance(path: Path) -> None:
    """Drop the exporter's notes on each node (the Python stack that made it, with this machine's file paths, the
    module names): a shared model carries no local path, and a runtime reads none of them."""
    import onnx

    model = onnx.load(str(path))
    for graph_nodes in (model.graph.node, *(f.node for f in model.functions)):
        for node in graph_nodes:
            del node.metadata_props[:]
    del model.graph.metadata_props[:]
    onnx.save(model, str(path))


def write_torchscript(g: LoadedGenerator, path: Path) -> dict:
    """G traced to TorchScript. The trace records z's batch size symbolically, so any batch runs."""
    module, example, _ = graph_inputs(g)
    buffer = io.BytesIO()  # torch.jit.save aborts the process on a full disk (a C++ error): Python writes it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices are not the user's to act on
        traced = torch.jit.trace(module, example, check_trace=False, _store_inputs=False)
        torch.jit.save(traced, buffer)
    # Without the *.debug_pkl source maps (this machine's file paths, for tracebacks): a shared model carries no
    # local path, and torch.jit.load runs it all the same.
    shared = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as saved, zipfile.ZipFile(shared, "w") as kept:
        for info in saved.infolist():
            if not info.filename.endswith(".debug_pkl"):
                kept.writestr(info, saved.read(info))
    path.write_bytes(shared.getvalue())
    return {"exporter": f"torch.jit.trace, torch {torch.__version__}"}


# --- Whole exports -------------------------------------------------------------------------------------------

def export_run(target: str | os.PathLike, out: str | os.PathLike, format: str = "onnx",
               checkpoint: str | os.PathLike | None = None) -> Exported:
    """Export the generator of a run folder (its last checkpoint, or `checkpoint`), a checkpoint file or a
    generator.safetensors into the folder `out`, which must not exist yet or be empty."""
    checkpoint = checkpoint_in(os.path.expanduser(str(target)), checkpoint)  # never another run's
    source = Path(os.path.expanduser(str(checkpoint if checkpoint is not None else target)))
    g = load_generator(source)
    return export_loaded(g, out, format, run_dir=run_of(Path(os.path.expanduser(str(target)))))


def export_loaded(g: LoadedGenerator, out: str | os.PathLike, format: str = "onnx",
                  run_dir: Path | None = None) -> Exported:
    """Export a loaded generator into `out`, written in a temporary sibling folder and renamed into place, so
    `out` is either complete or absent."""
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}: choose from {', '.join(FORMATS)}", field="format")
    out = Path(os.path.expanduser(str(out)))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} already exists and is not an empty folder: choose another --out or remove it",
                          field="out")
    with atomic_folder(out) as tmp:
        exported = write_export(g, tmp, format, run_dir)
        shareable(tmp)
    exported.folder = out
    return exported


def shareable(folder: Path) -> None:
    """rwxr-xr-x folders and rw-r--r-- files: mkdtemp and safetensors make them private, and an export is
    meant to be read by others (a static web server, a colleague)."""
    for path in (folder, *folder.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)


def write_export(g: LoadedGenerator, folder: Path, format: str, run_dir: Path | None) -> Exported:
    """The export's files into an existing empty folder."""
    run = read_run(run_dir)
    files: list[str] = []
    details: dict = {}
    if format in ("onnx", "page"):
        model_path = folder / MODEL_FILES["onnx"]
        details = write_onnx(g, model_path)
    elif format == "torchscript":
        model_path = folder / MODEL_FILES["torchscript"]
        details = write_torchscript(g, model_path)
    else:
        model_path = folder / MODEL_FILES["safetensors"]
        export_generator(model_path, g.model, public_config(g.config), g.step, g.classes)
    manifest = build_manifest(g, format, run, details=details,
                              model_file=PAGE_MODEL_FILE if format == "page" else model_path.name)
    if format == "page":
        from dcgan.export.page import write_page

        files += write_page(folder, model_path.read_bytes(), manifest)
        model_path.unlink()  # the page carries the model in model.js; `--format onnx` gives the file itself
    else:
        files.append(model_path.name)
    samples = g.by_class(8, seed=0) if g.num_classes else g.sample(64, seed=0)
    samples.scale = 2 if g.config.image_size < 64 else 1
    samples.save(folder / SAMPLES_FILE)
    (folder / CARD_FILE).write_text(model_card(manifest, run), encoding="utf-8")
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    files += [SAMPLES_FILE, CARD_FILE, MANIFEST_FILE]
    return Exported(folder, format, sorted(files), manifest)


def export_zip(g: LoadedGenerator, format: str, run_dir: Path | None, name: str) -> bytes:
    """An export as zip bytes, its files under one folder `name` (what the dashboard downloads)."""
    with tempfile.TemporaryDirectory(prefix="dcgan-export-") as tmp:
        exported = export_loaded(g, Path(tmp) / name, format, run_dir)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for relative in exported.files:
                archive.write(exported.folder / relative, f"{name}/{relative}")
        return buffer.getvalue()
