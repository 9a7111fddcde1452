#!/usr/bin/env bash
# Create the virtualenvs that hold the peers CellSync is benchmarked against. Idempotent:
# a venv that already imports its packages is left alone. Run from anywhere:
#
#   bash bench/setup_peers.sh            # both peer venvs
#   bash bench/setup_peers.sh bench      # only .venv-bench (AutoProfiler + datacompy)
#   bash bench/setup_peers.sh ydata      # only .venv-ydata (ydata-profiling)
#
# Why separate venvs (checked with `pip install --dry-run` into .venv, pandas 3.1.1):
#  - datacompy 1.1.0 pins pandas<3.1 and would downgrade the project venv's pandas;
#  - digautoprofiler 3.0.1 pins jupyterlab<4 and would downgrade ipykernel/jupyter_client;
#  - ydata-profiling needs pandas<3.
# So the project venv (.venv) stays untouched and bench/run.py runs these peers as
# subprocesses (bench/peers_worker.py) in:
#   .venv-bench  pandas 3.0.x (the newest datacompy allows) + digautoprofiler + datacompy
#   .venv-ydata  pandas<3 + ydata-profiling
# Each step writes a log to bench/results/setup-<venv>.log; a failure does not stop the
# other venv, and run.py reports the failing venv with the last error line of its log.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
LOGDIR="$ROOT/bench/results"
mkdir -p "$LOGDIR"
which_ones="${1:-all}"
status=0

make_venv() {  # name, import-check, pip args...
  local name="$1" check="$2"
  shift 2
  local venv="$ROOT/$name" log="$LOGDIR/setup-$name.log"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    echo "$name: ready ($("$venv/bin/python" -c "$check; import pandas; print('pandas', pandas.__version__)"))"
    return 0
  fi
  echo "$name: installing $* (log: $log)"
  {
    [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install "$@"
  } >"$log" 2>&1
  if "$venv/bin/python" -c "$check" >>"$log" 2>&1; then
    echo "$name: ready ($("$venv/bin/python" -c "import pandas; print('pandas', pandas.__version__)"))"
  else
    echo "$name: FAILED: $(grep -E 'ERROR|Error' "$log" | tail -1)"
    status=1
  fi
}

if [ "$which_ones" = all ] || [ "$which_ones" = bench ]; then
  make_venv .venv-bench "import digautoprofiler, datacompy, psutil" \
    "pandas>=3,<3.1" digautoprofiler datacompy psutil
fi
if [ "$which_ones" = all ] || [ "$which_ones" = ydata ]; then
  make_venv .venv-ydata "import ydata_profiling, psutil" \
    "pandas<3" ydata-profiling psutil
fi
exit $status
