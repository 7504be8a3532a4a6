#!/usr/bin/env bash
# MongoDB CRUD conformance for redhive's Mongo shim, run by pymongo's own unified-format runner.
#
# * pymongo's sdist (same version as tests/python/requirements.txt) ships its test suite; it is
#   downloaded once into ${REDHIVE_CACHE:-/var/cache/redhive}/sdist and unpacked in a work dir.
# * The spec files are read from ../shared/conformance/crud-unified (next to the repository; they
#   are never copied into the repository) into test/crud_subset/unified/ of that work dir, and
#   test/test_crud_subset.py is generated from pymongo's test/test_crud_unified.py.
# * A fresh redhive server is started by tests/python/redhive_server.py (the same code the pytest
#   fixtures use). pymongo's harness connects with DB_IP/DB_PORT; it sees getCmdLineOpts fail with
#   Unauthorized and then logs in as DB_USER/DB_PASSWORD with the default authSource (admin),
#   which is exactly redhive's root principal.
# * Output goes to tests/conformance/last-run.txt (plus last-run-server.log when it failed); the
#   exit status is pytest's, or 1 when the harness could not connect or nothing passed.
#
# Env: REDHIVE_BIN (binary), REDHIVE_TEST_VENV, REDHIVE_CACHE, REDHIVE_SHARED_DIR (the
# crud-unified folder), REDHIVE_CONFORMANCE_WORK (keep the work dir there), PYTEST_ARGS (extra).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))"
py_tests="$top/tests/python"
cache="${REDHIVE_CACHE:-/var/cache/redhive}"
out="$here/last-run.txt"

# --- the spec files, from shared/ beside the repository -----------------------------------------
shared=""
for cand in "${REDHIVE_SHARED_DIR:-}" "$top/../shared/conformance/crud-unified" "$here/../../../shared/conformance/crud-unified"; do
  if [[ -n "$cand" && -d "$cand" ]]; then shared="$(cd "$cand" && pwd)"; break; fi
done
if [[ -z "$shared" ]]; then
  echo "run.sh: cannot find shared/conformance/crud-unified next to $top" >&2
  exit 2
fi
shopt -s nullglob
spec_files=("$shared"/*.json)
shopt -u nullglob
if (( ${#spec_files[@]} == 0 )); then
  echo "run.sh: no *.json in $shared" >&2
  exit 2
fi

# --- Python env and pymongo sdist ----------------------------------------------------------------
venv="$(bash "$py_tests/venv.sh")"
python="$venv/bin/python"
pymongo_version="$(sed -n 's/^pymongo==\([0-9][0-9.]*\).*/\1/p' "$py_tests/requirements.txt")"
[[ -n "$pymongo_version" ]] || { echo "run.sh: no pymongo pin in requirements.txt" >&2; exit 2; }
sdist_dir="$cache/sdist"
sdist="$sdist_dir/pymongo-$pymongo_version.tar.gz"
if [[ ! -f "$sdist" ]]; then
  mkdir -p "$sdist_dir"
  "$python" -m pip download --disable-pip-version-check -q "pymongo==$pymongo_version" \
    --no-binary :all: --no-deps -d "$sdist_dir"
fi
[[ -f "$sdist" ]] || { echo "run.sh: $sdist missing after download" >&2; exit 2; }

work="${REDHIVE_CONFORMANCE_WORK:-}"
cleanup_work=0
if [[ -z "$work" ]]; then work="$(mktemp -d /tmp/redhive-conformance.XXXXXX)"; cleanup_work=1; fi
mkdir -p "$work"
rm -rf "$work/pymongo-$pymongo_version"
tar -xzf "$sdist" -C "$work"
pm="$work/pymongo-$pymongo_version"

mkdir -p "$pm/test/crud_subset/unified"
cp "${spec_files[@]}" "$pm/test/crud_subset/unified/"
sed 's/get_test_path("crud", "unified")/get_test_path("crud_subset", "unified")/' \
  "$pm/test/test_crud_unified.py" > "$pm/test/test_crud_subset.py"
if ! grep -q 'get_test_path("crud_subset", "unified")' "$pm/test/test_crud_subset.py"; then
  echo "run.sh: pymongo's test_crud_unified.py changed shape; the sed found nothing to replace" >&2
  exit 2
fi

# --- the server ----------------------------------------------------------------------------------
launcher_pid=""
cleanup() {
  if [[ -n "$launcher_pid" ]] && kill -0 "$launcher_pid" 2>/dev/null; then
    kill -TERM "$launcher_pid" 2>/dev/null || true
    wait "$launcher_pid" 2>/dev/null || true
  fi
  if (( cleanup_work )) && [[ "${REDHIVE_KEEP_TMP:-0}" != 1 ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

info="$work/server.json"
rm -f "$info"
"$python" "$py_tests/redhive_server.py" --info-file "$info" --workdir "$work/server" &
launcher_pid=$!
for _ in $(seq 1 600); do
  [[ -s "$info" ]] && break
  if ! kill -0 "$launcher_pid" 2>/dev/null; then
    wait "$launcher_pid" || true
    launcher_pid=""
    echo "run.sh: the redhive server did not start (see above)" >&2
    exit 2
  fi
  sleep 0.1
done
[[ -s "$info" ]] || { echo "run.sh: server not up after 60 s" >&2; exit 2; }
read -r port user password auth_source log_path < <("$python" - "$info" <<'PY'
import json, sys
i = json.load(open(sys.argv[1]))
print(i["mongo_port"], i["root_user"], i["root_password"], i["root_auth_source"], i["log_path"])
PY
)
if [[ "$auth_source" != admin ]]; then
  echo "run.sh: warning: root's authSource is '$auth_source'; pymongo's harness authenticates against admin" >&2
fi

# --- preflight: what pymongo's harness asks the server before any test (diagnostics only) ---------
DB_PORT="$port" DB_USER="$user" DB_PASSWORD="$password" "$python" - <<'PY' || true
import os
from pymongo import MongoClient
from pymongo.errors import PyMongoError
port = int(os.environ["DB_PORT"])
def show(label, fn):
    try:
        r = fn()
        print(f"preflight: {label}: ok {str(r)[:160]}")
    except PyMongoError as e:
        print(f"preflight: {label}: {type(e).__name__} {getattr(e, 'code', '')} {str(e)[:160]}")
na = MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=5000)
show("unauthenticated ping", lambda: na.admin.command("ping"))
show("unauthenticated getCmdLineOpts (harness wants code 13)", lambda: na.admin.command("getCmdLineOpts"))
rc = MongoClient("127.0.0.1", port, username=os.environ["DB_USER"], password=os.environ["DB_PASSWORD"],
                 serverSelectionTimeoutMS=5000)
show("root usersInfo on admin (must list the root user)", lambda: [u["user"] for u in rc.admin.command("usersInfo")["users"]])
for cmd in ("getCmdLineOpts", "serverStatus", "ismaster", "buildinfo", "killAllSessions"):
    show(f"root {cmd}", lambda cmd=cmd: rc.admin.command(cmd) if cmd != "killAllSessions" else rc.admin.command(cmd, []))
show("root getParameter '*' has enableTestCommands", lambda: "enableTestCommands" in rc.admin.command("getParameter", "*"))
na.close(); rc.close()
PY

# --- run ----------------------------------------------------------------------------------------
echo "run.sh: pymongo $pymongo_version unified runner, ${#spec_files[@]} spec files from $shared, server 127.0.0.1:$port"
set +e
(
  cd "$pm"
  DB_IP=127.0.0.1 DB_PORT="$port" DB_USER="$user" DB_PASSWORD="$password" \
    "$python" -m pytest test/test_crud_subset.py -q -p no:cacheprovider -rs ${PYTEST_ARGS:-}
) 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
# keep the server's log next to the output when something failed (the work dir is temporary)
if (( status != 0 )); then cp "$log_path" "$here/last-run-server.log" 2>/dev/null || true; else rm -f "$here/last-run-server.log"; fi

# --- summary ------------------------------------------------------------------------------------
if "$python" - "$out" "$status" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
status = int(sys.argv[2])
counts = {}
for line in reversed(text.splitlines()):
    if re.search(r"\b(passed|failed|skipped|error|errors|no tests ran)\b", line) and " in " in line:
        for n, what in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed|deselected)", line):
            counts[what] = int(n)
        break
bad = 0
if "Cannot connect to MongoDB" in text:
    print("run.sh: pymongo's harness could not connect/authenticate: every test was skipped")
    bad = 1
elif counts.get("passed", 0) == 0:
    print("run.sh: no conformance test passed")
    bad = 1
# -rs shows only skips in the short summary: take failing tests and their first error line
# from the failure sections ("____ TestClass.test_name ____" ... "E   reason").
failed = []
cur = None
for l in text.splitlines():
    m = re.match(r"^_{3,} (\S.*?) _{3,}$", l)
    if m:
        cur = [m.group(1), ""]
        failed.append(cur)
    elif cur is not None and not cur[1] and l.startswith("E ") and l[1:].strip():
        cur[1] = l[1:].strip()
skipped = [l for l in text.splitlines() if l.startswith("SKIPPED ")]
print("\n==== conformance summary (pytest exit %d) ====" % status)
for name, why in failed:
    print("  FAILED %s -- %s" % (name, why[:200]))
for s in skipped:
    print("  " + s[:300])
n_failed = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0) + bad
# last line in the plain "N passed, N failed" form that test drivers count
print("conformance: %d passed, %d failed, %d skipped" % (counts.get("passed", 0), n_failed, counts.get("skipped", 0)))
sys.exit(bad)
PY
then summary_ok=1; else summary_ok=0; fi
if (( status == 0 && summary_ok == 0 )); then status=1; fi
exit "$status"
