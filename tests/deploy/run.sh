#!/usr/bin/env bash
# Deployment tests: the Helm chart (rendered by Helm's Go engine through helm-python-sdk and
# validated against the Kubernetes schemas), docker-compose.yml and the Dockerfile. Needs only
# python3 (>= 3.11) with pip, and PyPI; no cluster, no Docker, no helm binary.
#
#   tests/deploy/run.sh            # extra arguments go to pytest, e.g. -k network -x
#
# Tools go to ${TMPDIR:-/tmp}/shellgate-deploy-venv (override: SHELLGATE_DEPLOY_VENV), installed
# once and reused while tests/deploy/requirements.txt is unchanged. Where `python3 -m venv` is
# missing (Debian without python3-venv) they are installed with `pip install --target` instead;
# SHELLGATE_DEPLOY_PIP_TARGET=1 forces that.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${SHELLGATE_DEPLOY_VENV:-${TMPDIR:-/tmp}/shellgate-deploy-venv}"
python="${PYTHON:-python3}"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
pip_quiet=(--quiet --disable-pip-version-check --no-input)

installed() {
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && { [ -x "$venv/bin/python" ] || [ -d "$venv/site" ]; }
}

if ! installed; then
  echo "== installing the test tools into $venv"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "python 3.11 or newer is needed (set PYTHON=...)" >&2; exit 1; }
  rm -rf "$venv"
  if [ "${SHELLGATE_DEPLOY_PIP_TARGET:-0}" != 1 ] && "$python" -m venv "$venv" >/dev/null 2>&1; then
    "$venv/bin/python" -m pip install "${pip_quiet[@]}" -r "$requirements"
  else
    rm -rf "$venv"
    mkdir -p "$venv"
    "$python" -m pip install "${pip_quiet[@]}" --target "$venv/site" -r "$requirements"
  fi
  echo "$want" > "$stamp"
fi

if [ -x "$venv/bin/python" ]; then
  py="$venv/bin/python"
else
  py="$python"
  export PYTHONPATH="$venv/site${PYTHONPATH:+:$PYTHONPATH}"
fi

cd "$repo"
# Leave no .pytest_cache or __pycache__ in the work tree.
export PYTHONDONTWRITEBYTECODE=1
exec "$py" -m pytest -q -p no:cacheprovider --rootdir "$here" -c /dev/null "$here" "$@"
