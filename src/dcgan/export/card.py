"""What an export says about itself: manifest.json (for programs) and MODEL_CARD.md (for people).

Both are built from the loaded generator and the run folder's own files (config.json, run.json, metrics.jsonl,
eval.json). No local path leaves the machine: run, checkpoint and dataset folders appear by name only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from dcgan.config import TrainConfig
from dcgan.datasets import DATASETS, FOLDER_PREFIX, folder_path, is_folder
from dcgan.losses import LOSSES
from dcgan.rundir import RunFolder
from dcgan.sampling import LoadedGenerator

MANIFEST_FILE = "manifest.json"
CARD_FILE = "MODEL_CARD.md"
SAMPLES_FILE = "samples.png"
MANIFEST_FORMAT = "dcgan-export"
MANIFEST_VERSION = 1
TO_PIXELS = ("pixel = clamp(round((x + 1) * 127.5), 0, 255) as uint8, round half to even (torch.round); "
             "NCHW: move channels last (HWC) for image files")

FOLDER_LICENCE = "your own images: their licence is not known to dcgan; state it before sharing this model"

# The config groups a recipe shows (the rest is where and how fast it ran, not what it learned).
RECIPE_GROUPS = ("model", "optim", "technique", "length")
# Options that only matter with another one.
IRRELEVANT = {"gp_weight": lambda c: c.get("loss") in LOSSES and LOSSES[c["loss"]].gradient_penalty,
              "d_conditioning": lambda c: c.get("conditional"),
              "num_classes": lambda c: c.get("conditional")}


@dataclass
class RunInfo:
    """What the run folder knows beyond the checkpoint: None when the export has no run folder."""

    name: str | None = None
    record: dict | None = None  # run.json
    evaluation: dict | None = None  # eval.json
    training_seconds: float | None = None


def read_run(run_dir: Path | None) -> RunInfo:
    if run_dir is None:
        return RunInfo()
    folder = RunFolder(run_dir)
    record = folder.record()
    record = record if isinstance(record, dict) else None
    sessions = record.get("sessions", []) if record else []
    starts = [s.get("from_step", 0) for s in sessions if isinstance(s, dict)]
    evaluation = folder.evaluation()
    return RunInfo(run_dir.name, record, evaluation if isinstance(evaluation, dict) else None,
                   training_seconds(folder.rows(), starts))


def training_seconds(rows: list[dict], session_starts: list[int]) -> float | None:
    """Wall-clock training time from metrics.jsonl: the time between consecutive logged steps, except across
    a resume (a session that resumed from step s logs steps after s; the gap before it is not training)."""
    logged = [(r["step"], r["time"]) for r in rows if r.get("event") is None and isinstance(r.get("step"), int)
              and isinstance(r.get("time"), (int, float))]
    if len(logged) < 2:
        return None
    total = 0.0
    for (s0, t0), (s1, t1) in zip(logged, logged[1:]):
        if s1 > s0 and t1 >= t0 and not any(s0 <= start < s1 for start in session_starts[1:]):
            total += t1 - t0
    return total


def public_dataset(dataset: str) -> str:
    """The dataset without the local path of a folder: folder:/home/me/photos -> folder:photos."""
    if is_folder(dataset):
        return FOLDER_PREFIX + Path(folder_path(dataset)).name
    return dataset


def data_licence(dataset: str) -> str:
    return FOLDER_LICENCE if is_folder(dataset) else DATASETS[dataset].licence if dataset in DATASETS else "unknown"


def public_config(config: TrainConfig) -> dict[str, Any]:
    values = config.to_dict()
    values.pop("data_dir", None)
    values["dataset"] = public_dataset(config.dataset)
    return values


def training_summary(g: LoadedGenerator, run: RunInfo) -> dict[str, Any]:
    sessions = [s for s in (run.record or {}).get("sessions", []) if isinstance(s, dict)]
    dataset = sessions[0].get("dataset", {}) if sessions else {}
    return {
        "steps": g.step, "seconds": round(run.training_seconds, 1) if run.training_seconds is not None else None,
        "sessions": len(sessions) or None,
        "devices": sorted({str(s.get("device")) for s in sessions if s.get("device")}),
        "processes": max((int(s.get("processes") or 1) for s in sessions), default=None),
        "versions": sessions[-1].get("versions") if sessions else None,
        "seed": (run.record or {}).get("seed"),
        "images": dataset.get("images"), "data_fingerprint": dataset.get("fingerprint"),
    }


def evaluation_summary(run: RunInfo) -> dict[str, Any] | None:
    report = run.evaluation
    if not report:
        return None
    source = report.get("source") or {}
    features = report.get("features") or {}
    return {"step": source.get("step"), "checkpoint": Path(str(source.get("checkpoint") or "")).name or None,
            "samples": report.get("samples"), "reference_images": report.get("reference_images"),
            "features": features.get("name"), "feature_space": features.get("space"),
            "metrics": {k: v for k, v in (report.get("metrics") or {}).items()
                        if isinstance(v, (int, float)) and math.isfinite(v)},
            "created": report.get("created")}


def build_manifest(g: LoadedGenerator, format: str, run: RunInfo, model_file: str,
                   details: dict[str, Any]) -> dict[str, Any]:
    """manifest.json: enough to call the model from any language, and where it came from."""
    from dcgan import __version__

    cfg, count = g.config, g.num_classes
    inputs = [{"name": "z", "dtype": "float32", "shape": ["batch", cfg.latent_dim],
               "meaning": "noise z ~ N(0, I), one row per image"}]
    if count:
        inputs.append({"name": "label", "dtype": "int64", "shape": ["batch"],
                       "meaning": f"the class of each image, 0 to {count - 1} (class_names[label])"})
    return {
        "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "export_format": format,
        "model_file": model_file, "created": datetime.now().isoformat(timespec="seconds"),
        "dcgan_version": __version__, "torch_version": torch.__version__,
        "latent_dim": cfg.latent_dim, "image_size": cfg.image_size, "channels": cfg.channels,
        "num_classes": count, "class_names": g.classes,
        "inputs": inputs,
        "output": {"name": "image", "dtype": "float32", "shape": ["batch", cfg.channels, cfg.image_size,
                                                                  cfg.image_size],
                   "layout": "NCHW", "range": [-1.0, 1.0], "color": "grey" if cfg.channels == 1 else "RGB",
                   "to_pixels": TO_PIXELS},
        "weights": f"exponential moving average of G (decay {cfg.ema})" if cfg.ema else "G",
        "architecture": generator_layers(g),
        "export": {"format": format, **details},
        "source": {"run": run.name, "checkpoint": Path(g.source).name, "step": g.step,
                   "dataset": public_dataset(cfg.dataset), "config": public_config(cfg)},
        "data_licence": data_licence(cfg.dataset),
        "training": training_summary(g, run),
        "evaluation": evaluation_summary(run),
    }


def generator_layers(g: LoadedGenerator) -> list[dict[str, Any]]:
    """G's layers in the order they run, each as PyTorch writes the module (kernel, stride, padding) with its
    output shape: with the weights' names (layer.weight, ...) enough to rebuild G without dcgan."""
    from dcgan.summary import summarize

    modules = dict(g.model.named_modules())
    z = torch.zeros(1, g.config.latent_dim, device=g.device)
    labels = (torch.zeros(1, dtype=torch.long, device=g.device),) if g.num_classes else ()
    return [{"name": r.name, "module": repr(modules[r.name]), "output_shape": r.output_shape}
            for r in summarize(g.model, z, *labels)]


# --- The model card -----------------------------------------------------------------------------------------

def model_card(manifest: dict[str, Any], run: RunInfo) -> str:
    m = manifest
    size, channels, count = m["image_size"], m["channels"], m["num_classes"]
    what = f"{size}x{size} {'grey' if channels == 1 else 'colour'} images"
    source = m["source"]
    title = f"`{source['run']}`" if source["run"] else f"`{source['checkpoint']}`"
    lines = [
        f"# Model card: DCGAN generator {title}, step {source['step']:,}", "",
        f"A Deep Convolutional GAN generator (Radford et al. 2015) trained with dcgan {m['dcgan_version']} on "
        f"{source['dataset']}: noise z of {m['latent_dim']} numbers"
        + (f" and a class ({count} classes)" if count else "") + f" in, {what} out. Exported as "
        f"{m['export_format']} on {m['created'][:10]}; weights: {m['weights']}.", "",
        f"![samples]({SAMPLES_FILE})", "",
        ("*One row per class, eight columns; each column shares its noise (seed 0).*" if count else
         "*64 samples from the noise of seed 0 (`torch.randn` with `torch.Generator().manual_seed(0)`).*"), "",
        *usage(m), *architecture_section(m), *data_section(m), *recipe_section(m), *training_section(m),
        *evaluation_section(m, run),
        *limits_section(m), "## Licence", "",
        f"- Data: {m['data_licence']}.",
        "- The weights are derived from that data: share them on terms that respect its licence.",
        "- dcgan is MIT-licensed." + (" The page's onnxruntime-web (Microsoft) is MIT-licensed: "
                                      "`onnxruntime-web/LICENSE.txt`." if m["export_format"] == "page" else ""), "",
    ]
    return "\n".join(lines)


def usage(m: dict[str, Any]) -> list[str]:
    count, latent = m["num_classes"], m["latent_dim"]
    fmt = m["export_format"]
    lines = ["## Use", "",
             f"- Input `z`: float32 (batch, {latent}), drawn from N(0, I)."
             + (f" Input `label`: int64 (batch,), 0 to {count - 1}: "
                + ", ".join(f"{i} {n}" for i, n in enumerate(m["class_names"])) + "." if count else ""),
             f"- Output `image`: float32 (batch, {m['channels']}, {m['image_size']}, {m['image_size']}) in "
             f"[-1, 1]. To pixels: {m['output']['to_pixels']}.",
             "- Batch size is free; every image depends only on its own z (BatchNorm uses its running "
             "statistics).", ""]
    feeds = '{"z": z' + (', "label": np.arange(16) % ' + str(count) if count else "") + "}"
    if fmt == "onnx":
        lines += ["```python", "import numpy as np, onnxruntime as ort",
                  'session = ort.InferenceSession("generator.onnx")',
                  f"z = np.random.default_rng(0).standard_normal((16, {latent}), dtype=np.float32)",
                  f"images = session.run(None, {feeds})[0]",
                  "pixels = np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8)", "```", ""]
    elif fmt == "torchscript":
        label = ", torch.arange(16) % " + str(count) if count else ""
        lines += ["```python", "import torch", 'g = torch.jit.load("generator.pt")',
                  f"images = g(torch.randn(16, {latent}){label})",
                  "pixels = images.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)", "```", ""]
    elif fmt == "safetensors":
        lines += ["```python", "from dcgan import load_generator", 'g = load_generator("generator.safetensors")',
                  "g.sample(16, seed=0).save(\"grid.png\")", "```", ""]
    else:
        lines += ["Open `index.html` in a browser, from the file system or any static host: it draws the "
                  "images itself with onnxruntime-web's WebAssembly build and needs no network.", ""]
    return lines


def architecture_section(m: dict[str, Any]) -> list[str]:
    if not m.get("architecture"):
        return []
    joined = "z joined by its class's learned embedding (`embed`: z first)" if m["num_classes"] else "z"
    lines = ["## Architecture", "",
             f"{joined}, reshaped to a 1x1 map (batch, length, 1, 1), through these layers in order (Radford et "
             f"al. 2015: transposed convolutions, BatchNorm and ReLU, Tanh out); each layer's weights are named "
             f"after it (`{m['architecture'][0]['name']}.weight`, ...):", "",
             "| layer | module | output |", "|---|---|---|"]
    lines += [f"| `{layer['name']}` | `{layer['module']}` | {' x '.join(map(str, layer['output_shape']))} |"
              for layer in m["architecture"]]
    return lines + [""]


def data_section(m: dict[str, Any]) -> list[str]:
    t = m["training"]
    facts = [f"- Dataset: {m['source']['dataset']}"
             + (f", {t['images']:,} training images" if t.get("images") else "")
             + (f" (fingerprint `{t['data_fingerprint']}`: sha256 of the pixels and labels)"
                if t.get("data_fingerprint") else "") + ".",
             f"- Licence: {m['data_licence']}."]
    return ["## Data", "", *facts, ""]


def recipe_section(m: dict[str, Any]) -> list[str]:
    config = m["source"]["config"]
    rows = []
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("group") not in RECIPE_GROUPS or config.get(f.name) is None:
            continue
        value = config[f.name]
        if f.name in IRRELEVANT and not IRRELEVANT[f.name](config):
            continue
        if value in ("", 0, 0.0, False) and f.name != "conditional" and value == f.default:
            continue  # a technique that is off
        rows.append(f"| `{f.name}` | {cell(value)} | {cell(f.metadata.get('help', ''))} |")
    return ["## Training recipe", "",
            "The options of the run that shape the model (techniques that were off are left out; manifest.json "
            "has the whole resolved config):", "",
            "| option | value | meaning |", "|---|---|---|", *rows, ""]


def training_section(m: dict[str, Any]) -> list[str]:
    t = m["training"]
    seconds = t.get("seconds")
    when = f"about {duration(seconds)} of wall-clock training" if seconds is not None else "an unknown time"
    devices = ", ".join(t["devices"]) if t.get("devices") else "an unknown device"
    procs = f" x {t['processes']} processes" if (t.get("processes") or 1) > 1 else ""
    versions = t.get("versions") or {}
    line = (f"{t['steps']:,} steps in {when} on {devices}{procs}"
            + (f", over {t['sessions']} sessions" if (t.get("sessions") or 1) > 1 else "")
            + (f"; torch {versions['torch']}" if versions.get("torch") else "")
            + (f"; seed {t['seed']}" if t.get("seed") is not None else "") + ".")
    return ["## Training time and device", "", line,
            "(Time between the first and last logged steps of each session, from metrics.jsonl.)", ""]


def cell(value: Any) -> str:
    """Text for a Markdown table cell: a | would end the cell."""
    return str(value).replace("|", "\\|")


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def evaluation_section(m: dict[str, Any], run: RunInfo) -> list[str]:
    e = m["evaluation"]
    if not e:
        return ["## Evaluation", "",
                f"Not evaluated. `dcgan eval runs/{m['source']['run'] or '<name>'}` writes eval.json (FID, KID, "
                f"precision/recall, class coverage, copies); export again to include it here.", ""]
    from dcgan.metrics.evaluate import EvalReport

    fields = {f.name for f in dataclasses.fields(EvalReport)}
    try:
        rows = EvalReport(**{k: v for k, v in run.evaluation.items() if k in fields}).rows()
    except (TypeError, KeyError, ValueError):
        rows = [(k, f"{v:.4g}", "") for k, v in e["metrics"].items()]
    lines = ["## Evaluation", "",
             f"`dcgan eval` of step {e['step']:,}" if isinstance(e.get("step"), int) else "`dcgan eval`",
             ]
    lines[-1] += (f": {e['samples']:,} samples against {e['reference_images']:,} real images in the feature "
                  f"space of {e['features']}." if e.get("samples") and e.get("reference_images") else ".")
    if isinstance(e.get("step"), int) and e["step"] != m["source"]["step"]:
        lines.append(f"**The evaluation is of step {e['step']:,}; this export is step {m['source']['step']:,}.**")
    lines += ["", "| metric | value | meaning |", "|---|---|---|",
              *[f"| {cell(label)} | {cell(value)} | {cell(meaning)} |" for label, value, meaning in rows], ""]
    return lines


def limits_section(m: dict[str, Any]) -> list[str]:
    e = m["evaluation"] or {}
    space = e.get("feature_space")
    lines = ["## Known limits", "",
             f"- It draws {m['image_size']}x{m['image_size']} images like those of {m['source']['dataset']} and "
             f"nothing else; z far from N(0, I) (large norms, the middle of a straight line between two draws) "
             f"gives images the generator was not trained for.",
             "- The evaluation compares distributions of features, not single images: it does not say whether a "
             "given image looks right to a person, and one bad image can hide in a good score.",
             ]
    if space == "classifier":
        lines.append("- Its features come from dcgan's small domain classifier, not Inception-v3: the FID and KID "
                     "here compare runs of this package, not numbers published for other models.")
    elif space == "inception":
        lines.append("- FID depends on the number of samples and the reference set: compare only numbers made "
                     "the same way.")
    lines += ["- The copy check (nearest neighbours in feature space) catches near-duplicates of training "
              "images; it is no guarantee of privacy for the people or works in the data.",
              "- Nothing here measures bias: which kinds of images are over- or under-produced beyond the class "
              "histogram, or how the data was collected.",
              ]
    if m["num_classes"]:
        lines.append("- Whether an image shows the class it was asked for is measured only through the class "
                     "histogram of the evaluation, when there is one.")
    return lines + [""]
