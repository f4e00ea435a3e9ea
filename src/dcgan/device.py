"""Device choice: auto picks CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

from dcgan.errors import ConfigError


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def available_devices() -> list[dict[str, str]]:
    """Devices this machine can train on, best first, each with a human name."""
    found = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            found.append({"device": f"cuda:{i}" if i else "cuda", "name": torch.cuda.get_device_name(i)})
    if _mps_available():
        found.append({"device": "mps", "name": "Apple Metal (MPS)"})
    found.append({"device": "cpu", "name": f"CPU ({torch.get_num_threads()} threads)"})
    return found


def device_kind(name: str) -> str:
    """'cpu', 'cuda' or 'mps': the kind of device a --device choice trains on here (defaults depend on it);
    whether an explicit one is really there is resolve_device's question."""
    return resolve_device("auto").type if name == "auto" else name.split(":")[0]


def resolve_device(name: str) -> torch.device:
    """'auto' -> the best available device; an explicit device that is missing is a ConfigError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use --device auto or cpu",
                          field="device")
    if name == "mps" and not _mps_available():
        raise ConfigError("--device mps was asked for but Apple MPS is not available; use --device auto or cpu",
                          field="device")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"unknown device {name!r} ({e}); use auto, cpu, cuda or mps", field="device") from e


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 on CUDA GPUs with bf16 support (Ampere and later), fp32 elsewhere; bf16 asked for on a GPU
    without it is a ConfigError rather than a silent slowdown."""
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "auto":
        return "bf16" if cuda_bf16 else "fp32"
    if precision == "bf16" and device.type == "cuda" and not cuda_bf16:
        raise ConfigError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support; use "
                          f"--precision fp32", field="precision")
    return precision


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 convolutions natively here (AVX512-BF16 or AMX); elsewhere it emulates them."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
