"""What the health monitor and the curves read when a logged row is one step of every ten (as rows were) or the
mean of the ten (as they are now): docs/evaluation.md, "Health monitor".

    python scripts/health_means.py                                              # the defaults, 3,000 steps
    python scripts/health_means.py --set lr_d=4e-3 lr_g=5e-5                    # a strong D
    python scripts/health_means.py --set d_width=64 g_width=8 minibatch_discrimination=0 lr_g=1e-4

Both series come from one run logged at every step (logging does not change what a step computes).
"""

from __future__ import annotations

import argparse

import numpy as np

from ablation import parse_value  # scripts/ is on the path of a script run from it
from dcgan import Trainer, TrainConfig
from dcgan.events import StepMetrics
from dcgan.metrics.health import HealthMonitor, loss_ratio
from dcgan.vocabulary import D_FAKE, D_REAL, LOSS_D, LOSS_G


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=10, help="steps per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="options changed from the defaults")
    args = parser.parse_args()

    rows: list[dict[str, float]] = []
    config = TrainConfig.from_dict({"steps": args.steps, "log_every": 1, "seed": args.seed, "tensorboard": False,
                                    **{k: parse_value(v) for k, v in (kv.split("=", 1) for kv in args.set)}})
    keep = lambda e: rows.append(e.metrics) if isinstance(e, StepMetrics) else None  # noqa: E731
    Trainer(config, write_files=False, subscribers=[keep]).run()
    names, k = (LOSS_D, LOSS_G, D_REAL, D_FAKE), args.every
    ends = range(k, len(rows) + 1, k)
    series = {f"one step of {k}": [(end, rows[end - 1]) for end in ends],
              f"the mean of {k}": [(end, {n: float(np.mean([r[n] for r in rows[end - k:end]])) for n in names})
                                   for end in ends]}
    print(f"{args.steps} steps, seed {args.seed}, {' '.join(args.set) or 'the defaults'}")
    print("| a row is | rows with D overpowering | overpower warning at | loss ratio median [p5, p95] | "
          "median change row to row: loss/G, D(x) |")
    print("|---|---|---|---|---|")
    for label, points in series.items():
        monitor = HealthMonitor(config.loss)
        warned = [step for step, m in points if monitor.observe_step(step, m)]
        over = sum(m[D_REAL] > 0.99 and m[D_FAKE] < 0.01 for _, m in points)
        ratios = [loss_ratio(config.loss, config.feature_matching, m) for _, m in points]
        ratios = np.array([r for r in ratios if r is not None] or [np.nan])
        change = [np.median(np.abs(np.diff([m[n] for _, m in points]))) for n in (LOSS_G, D_REAL)]
        print(f"| {label} | {over} of {len(points)} | {', '.join(map(str, warned)) or 'none'} | "
              f"{np.median(ratios):.2f} [{np.percentile(ratios, 5):.2f}, {np.percentile(ratios, 95):.2f}] | "
              f"{change[0]:.3f}, {change[1]:.3f} |")


if __name__ == "__main__":
    main()
