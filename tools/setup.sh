#!/usr/bin/env bash
# The environment of mmeff on a fresh machine, idempotent: a virtual environment with the
# OpenMMLab stack, mmcv built from source, the linters, and mmeff with its compiled ops.
#
#   bash tools/setup.sh         # set everything up (what `bash tools/run.sh setup` does)
#   source tools/setup.sh       # only define the steps below (tools/run.sh does this)
#
# Every step leaves a stamp keyed on its inputs, so a second run skips work already done.
# Environment: MMEFF_VENV (default <repo>/.venv), MMEFF_CACHE (default ~/.cache/mmeff; holds the
# mmcv wheel built from source, keyed on the torch version), PYTHON (default python3.11).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMEFF_VENV:-$REPO/.venv}"
CACHE="${MMEFF_CACHE:-$HOME/.cache/mmeff}"
PYTHON="${PYTHON:-python3.11}"
MMCV_VERSION=2.1.0
MMPOSE_VERSION=1.3.2
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '[mmeff setup] %s\n' "$*" >&2; }

# Hash of the given files' contents: the key of a stamp.
files_hash() { cat "$@" | sha256sum | cut -c1-16; }

make_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
}

pip_venv() { "$VENV/bin/python" -m pip "$@"; }

# torch first: the mmcv build below needs it (and no build isolation, see README).
install_torch() {
  # pip >= 23.3 for PEP 660 editable installs of a setup.py project without build isolation.
  pip_venv install -q -U 'pip>=24'
  pip_venv install -q -c "$REPO/requirements/constraints.txt" \
    torch torchvision 'numpy<2' 'setuptools<81' wheel ninja packaging
}

# mmcv 2.1.0 ships no wheel for this torch: build it once from the sdist, with its ops, and
# cache the wheel under a folder named after the torch version (pip's own cache ignores the
# torch ABI and would hand back a wheel built against another torch).
mmcv_wheel() {
  local torch_version wheel_dir tmp
  torch_version="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
  wheel_dir="$CACHE/wheels/torch-${torch_version}-$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')"
  if ! compgen -G "$wheel_dir/mmcv-${MMCV_VERSION}-*.whl" >/dev/null; then
    log "building mmcv ${MMCV_VERSION} with ops against torch ${torch_version} (about 8 minutes on 2 cores)"
    mkdir -p "$wheel_dir"
    tmp="$(mktemp -d "$wheel_dir/.build.XXXXXX")"
    pip_venv download -q --no-deps --no-binary :all: --no-build-isolation --no-cache-dir -d "$tmp" "mmcv==${MMCV_VERSION}" >&2
    tar -xzf "$tmp/mmcv-${MMCV_VERSION}.tar.gz" -C "$tmp"
    # mmcv hard-codes -std=c++17, but torch >= 2.13 headers require C++20 (#error in ATen.h).
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$tmp/mmcv-${MMCV_VERSION}/setup.py"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" pip_venv wheel -q --no-build-isolation --no-deps \
      --no-cache-dir -w "$tmp" "$tmp/mmcv-${MMCV_VERSION}" >&2
    mv "$tmp"/mmcv-*.whl "$wheel_dir/"
    rm -rf "$tmp"
  fi
  compgen -G "$wheel_dir/mmcv-${MMCV_VERSION}-*.whl" | head -n 1
}

# mmaction2 1.2.0 imports a `drn` localizer that is missing from its wheel and sdist
# (open-mmlab/mmaction2#2714): guard that one import so `import mmaction.models` works.
patch_mmaction_drn() {
  "$VENV/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec('mmaction')
path = pathlib.Path(spec.origin).parent / 'models' / 'localizers' / '__init__.py'
text = path.read_text()
broken = 'from .drn.drn import DRN\n'
guarded = ('try:  # patched by mmeff: drn/ is missing from the 1.2.0 release (mmaction2#2714)\n'
           '    from .drn.drn import DRN\n'
           'except ImportError:\n'
           '    DRN = None\n')
if broken in text and guarded not in text:
    path.write_text(text.replace(broken, guarded))
    print(f'[mmeff setup] guarded the drn import in {path}')
PY
}

install_stack() {
  local stamp key wheel
  key="$(cd "$REPO/requirements" && files_hash constraints.txt stack.txt tests.txt \
    "$REPO/tools/setup.sh")"
  stamp="$VENV/.mmeff-stack-$key"
  [ -f "$stamp" ] && return 0
  install_torch
  wheel="$(mmcv_wheel)"
  log "installing the OpenMMLab stack"
  # One resolver call with the constraints, so mmaction2 cannot lift numpy to 2.x or
  # setuptools past 80 (both break the stack, see README).
  pip_venv install -q -c "$REPO/requirements/constraints.txt" "$wheel" \
    -r "$REPO/requirements/stack.txt" -r "$REPO/requirements/tests.txt"
  pip_venv install -q --no-deps "mmpose==${MMPOSE_VERSION}"
  patch_mmaction_drn
  rm -f "$VENV"/.mmeff-stack-*
  touch "$stamp"
}

# mmeff itself, editable, with its compiled ops; rebuilt only when a source of the build changed.
# (While developing, `python setup.py build_ext --inplace` rebuilds incrementally.)
install_mmeff() {
  local key stamp
  key="$(cd "$REPO" && files_hash setup.py $(find mmeff/ops/csrc -type f | sort))"
  stamp="$VENV/.mmeff-build-$key"
  if [ -f "$stamp" ] && "$VENV/bin/python" -c 'import mmeff.ops._ext' 2>/dev/null; then
    return 0
  fi
  log "building mmeff and its compiled ops (CPU, and CUDA when a toolkit is found)"
  MAX_JOBS="${MAX_JOBS:-2}" pip_venv install -q --no-build-isolation --no-deps -e "$REPO" >&2
  rm -f "$VENV"/.mmeff-build-*
  touch "$stamp"
}

# flake8, isort, yapf and clang-format at the versions whose output the lint job checks.
install_linters() {
  local key stamp
  key="$(cd "$REPO/requirements" && files_hash constraints.txt lint.txt "$REPO/tools/setup.sh")"
  stamp="$VENV/.mmeff-lint-$key"
  [ -f "$stamp" ] && return 0
  log "installing the linters"
  pip_venv install -q -c "$REPO/requirements/constraints.txt" -r "$REPO/requirements/lint.txt"
  rm -f "$VENV"/.mmeff-lint-*
  touch "$stamp"
}

setup() {
  make_venv
  install_stack
  install_linters
  install_mmeff
}

# Run alone, set up; sourced (by tools/run.sh), only define the steps.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  setup
fi
