"""Where the 64x64 step's time goes on a CPU, and how close each convolution runs to a matrix product of the
same shape (docs/performance.md, "Why MFU at 64x64 stops where it does").

    python scripts/conv_vs_gemm.py                          # 64x64, batch 64
    python scripts/conv_vs_gemm.py --image-size 64 --batch-size 128
    python scripts/conv_vs_gemm.py --image-size 28 --width 32 --batch-size 16   # the defaults' convolutions

For every convolution of G and D this times its forward + backward pass as training runs it (channels_last,
oneDNN) and the three matrix products an im2col convolution would need for the same FLOPs (forward,
gradient of the input, gradient of the weight), without im2col's copies: the speed `torch.matmul` (MKL) reaches
at these shapes is what a convolution could hope for by lowering to GEMM. The model FLOP utilisation of
`dcgan bench` divides by a large square matmul's speed, which these shapes do not reach.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dcgan.bench import bench_data, machine_line, matmul_peak_gflops, trainer_step
from dcgan.config import TrainConfig
from dcgan.models import build_discriminator, build_generator


def median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def conv_inputs(net: nn.Module, example: torch.Tensor) -> list[tuple[nn.Module, torch.Size]]:
    """Each convolution of net with the shape of its input in a forward pass of example."""
    found = []
    hooks = [m.register_forward_hook(lambda m, i, o: found.append((m, i[0].shape)))
             for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        net(example)
    for hook in hooks:
        hook.remove()
    return found


def gemm_shapes(layer: nn.Module, shape: torch.Size) -> tuple[int, int, int]:
    """(rows, inner, columns) of the im2col product. A transposed convolution is the adjoint of the convolution
    from its output back to its input, so it needs the same three products with the roles exchanged."""
    k = layer.kernel_size[0] * layer.kernel_size[1]
    if isinstance(layer, nn.ConvTranspose2d):
        return shape[0] * shape[2] * shape[3], layer.out_channels * k, layer.in_channels
    out = [(size + 2 * p - kk) // s + 1 for size, p, kk, s in
           zip(shape[2:], layer.padding, layer.kernel_size, layer.stride)]
    return shape[0] * out[0] * out[1], layer.in_channels * k, layer.out_channels


def step_profile(config: TrainConfig, steps: int = 50) -> tuple[float, float, float]:
    """A real training step's FLOPs, its median seconds over `steps` unprofiled steps, and the share of its CPU
    time spent in convolution kernels (torch.profiler over 3 more)."""
    _, step = trainer_step(config, bench_data(config)[0])
    with FlopCounterMode(display=False) as counter:
        step(0)
    seconds = []
    for i in range(1, steps + 1):
        start = time.perf_counter()
        step(i)
        seconds.append(time.perf_counter() - start)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for i in range(3):
            step(i)
    events = profile.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    share = sum(e.self_cpu_time_total for e in events if "convolution" in e.key) / total
    return counter.get_total_flops(), sorted(seconds)[len(seconds) // 2], share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, help="G's and D's widths (default: the paper's 64)")
    parser.add_argument("--minibatch-discrimination", type=int, default=0, metavar="KERNELS",
                        help="D's layer in the step whose convolution share is measured (default: 0, the paper's D)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    widths = {"g_width": args.width, "d_width": args.width} if args.width else {}
    config = TrainConfig.from_dict({"image_size": args.image_size, "batch_size": args.batch_size, **widths,
                                    "minibatch_discrimination": args.minibatch_discrimination}).resolved()
    # The layers of the paper's D: minibatch discrimination's features reach D's head beside its convolution.
    G, D = build_generator(config), build_discriminator(dataclasses.replace(config, minibatch_discrimination=0))
    images = torch.randn(args.batch_size, config.channels, args.image_size, args.image_size)
    layers = [(f"{name}{i}", *found) for name, net, example in
              (("G", G, torch.randn(args.batch_size, config.latent_dim)), ("D", D, images))
              for i, found in enumerate(conv_inputs(net, example))]
    peak = matmul_peak_gflops(torch.device("cpu"))
    print(f"{machine_line()}; square matmul peak {peak:.0f} GFLOP/s\n")
    print("| layer | input | GFLOP fwd+bwd | ms | conv GFLOP/s | GEMM GFLOP/s, same shapes | conv / GEMM | share of "
          "conv time |")
    print("|---|---|---|---|---|---|---|---|")
    rows, total_ms = [], 0.0
    for name, layer, shape in layers:
        layer = layer.to(memory_format=torch.channels_last)
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(name != "G0")  # nothing flows back into z; into D's input it does (G's update)
        grad = torch.randn_like(layer(x))

        def step():
            layer.zero_grad(set_to_none=True)
            layer(x).backward(grad)

        with FlopCounterMode(display=False) as counter:
            step()
        flops = counter.get_total_flops()
        seconds = median_seconds(step, args.repeats)
        m, k, n = gemm_shapes(layer, shape)
        a, b, c = torch.randn(m, k), torch.randn(k, n), torch.randn(m, n)
        # forward (m,k)@(k,n); weight gradient (k,m)@(m,n); input gradient (m,n)@(n,k) unless it is not needed
        products = [lambda: a @ b, lambda: a.T @ c] + ([lambda: c @ b.T] if x.requires_grad else [])
        gemm = median_seconds(lambda: [p() for p in products], args.repeats)
        gemm_flops = len(products) * 2 * m * k * n
        rows.append((name, tuple(shape), flops, seconds, gemm_flops / gemm))
        total_ms += seconds * 1000
    for label, shape, flops, seconds, gemm_speed in rows:
        speed = flops / seconds / 1e9
        print(f"| {label} | {'x'.join(map(str, shape))} | {flops / 1e9:.3g} | {seconds * 1000:.3g} | {speed:.0f} | "
              f"{gemm_speed / 1e9:.0f} | {speed / (gemm_speed / 1e9):.0%} | {seconds * 1000 / total_ms:.0%} |")
    flops = sum(r[2] for r in rows)
    print(f"\nall convolutions: {flops / 1e9:.3g} GFLOP in {total_ms:.3g} ms = {flops / total_ms / 1e6:.0f} GFLOP/s "
          f"({flops / total_ms / 1e6 / peak:.0%} of the square matmul peak)")
    step_flops, step_seconds, share = step_profile(config)
    print(f"share of a training step's time in convolutions: {share:.0%}")
    print(f"the step (median of 50): {step_flops / 1e9:.3g} GFLOP in {step_seconds * 1000:.3g} ms = "
          f"{step_flops / step_seconds / 1e9 / peak:.0%} MFU")


if __name__ == "__main__":
    main()
