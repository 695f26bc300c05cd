#!/usr/bin/env bash
# The GPU path, proven in one run: a tiny synth pipeline on CUDA checked against the CPU, and
# the extraction, training and perturbation benchmarks against their GPU targets
# (docs/gpu_check.md; the logic is benchmarks/gpu_check.py).
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]          # on a GPU node (default OUT_DIR:
#                                                   #   benchmarks/out/gpu_check/<timestamp>)
#   bash benchmarks/gpu_check.sh --cpu [OUT_DIR]    # CPU rehearsal at toy sizes (CI)
#
# PYTHON: the environment's interpreter (default: the checkout's .venv, else python3). The
# checkout's own sources are checked (src/ first on PYTHONPATH, also for the pipeline's jobs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

cpu=0
for arg in "$@"; do
  [ "$arg" = "--cpu" ] && cpu=1
done

# Fail fast, before the seconds torch takes to import: no driver, no GPU.
if [ "$cpu" = 0 ] && ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
  echo "gpu_check: no GPU (nvidia-smi finds no device); --cpu rehearses on the CPU" >&2
  exit 2
fi

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" "$ROOT/benchmarks/gpu_check.py" "$@"
