"""The house plan (docs/architecture.md) as checks: the core never imports the command line or the server and never
prints, and the latent-space module does not import the sampling module that calls it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dcgan"
FRONTS = ("cli", "commands", "server", "__main__")  # parse and print, answer HTTP: the core's callers


def core_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0].removesuffix(".py") not in FRONTS:
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_the_core_never_imports_the_command_line_or_the_server():
    found = []
    for path, tree in core_modules():
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.name}:{node.lineno} {name}" for name in names
                      if name.split(".")[:2] in (["dcgan", front] for front in FRONTS)]
    assert found == []


def test_the_core_never_prints():
    """It raises or emits events; the terminal is a subscriber (console.py) that the command line hands over."""
    found = [f"{path.name}:{node.lineno}" for path, tree in core_modules() if path.name != "console.py"
             for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]
    assert found == []


@pytest.mark.parametrize("module", ["dcgan.latent", "dcgan.mixing", "dcgan.attributes"])
def test_latent_space_figures_do_not_import_the_sampling_module_that_calls_them(module):
    code = f"import sys, {module}; print('dcgan.sampling' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
