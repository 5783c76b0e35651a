#!/usr/bin/env bash
# One entry point for a fresh machine: sets up the environment (tools/setup.sh, idempotent),
# then runs a job.
#
#   bash tools/run.sh setup   # only build the environment (.venv) and mmeff's compiled ops
#   bash tools/run.sh test    # setup, then the whole test suite
#   bash tools/run.sh unit    # setup, then the unit tests only (not e2e, slow or memory)
#   bash tools/run.sh demo    # setup, then the main job
#   bash tools/run.sh bench   # setup, then every benchmark (`bench quick`: small versions), which
#                             # writes docs/benchmarks/*.json and renders docs/benchmarks.md
#   bash tools/run.sh lint    # the linters only: flake8, isort, yapf, clang-format (no changes)
#
# Arguments after `test` and `unit` go to pytest, after `demo` to tools/video_demo.py, after
# `bench` to mmeff.benchmark.suite. Environment: see tools/setup.sh.
set -euo pipefail

# shellcheck source=tools/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

#: The pytest marker expression of the unit tests (markers: setup.cfg [tool:pytest]).
UNIT_TESTS='not e2e and not slow and not memory'
#: What the Python linters check, relative to the repository.
LINT_PATHS=(mmeff tools tests configs setup.py)

run_tests() {
  cd "$REPO"
  "$VENV/bin/python" -m pytest tests "$@"
}

# Every linter runs, even after one fails; the job fails if any did. Nothing is rewritten.
run_lint() {
  local failed=() sources
  cd "$REPO"
  "$VENV/bin/python" -m flake8 "${LINT_PATHS[@]}" || failed+=(flake8)
  "$VENV/bin/python" -m isort --check-only --diff "${LINT_PATHS[@]}" || failed+=(isort)
  "$VENV/bin/python" -m yapf --diff --recursive "${LINT_PATHS[@]}" || failed+=(yapf)
  mapfile -t sources < <(find mmeff/ops/csrc -type f \
    \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.inc' \) | sort)
  "$VENV/bin/clang-format" --dry-run -Werror "${sources[@]}" || failed+=(clang-format)
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "lint failed: ${failed[*]}" >&2
    return 1
  fi
}

cmd="${1:-test}"
shift || true
case "$cmd" in
  setup) setup ;;
  test) setup; run_tests "$@" ;;
  unit) setup; run_tests -m "$UNIT_TESTS" "$@" ;;
  demo) setup; cd "$REPO"; "$VENV/bin/python" tools/video_demo.py "$@" ;;
  bench) setup; cd "$REPO"; "$VENV/bin/python" -m mmeff.benchmark.suite "$@" ;;
  lint) make_venv; install_linters; run_lint ;;
  *) echo "usage: bash tools/run.sh {setup|test|unit|demo|bench|lint} [args...]" >&2; exit 2 ;;
esac
