"""Run the real CLI where an optional package cannot be imported, whatever this machine has installed."""

from __future__ import annotations

import os
from pathlib import Path


def env_without(folder: Path, *packages: str) -> dict[str, str]:
    """An environment whose PYTHONPATH starts with a folder of packages that raise ImportError on import, as a
    missing package does; `import wandb` in the subprocess then fails exactly where it would on a bare install."""
    for name in packages:
        package = folder / name
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(f"raise ImportError(\"No module named '{name}'\", name={name!r})\n")
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
