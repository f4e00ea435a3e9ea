"""The training step in a CUDA graph (`--cuda-graph`, on by default on CUDA): what it gains, and that it trains the
same. Needs a CUDA GPU.

The small networks' step on a GPU is a few hundred kernel launches of microseconds each: the launches, not the
arithmetic, set its time, and a CUDA graph replays them in one call (dcgan.step.CapturedStep). This script times
the trainer's real step with and without the graph (batch fetch included), on the same GPU and configuration, and
trains a few steps of each option set both ways from the same seed: the largest differences of losses and of
weights and BatchNorm statistics, with a live change of label smoothing and of D's learning rate halfway (the graph
is captured again) and D(G(z)) after G's update on every fifth step. Expected: 0 for each, as between two eager
runs (the first row measures that floor).

    python scripts/cuda_graph_step.py                           # the defaults: 28x28, widths 32, batch 16
    python scripts/cuda_graph_step.py --set image_size=64 batch_size=128 g_width=64 d_width=64 --no-check
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from dcgan.bench import bench_data
from dcgan.config import TrainConfig
from dcgan.training import Trainer

# Option sets checked against eager steps: the defaults, then what changes the captured step.
CHECKS = [{}, {"lr_schedule": "cosine"}, {"d_steps": 2}, {"loss": "wgan-gp"},
          {"diffaugment": "translation,cutout,color"}, {"conditional": True}, {"feature_matching": True},
          {"spectral_norm": True}, {"loss": "hinge"}, {"r1": 1.0}]


def make_trainer(config: TrainConfig, data, graph: bool) -> Trainer:
    return Trainer(TrainConfig(**{**config.to_dict(), "cuda_graph": graph}), data=data, write_files=False).setup()


def run_steps(trainer: Trainer, steps: int, after_every: int = 0, change_at: int = -1) -> list[dict]:
    outs = []
    for i in range(steps):
        if i == change_at:  # as a live change from the dashboard lands between steps
            trainer.config.label_smoothing = 0.2
            trainer.config.lr_d = trainer.config.lr_d / 2
        outs.append(trainer.train_step(*trainer.next_batch(), with_after=after_every > 0 and i % after_every == 0))
        trainer.step += 1
    return outs


def ms_per_step(trainer: Trainer, steps: int, warmup: int = 10) -> float:
    """Milliseconds per step after warm-up steps, batch fetch included; one host sync at each end."""
    run_steps(trainer, warmup)
    torch.cuda.synchronize()
    start = time.perf_counter()
    run_steps(trainer, steps)
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps * 1000


def trained(config: TrainConfig, data, graph: bool, steps: int) -> tuple[list[dict], list[torch.Tensor]]:
    trainer = make_trainer(config, data, graph)
    outs = run_steps(trainer, steps, after_every=5, change_at=steps // 2)
    weights = [t.detach().float().clone() for m in (trainer.G, trainer.D) for t in (*m.parameters(), *m.buffers())]
    return outs, weights


def largest_differences(a, b) -> dict[str, float]:
    (outs_a, weights_a), (outs_b, weights_b) = a, b
    assert [sorted(o) for o in outs_a] == [sorted(o) for o in outs_b], "the steps reported different values"
    return {"outputs": max((o[k].float() - p[k].float()).abs().item() for o, p in zip(outs_a, outs_b) for k in o),
            "weights": max((x - y).abs().max().item() for x, y in zip(weights_a, weights_b, strict=True))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="options changed from the defaults (JSON values), e.g. batch_size=128")
    parser.add_argument("--steps", type=int, default=300, help="timed steps (default: 300)")
    parser.add_argument("--check-steps", type=int, default=20, help="steps of each check (default: 20)")
    parser.add_argument("--no-check", action="store_true", help="time only")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("cuda_graph_step: no CUDA GPU here; this measures CUDA graphs", file=sys.stderr)
        return 2
    options = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    config = TrainConfig(dataset="fashion-mnist", seed=0, steps=10**6, device="cuda", **options).resolved("cuda")
    data, source = bench_data(config)
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "data": source, "options": options,
              "command": "python scripts/cuda_graph_step.py " + " ".join(sys.argv[1:])}
    ms = result["ms_per_step"] = {}
    for name, graph in (("eager", False), ("graph", True)):
        ms[name] = ms_per_step(make_trainer(config, data, graph), args.steps)
    result["images_per_s"] = {k: config.images_per_step() / v * 1000 for k, v in ms.items()}
    result["speedup"] = ms["eager"] / ms["graph"]
    print(json.dumps(result), flush=True)
    if not args.no_check:
        checks = result["checks"] = []
        floor = largest_differences(trained(config, data, False, args.check_steps),
                                    trained(config, data, False, args.check_steps))
        checks.append({"options": "eager against eager", **floor})
        for change in CHECKS:
            checked = TrainConfig(**{**config.to_dict(), "d_norm": "auto", "minibatch_discrimination": None,
                                     **change}).resolved("cuda")
            differences = largest_differences(trained(checked, data, True, args.check_steps),
                                              trained(checked, data, False, args.check_steps))
            checks.append({"options": change or "defaults", **differences})
            print(json.dumps(checks[-1]), flush=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
