#!/usr/bin/env bash
# The one script for a machine with an NVIDIA GPU (written for a lent H200: no network,
# Python 3.12, PyTorch cu130, scikit-build-core, pybind11, cmake, ninja, pytest, the nvidia-*
# CUDA 13 wheels, compute-sanitizer). From the checkout's root:
#
#   bash benches/gpu/check.sh            results in $OUT (default build/gpu-check)
#
# Steps, each under `timeout` so that the whole script ends within 8 minutes (a lent machine
# gives 15 in all), each logged to $OUT/<step>.log, and each run even when an earlier one failed
# (except what needs the build):
#   build     pydl._core and pydl._cuda with PYDL_CUDA=ON (sm_90 only: the chip at hand), copied
#             into pydl/ as the in-tree dev build does (CHECK_BUILD=pip: pip install
#             --no-build-isolation -e . instead)
#   import    pydl.cuda sees the device; the kernels registered
#   tests     pytest tests/cuda tests/test_cuda_api.py (device buffers NaN-poisoned)
#   memcheck  compute-sanitizer --tool memcheck over benches/gpu/train_short.py
#   bench     benches/gpu/bench_gpu.py: pydl beside PyTorch eager CUDA
# $OUT/results.md sums it all up; it is written even when a step fails or the time runs out.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/build/gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
TOTAL=${CHECK_SECONDS:-470}  # the whole script, leaving a margin under 8 minutes
T0=$SECONDS
STEPS=$OUT/steps.tsv
: >"$STEPS"
# The in-tree build's pydl (pydl/ with the modules copied in); an editable install finds itself.
[ "${CHECK_BUILD:-cmake}" = cmake ] && export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}

log() { printf '[check %(%H:%M:%S)T +%3ds] %s\n' -1 $((SECONDS - T0)) "$*" | tee -a "$OUT/check.log" >&2; }

# step NAME LIMIT CMD...: runs CMD under timeout (LIMIT seconds, or what is left of TOTAL, less
# RESERVE for the later steps), output in $OUT/NAME.log; records rc and seconds.
step() {
  local name=$1 limit=$2 t=$SECONDS rc
  shift 2
  local left=$((TOTAL - (SECONDS - T0) - ${RESERVE:-0}))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 5 ]; then
    log "$name: skipped (out of time)"
    printf '%s\tskipped (out of time)\t0\n' "$name" >>"$STEPS"
    return 124
  fi
  log "$name (at most ${limit} s)"
  timeout -k 5 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  local status=ok
  [ $rc = 0 ] || status="FAILED (exit $rc$([ $rc = 124 ] && echo ', timed out'))"
  printf '%s\t%s\t%d\n' "$name" "$status" $((SECONDS - t)) >>"$STEPS"
  log "$name: $status in $((SECONDS - t)) s"
  return $rc
}

write_results() {
  {
    echo "# pydl GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'), $((SECONDS - T0)) s)"
    echo
    echo "Commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with local changes)')"
    echo
    echo '```'
    cat "$OUT/env.txt" 2>/dev/null
    echo '```'
    echo
    echo "| step | status | seconds |"
    echo "|---|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }' "$STEPS"
    echo
    if [ -s "$OUT/import.log" ]; then echo "## pydl.cuda"; echo; echo '```'; tail -n 20 "$OUT/import.log"; echo '```'; echo; fi
    if [ -s "$OUT/tests.log" ]; then
      echo "## Tests (tests/cuda, tests/test_cuda_api.py)"; echo; echo '```'
      grep -E '^(FAILED|ERROR)|passed|failed|error' "$OUT/tests.log" | tail -n 60; echo '```'; echo
    fi
    if [ -e "$OUT/memcheck.log" ]; then
      echo "## compute-sanitizer memcheck (train_short.py)"; echo; echo '```'
      tail -n 15 "$OUT/memcheck.log"; grep -h 'ERROR SUMMARY' "$OUT/memcheck.txt" 2>/dev/null; echo '```'; echo
    fi
    echo "## Training throughput beside PyTorch eager"
    echo
    if [ -s "$OUT/bench.md" ]; then cat "$OUT/bench.md"
    elif [ -s "$OUT/bench.jsonl" ]; then echo "(bench cut short; the cases measured:)"; echo '```'; cat "$OUT/bench.jsonl"; echo '```'
    else echo "(no bench results; see bench.log)"; fi
  } >"$OUT/results.md"
}
trap write_results EXIT

# --- environment: what this machine has
{
  echo "python: $("$PY" -c 'import sys; print(sys.version.split()[0])' 2>&1)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4)"
  NVCC=${CUDACXX:-$(command -v nvcc || true)}
  if [ -z "$NVCC" ]; then  # the toolkit's default place, or the nvidia-cuda-nvcc wheel's
    for c in /usr/local/cuda/bin/nvcc $("$PY" -c 'import nvidia, os; print(" ".join(os.path.join(p, "cu13", "bin", "nvcc") for p in nvidia.__path__))' 2>/dev/null); do
      [ -x "$c" ] && NVCC=$c && break
    done
  fi
  echo "nvcc: ${NVCC:-not found} $([ -n "$NVCC" ] && "$NVCC" --version | tail -n 1)"
  echo "torch: $("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1)"
  echo "numpy: $("$PY" -c 'import numpy; print(numpy.__version__)' 2>&1 | tail -n 1)"
  echo "cmake: $(cmake --version 2>&1 | head -n 1); ninja $(ninja --version 2>&1)"
  echo "cores: $(nproc)"
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt" >&2
NVCC=$(sed -n 's/^nvcc: \([^ ]*\) .*/\1/p' "$OUT/env.txt")
[ "$NVCC" = "not" ] && NVCC=""
SANITIZER=$(command -v compute-sanitizer || true)
if [ -z "$SANITIZER" ]; then
  for c in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer \
           $("$PY" -c 'import nvidia, os; print(" ".join(os.path.join(p, "cu13", d, "compute-sanitizer") for p in nvidia.__path__ for d in ("bin", "compute-sanitizer")))' 2>/dev/null); do
    [ -x "$c" ] && SANITIZER=$c && break
  done
fi

# --- build
build_cmake() {
  cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPYDL_CUDA=ON \
    "-DPYDL_CUDA_ARCHITECTURES=${CHECK_ARCHS:-90-real}" ${NVCC:+-DCMAKE_CUDA_COMPILER=$NVCC} \
    -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" &&
    ninja -C build/gpu -j"$(nproc)" _core _cuda &&
    cp build/gpu/_core.*.so build/gpu/_cuda.*.so pydl/
}
build_pip() {
  env PYDL_CUDA=ON ${NVCC:+CUDACXX=$NVCC} "$PY" -m pip install --no-build-isolation --no-deps -v -e .
}
export NVCC PY CHECK_ARCHS=${CHECK_ARCHS:-}
export -f build_cmake build_pip
built=0
RESERVE=200 step build 260 bash -c "set -x; build_${CHECK_BUILD:-cmake}" && built=1
if [ $built = 1 ]; then
  step import 30 "$PY" -c 'import pydl
print("is_available:", pydl.cuda.is_available(), "|", pydl.cuda.unavailable_reason())
print("devices:", pydl.cuda.device_count(), "|", pydl.cuda.get_device_name() if pydl.cuda.is_available() else "-")
names = pydl.cuda.kernel_names()
print(len(names), "CUDA kernels:", " ".join(names))
import pydl._cuda as c
print("CUDA runtime", c.runtime_version(), "driver", c.driver_version(), "| _cuda:", c.__file__)'
  RESERVE=170 step tests 120 env PYDL_CUDA_POISON=1 "$PY" -m pytest -q -ra -p no:cacheprovider \
    --junitxml="$OUT/junit.xml" tests/cuda tests/test_cuda_api.py
  if [ -n "$SANITIZER" ]; then
    RESERVE=130 step memcheck 100 "$SANITIZER" --tool memcheck --error-exitcode 1 --log-file "$OUT/memcheck.txt" \
      "$PY" benches/gpu/train_short.py --device cuda
  else
    log "memcheck: skipped (compute-sanitizer not found)"
    printf 'memcheck\tskipped (compute-sanitizer not found)\t0\n' >>"$STEPS"
  fi
  # The bench stops starting cases 40 s before its step's end; a timeout still keeps bench.jsonl.
  left=$((TOTAL - (SECONDS - T0)))
  budget=$(( (left < 180 ? left : 180) - 40 ))
  step bench 180 "$PY" benches/gpu/bench_gpu.py --device cuda --out "$OUT" --budget $((budget > 10 ? budget : 10))
else
  printf 'import, tests, memcheck, bench\tskipped (no build)\t0\n' >>"$STEPS"
fi
log "done in $((SECONDS - T0)) s: $OUT/results.md"
! grep -q FAILED "$STEPS"
