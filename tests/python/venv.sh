#!/usr/bin/env bash
# Create (once) and update the test virtualenv; prints its path on stdout.
# Usage: VENV=$(bash tests/python/venv.sh)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${REDHIVE_TEST_VENV:-/var/cache/redhive/venv}"
py="${REDHIVE_PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  mkdir -p "$(dirname "$venv")"
  "$py" -m venv "$venv" >&2
fi
# Only talk to the package index when a pin is not satisfied yet.
if ! "$venv/bin/python" - "$here/requirements.txt" >&2 <<'PY'
import sys
from importlib import metadata
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, ver = line.partition("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    if have != ver:
        print(f"venv: {name} is {have}, want {ver}")
        ok = False
sys.exit(0 if ok else 1)
PY
then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
fi
echo "$venv"
