#!/usr/bin/env bash
# Make .venv with the package and the extras asked for, and the system programs they need.
#
#   bash scripts/bootstrap.sh             # the package and its runtime deps (what `make demo` needs)
#   bash scripts/bootstrap.sh test        # + the test tools (pytest, hypothesis, playwright, ...) and the
#                                         #   sdk extra (Genesys's official SDK, tests/test_history_sdk.py)
#   bash scripts/bootstrap.sh notebook    # + JupyterLab (`make lab`)
#   EXTRAS="test notebook" bash scripts/bootstrap.sh
#
# System programs: graphviz `dot` always (the demo's report draws the DAG); Debian
# `chromium` only with the test extra (the browser tests drive it).
# Safe to re-run: each step is skipped when already done; an extra installed once stays.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
# shellcheck disable=SC2206
EXTRAS=(${EXTRAS:-} "$@")

log() { printf 'bootstrap: %s\n' "$*" >&2; }

has_extra() { local e; for e in "${EXTRAS[@]}"; do [ "$e" = "$1" ] && return 0; done; return 1; }

for extra in "${EXTRAS[@]}"; do
  case "$extra" in
    test|notebook|sdk) ;;
    *) log "unknown extra '$extra' (known: test, notebook, sdk)"; exit 2 ;;
  esac
done

install_system_deps() {
  local need=()
  command -v dot >/dev/null 2>&1 || need+=(graphviz)
  if has_extra test; then
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
  fi
  ((${#need[@]})) || return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
  fi
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
    log "installing ${need[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    log "installing with brew: ${need[*]/chromium/--cask chromium}"
    for pkg in "${need[@]}"; do
      if [ "$pkg" = chromium ]; then brew install --cask chromium || true; else brew install "$pkg"; fi
    done
  else
    log "cannot install ${need[*]} here (no apt-get as root, no brew)."
    log "graphviz: 'apt-get install graphviz' | 'brew install graphviz' | 'conda install -c conda-forge graphviz'"
    log "without graphviz the report shows a note instead of each DAG; the DAG and browser tests are"
    log "skipped locally (CI=true makes them fail instead)."
  fi
}

make_venv() {
  local spec="." extras=("${EXTRAS[@]}")
  # the tests include a conformance check driven by Genesys's official SDK (172 MB; ~16 s with uv)
  if has_extra test && ! has_extra sdk; then extras+=(sdk); fi
  if ((${#extras[@]})); then spec=".[$(IFS=,; echo "${extras[*]}")]"; fi
  if ! "$PYTHON" -m uv --version >/dev/null 2>&1; then
    log "installing uv (fast resolver/installer) with pip"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check uv 2>/dev/null \
      || "$PYTHON" -m pip install --quiet --disable-pip-version-check --user uv 2>/dev/null || true
  fi
  if "$PYTHON" -m uv --version >/dev/null 2>&1; then
    # --compile-bytecode: machines with PYTHONDONTWRITEBYTECODE=1 would otherwise
    # recompile polars and numpy in every new process (~0.5 s each gctrace start)
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m uv venv --quiet --seed "$VENV"
    "$PYTHON" -m uv pip install --quiet --compile-bytecode --python "$VENV/bin/python" -e "$spec"
  else
    log "uv unavailable; falling back to venv + pip"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec"
  fi
}

install_system_deps
make_venv
"$VENV/bin/python" -m compileall -q gctrace_nb >/dev/null || true  # the editable package too
# uv compiles packages, not single-file modules at the top of site-packages
# (typing_extensions, which msgspec imports: ~25 ms a start; the editable finder)
"$VENV/bin/python" -m compileall -q -l "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null || true
# fail here, not in the first test or cell, if the venv is not what it should be
check="import gctrace_nb, requests, polars, plotly, graphviz, ipywidgets"
has_extra test && check+=", pytest, playwright, nbclient"
has_extra notebook && check+=", jupyterlab"
"$VENV/bin/python" -c "$check" || { log "the virtual environment in $VENV is incomplete"; exit 1; }
touch "$VENV/.bootstrapped"
for extra in "${EXTRAS[@]}"; do touch "$VENV/.bootstrapped-$extra"; done
