"""dcgan: train, watch, evaluate and use Deep Convolutional GANs (Radford et al., 2015).

    from dcgan import Trainer, TrainConfig, load_generator
    Trainer(TrainConfig(dataset="fashion-mnist", epochs=1)).run()
    load_generator("runs/<name>").sample(16, seed=0)     # shows as a grid in Jupyter
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# The public API, imported on first use so that `dcgan --help` does not pay for torch and torchvision.
_EXPORTS = {
    "TrainConfig": "dcgan.config", "PRESETS": "dcgan.config", "apply_preset": "dcgan.config",
    "ImageData": "dcgan.data", "load_dataset": "dcgan.data",
    "DcganError": "dcgan.errors", "ConfigError": "dcgan.errors", "DataError": "dcgan.errors",
    "CheckpointError": "dcgan.errors",
    "Generator": "dcgan.models", "Discriminator": "dcgan.models",
    "Images": "dcgan.images", "LoadedGenerator": "dcgan.sampling", "load_generator": "dcgan.sampling",
    "Trainer": "dcgan.training",
    "Interpolation": "dcgan.latent", "Arithmetic": "dcgan.latent", "interpolate": "dcgan.latent",
    "walk": "dcgan.latent", "arithmetic": "dcgan.latent", "slerp": "dcgan.latent", "lerp": "dcgan.latent",
    "run_probe": "dcgan.probe",
    "StyleMix": "dcgan.mixing", "style_mix": "dcgan.mixing",
    "Direction": "dcgan.attributes", "AttributeSlide": "dcgan.attributes", "fit_direction": "dcgan.attributes",
    "attribute_slide": "dcgan.attributes",
    "Curves": "dcgan.curves", "load_curves": "dcgan.curves",
    "ConsoleProgress": "dcgan.console",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dcgan' has no attribute {name!r}")
