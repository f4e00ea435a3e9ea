"""Throughput benchmarks: the trainer's real step, generation, and a textbook DCGAN loop as the baseline.

The textbook loop is the one most tutorials teach (pytorch/examples dcgan): a torchvision-style dataset that
converts and transforms every sample in Python, a DataLoader with 2 worker processes, Sigmoid + BCELoss,
`.item()` after every loss, and D's weight gradients computed in G's update. It uses the same architecture
(our Generator and Discriminator), so the difference is the training loop alone.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time
from typing import Any, Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dcgan.config import TrainConfig, native_format
from dcgan.data import ImageData, epoch_order, load_dataset
from dcgan.device import cpu_has_native_bf16, resolve_device, resolve_precision
from dcgan.errors import DataError
from dcgan.models import build_discriminator, build_generator
from dcgan.training import Trainer


def peak_rss_mb() -> float:
    """The largest resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_line() -> str:
    """What the CPU numbers depend on, for the first line of a benchmark's output."""
    return (f"torch {torch.__version__}, {torch.get_num_threads()} threads (OMP_WAIT_POLICY "
            f"{os.environ.get('OMP_WAIT_POLICY', 'default')}), CPU vector unit "
            f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {cpu_has_native_bf16()}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def matmul_peaks(device: torch.device, dtype: torch.dtype = torch.float32, seconds: float = 3.0) -> dict[str, float]:
    """The best GFLOP/s of large square matrix products (2048 and 4096) by each library that computes the step's
    products: torch's matmul ("matmul": MKL on a CPU) and, on a CPU, the same product as a 1x1 convolution
    ("onednn": n pixels x n channels -> n channels, computed by oneDNN like the step's convolutions). On an AMD
    CPU with AVX-512 (machine A) MKL's matmul ran at half of oneDNN's (176-185 against 336-346 GFLOP/s), and
    measured against MKL alone the convolutions' MFU read up to 147%."""
    products = {"matmul": lambda a, b: a @ b}
    if device.type == "cpu":
        products["onednn"] = lambda a, b: torch.conv2d(a, b)
    peaks = {}
    for name, product in products.items():
        best = 0.0
        for n in (2048, 4096):
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            if name == "onednn":  # a: n pixels (an n x 1 map) of n channels; b: n filters of 1x1
                a = a.t().reshape(1, n, n, 1).contiguous(memory_format=torch.channels_last)
                b = b.t().reshape(n, n, 1, 1).contiguous(memory_format=torch.channels_last)
            product(a, b)
            _sync(device)
            reps, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds / 2 / len(products):
                product(a, b)
                reps += 1
                _sync(device)
            best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e9)
        peaks[name] = best
    return peaks


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype = torch.float32, seconds: float = 3.0) -> float:
    """The yardstick for model FLOP utilisation: the best of matmul_peaks."""
    return max(matmul_peaks(device, dtype, seconds).values())


def bench_data(config: TrainConfig) -> tuple[ImageData, str]:
    """Real Fashion-MNIST when it is on disk (the throughput does not depend on the pixels, but real data keeps
    the numbers honest), else random pixels of the same shape."""
    try:
        data = load_dataset(config.dataset, config.data_dir, config.image_size, config.channels, download=False)
        return data, f"{config.dataset} ({len(data)} images)"
    except DataError:
        images = torch.randint(0, 256, (8192, config.channels, config.image_size, config.image_size),
                               dtype=torch.uint8)
        return ImageData(images), "random pixels (the dataset is not on disk)"


def trainer_step(config: TrainConfig, data: ImageData) -> tuple[Trainer, Callable[[int], None]]:
    """A trainer that writes nothing, and a function running its real step i (batch fetch included)."""
    trainer = Trainer(config, data=data, write_files=False).setup()
    order = epoch_order(len(data), config.seed, 0)
    per_step = trainer.config.images_per_step()

    def step(i: int) -> None:
        i %= trainer.steps_per_epoch
        trainer.train_step(*trainer.batch(order[i * per_step:(i + 1) * per_step]))

    return trainer, step


def bench_trainer(config: TrainConfig, data: ImageData, steps: int, warmup: int = 3) -> dict[str, float]:
    """images/s and FLOPs of the trainer's real step (batch fetch included), after warm-up steps."""
    trainer, step = trainer_step(config, data)

    with FlopCounterMode(display=False) as counter:
        step(0)
    flops_per_image = counter.get_total_flops() / trainer.config.images_per_step()
    for i in range(warmup):
        step(i)
    _sync(trainer.device)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    _sync(trainer.device)
    seconds = time.perf_counter() - start
    images_per_s = steps * trainer.config.images_per_step() / seconds
    return {"images_per_s": images_per_s, "gflop_per_image": flops_per_image / 1e9,
            "gflops": images_per_s * flops_per_image / 1e9, "seconds": seconds, "device": str(trainer.device),
            "_trainer": trainer}


def bench_generate(trainer: Trainer, batch: int = 64, repeats: int = 10) -> dict[str, float]:
    """Generation with the trained G in eval mode: images/s and milliseconds per batch (median)."""
    g = trainer.sampling_generator.eval()
    z = torch.randn(batch, trainer.config.latent_dim, device=trainer.device)
    labels = torch.zeros(batch, dtype=torch.long, device=trainer.device) if trainer.config.conditional else None
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        g(z, labels)
    times = []
    with torch.no_grad(), trainer.autocast:
        for _ in range(repeats + 2):
            start = time.perf_counter()
            g(z, labels)
            _sync(trainer.device)
            times.append(time.perf_counter() - start)
    median = sorted(times[2:])[len(times[2:]) // 2]
    return {"images_per_s": batch / median, "ms_per_batch": median * 1000, "batch": batch,
            "gflop_per_image": counter.get_total_flops() / batch / 1e9}


# --- The textbook baseline ----------------------------------------------------------------------------------

class _TransformingDataset(torch.utils.data.Dataset):
    """What torchvision's MNIST-style datasets do per sample: a PIL image through Resize/ToTensor/Normalize."""

    def __init__(self, images: torch.Tensor, image_size: int):
        import torchvision.transforms as T

        self.images = images
        self.transform = T.Compose([T.Resize(image_size), T.CenterCrop(image_size), T.ToTensor(),
                                    T.Normalize([0.5] * images.shape[1], [0.5] * images.shape[1])])

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int):
        from PIL import Image

        array = self.images[i].permute(1, 2, 0).numpy()
        image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        return self.transform(image), 0


class TextbookLoop:
    """The textbook loop (pytorch/examples dcgan) on the same architecture. `native` holds the dataset's images
    at their stored size; the loop resizes them per sample, as the tutorials do."""

    def __init__(self, config: TrainConfig, native: torch.Tensor, device: torch.device):
        torch.manual_seed(config.seed)
        self.config, self.device = config, device
        self.net_g = build_generator(config).to(device)
        self.net_d = nn.Sequential(build_discriminator(config), nn.Sigmoid()).to(device)
        self.criterion = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.net_d.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
        self.opt_g = torch.optim.Adam(self.net_g.parameters(), lr=config.lr, betas=(config.beta1, 0.999))
        self.loader = torch.utils.data.DataLoader(
            _TransformingDataset(native, config.image_size), batch_size=config.batch_size, shuffle=True,
            num_workers=2, drop_last=True, persistent_workers=True)

    def batches(self):
        """Real batches forever, epoch after epoch."""
        while True:
            for real, _ in self.loader:
                yield real

    def step(self, real: torch.Tensor) -> None:
        device, net_d, net_g, criterion = self.device, self.net_d, self.net_g, self.criterion
        real = real.to(device)
        b = real.shape[0]
        # (1) Update D: maximise log(D(x)) + log(1 - D(G(z))).
        net_d.zero_grad()
        label = torch.full((b,), 1.0, device=device)
        out = net_d(real).view(-1)
        err_real = criterion(out, label)
        err_real.backward()
        out.mean().item()
        fake = net_g(torch.randn(b, self.config.latent_dim, device=device))
        label.fill_(0.0)
        out = net_d(fake.detach()).view(-1)
        err_fake = criterion(out, label)
        err_fake.backward()
        out.mean().item()
        self.opt_d.step()
        # (2) Update G: maximise log(D(G(z))).
        net_g.zero_grad()
        label.fill_(1.0)
        out = net_d(fake).view(-1)
        err_g = criterion(out, label)
        err_g.backward()
        out.mean().item()
        self.opt_g.step()
        (err_real + err_fake).item(), err_g.item()


def bench_textbook(config: TrainConfig, native: torch.Tensor, steps: int, warmup: int = 3,
                   device: torch.device | None = None) -> dict[str, float]:
    """images/s and FLOPs of the textbook loop (its data loading included), after warm-up steps."""
    loop = TextbookLoop(config, native, device or torch.device("cpu"))
    batches = loop.batches()
    with FlopCounterMode(display=False) as counter:
        loop.step(next(batches))
    for _ in range(warmup):
        loop.step(next(batches))
    _sync(loop.device)
    start = time.perf_counter()
    for _ in range(steps):
        loop.step(next(batches))
    _sync(loop.device)
    seconds = time.perf_counter() - start
    images_per_s = steps * config.batch_size / seconds
    flops_per_image = counter.get_total_flops() / config.batch_size
    return {"images_per_s": images_per_s, "gflop_per_image": flops_per_image / 1e9,
            "gflops": images_per_s * flops_per_image / 1e9, "seconds": seconds}


# --- Levers: one change at a time from the defaults -----------------------------------------------------------

LEVERS: dict[str, Callable[[TrainConfig], TrainConfig]] = {
    "defaults": lambda c: c,
    "no channels_last": lambda c: dataclasses.replace(c, channels_last=False),
    "bf16 autocast": lambda c: dataclasses.replace(c, precision="bf16"),
    "torch.compile": lambda c: dataclasses.replace(c, compile=True),
    "no CUDA graph": lambda c: dataclasses.replace(c, cuda_graph=False),  # timed on CUDA devices only
}


def run_bench(config: TrainConfig, steps: int, baseline: bool = True, levers: bool = False,
              progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The whole benchmark as one JSON-ready dict."""
    config = config.resolved()
    data, source = bench_data(config)
    progress(f"data: {source}")
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    progress(f"timing {steps} training steps")
    train = bench_trainer(config, data, steps)
    trainer = train.pop("_trainer")
    progress("timing generation")
    generate = bench_generate(trainer)
    # The peak memory of training and generating as a `dcgan train` process holds them (the dataset, the
    # networks, the step), read before the yardstick's 4096x4096 matrices (192 MB) and the textbook loop raise it.
    training_rss = peak_rss_mb()
    progress("measuring the matmul peak")
    peaks = matmul_peaks(device, dtype)
    peak = max(peaks.values())
    train["mfu"] = train["gflops"] / peak
    generate["mfu"] = generate["images_per_s"] * generate["gflop_per_image"] / peak
    result: dict[str, Any] = {
        "config": {**{k: getattr(config, k) for k in ("dataset", "image_size", "channels", "batch_size", "g_width",
                                                      "d_width", "minibatch_discrimination", "channels_last",
                                                      "compile")}, "precision": precision},
        "device": train.pop("device"), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        # The vector unit decides the CPU numbers: AVX2 vs AVX512, and native bf16 or an emulated one.
        "cpu": {"capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": cpu_has_native_bf16()},
        "data": source, "steps": steps, "peak_gflops": peak, "peak_dtype": str(dtype).replace("torch.", ""),
        "peaks": peaks,
        "train": train, "generate": generate, "peak_rss_mb": training_rss,
    }
    del trainer
    if levers:
        result["levers"] = {}
        for name, change in LEVERS.items():
            if name == "no CUDA graph" and device.type != "cuda":
                continue
            progress(f"lever: {name}")
            lever = bench_trainer(change(config), data, steps)
            lever.pop("_trainer")
            result["levers"][name] = {"images_per_s": lever["images_per_s"], "gflops": lever["gflops"]}
    if baseline:
        progress(f"timing {steps} steps of the textbook loop")
        native = load_native(config, data)
        result["baseline"] = bench_textbook(config, native, steps, device=device)
        result["baseline"]["mfu"] = result["baseline"]["gflops"] / peak
        result["speedup"] = train["images_per_s"] / result["baseline"]["images_per_s"]
    return result


def load_native(config: TrainConfig, data: ImageData) -> torch.Tensor:
    """The dataset at its stored resolution, for the textbook loop to resize per sample."""
    size, _ = native_format(config.dataset)
    try:
        return load_dataset(config.dataset, config.data_dir, size, config.channels, download=False).images
    except DataError:
        return data.images
