#!/usr/bin/env bash
# Python mail checkers and headless Chromium for the HTML mail tests (issue 11).
#
#   python-mail.sh packages          Debian packages it needs (python3-venv, chromium)
#   python-mail.sh start STATE_DIR   create STATE_DIR/python-mail/venv with the pinned
#                                    requirements (python-mail-requirements.txt) if missing
#   python-mail.sh env STATE_DIR     KEY=value lines for the env file (PYTHON_MAIL, CHROMIUM)
#   python-mail.sh status STATE_DIR  exit 0 when the venv imports mailparser and chromium runs
#   python-mail.sh stop              nothing to stop: no process stays running
#
# Chromium comes from Debian's `chromium` package; no browser is ever downloaded.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="$HERE/python-mail-requirements.txt"
CHROMIUM_BIN=/usr/bin/chromium

venv_dir() { printf '%s/python-mail/venv' "$1"; }

case "${1:-}" in
packages) printf '%s\n' python3 python3-venv chromium ;;
start)
  state="${2:?state dir}"
  venv="$(venv_dir "$state")"
  stamp="$venv/.requirements"
  # Rebuilt only when the pinned requirements change.
  if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$REQ" "$stamp"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    cp "$REQ" "$stamp"
  fi
  ;;
env)
  state="${2:?state dir}"
  printf 'PYTHON_MAIL=%s/bin/python\n' "$(venv_dir "$state")"
  printf 'CHROMIUM=%s\n' "$CHROMIUM_BIN"
  ;;
status)
  state="${2:?state dir}"
  "$(venv_dir "$state")/bin/python" -c 'import mailparser' && [[ -x "$CHROMIUM_BIN" ]]
  ;;
stop) ;;
*)
  echo "usage: $0 packages|start STATE|env STATE|status STATE|stop" >&2
  exit 2
  ;;
esac
