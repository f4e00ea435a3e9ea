"""`dcgan info`: versions, devices and the datasets available offline."""

from __future__ import annotations

import argparse
import platform


def register(p) -> None:
    p.add_argument("--data-dir", default="./data", help="where to look for datasets (default: ./data)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    import torchvision

    from dcgan import __version__
    from dcgan.data import available_offline
    from dcgan.datasets import data_home
    from dcgan.device import available_devices

    print(f"dcgan {__version__}  python {platform.python_version()}  torch {torch.__version__}  "
          f"torchvision {torchvision.__version__}")
    print("devices (auto picks the first):")
    for d in available_devices():
        print(f"  {d['device']:<8} {d['name']}")
    print(f"datasets available offline (searched: --data-dir {args.data_dir}, the data home {data_home()}, "
          f"system copies):")
    for name, where in available_offline(args.data_dir).items():
        print(f"  {name:<14} {where or f'not found (`dcgan fetch {name}`, or torchvision downloads it when online)'}")
    print("  folder:PATH    any folder of images")
    return 0
