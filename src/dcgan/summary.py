"""A model's layers, output shapes and parameter counts, measured by running the real model once."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from dcgan.models import build_discriminator, build_generator


@dataclass
class LayerRow:
    name: str  # dotted path in the module tree, e.g. main.0
    kind: str  # the module class, e.g. ConvTranspose2d
    output_shape: list[int]  # without the batch dimension
    params: int


def summarize(model: nn.Module, *inputs: torch.Tensor) -> list[LayerRow]:
    """Rows for every leaf module in forward order, from hooks on one forward pass of `inputs` (a conditional
    model's labels after its images or noise)."""
    rows: list[LayerRow] = []
    hooks = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:  # leaves only
            def hook(mod, _inputs, output, name=name):
                params = sum(p.numel() for p in mod.parameters(recurse=False))
                rows.append(LayerRow(name, type(mod).__name__, list(output.shape[1:]), params))
            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return rows


def architecture(config) -> dict[str, object]:
    """G's and D's layer tables for a resolved TrainConfig, as plain data (for the CLI and the dashboard)."""
    g, d = build_generator(config), build_discriminator(config)
    z = torch.zeros(2, config.latent_dim)
    x = torch.zeros(2, config.channels, config.image_size, config.image_size)
    # A conditional G and D take class labels after z or x: class 0 for both examples.
    labels = (torch.zeros(2, dtype=torch.long),) if config.conditional else ()
    return {
        name: {"layers": [asdict(r) for r in summarize(model, example, *labels)],
               "params": sum(p.numel() for p in model.parameters())}
        for name, model, example in (("generator", g, z), ("discriminator", d, x))
    }


def format_table(title: str, rows: list[dict], total: int) -> str:
    kind = max([18] + [len(r["kind"]) + 1 for r in rows])  # MinibatchDiscrimination is the longest
    lines = [title, f"  {'layer':<14}{'type':<{kind}}{'output shape':<18}{'params':>10}"]
    for r in rows:
        shape = "x".join(str(s) for s in r["output_shape"])
        lines.append(f"  {r['name']:<14}{r['kind']:<{kind}}{shape:<18}{r['params']:>10,}")
    lines.append(f"  {'total':<{32 + kind}}{total:>10,}")
    return "\n".join(lines)

