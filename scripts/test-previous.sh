#!/usr/bin/env bash
# N-1: the previous release's API tests, run against a database migrated to this commit's head.
#   scripts/test-previous.sh [POSTGRESQL_SERVER_URL]      (N1_BASE=<commit> to choose "previous")
# "Previous" is scripts/previous-release.sh's: N1_BASE, else the latest tag, else HEAD~1.
#
# Rolling back changes the image and leaves the schema (README, "Releases and rollback"), so the
# previous release's code must work on the current schema. This checks the previous commit
# (N1_BASE, default HEAD~1) out in a git worktree with its own locked dependencies, gives it
# this commit's migrations, and runs its tests on PostgreSQL: its own test fixtures migrate
# their database to the current head. Process, browser and model-drift tests are left out:
# the first two test the old processes, not the schema, and the drift check compares the old
# models with the new migrations, which differ by design.
#
# A contract migration breaks older code on purpose, and `flask release check-rollback`
# refuses to roll back past one. So when the newest contract migration came after N1_BASE, the
# base moves forward to the commit that added it; when that is this commit, there is no
# earlier release to check, and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SERVER_URL=${1:-${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}}
UV=${UV:-uv}

head=$(git rev-parse HEAD)
if ! base=$(bash scripts/previous-release.sh); then
  echo "no previous release (${N1_BASE:-HEAD~1}) in this clone (shallow?): nothing to compare" >&2
  [[ ${CI:-} == true ]] && exit 1
  exit 0
fi

for migration in $(grep -l '^phase = "contract"' migrations/versions/*.py 2>/dev/null || true); do
  added=$(git log --diff-filter=A --format=%H -1 -- "$migration")
  if [[ -z $added ]]; then added=$head; fi # not committed yet
  if ! git merge-base --is-ancestor "$added" "$base"; then
    echo "contract migration $(basename "$migration") came after $(git rev-parse --short "$base"):" \
      "comparing with $(git rev-parse --short "$added"), which added it"
    base=$added
  fi
done
if [[ $base == "$head" ]]; then
  echo "== N-1: this commit adds a contract migration; no earlier release runs on its schema" \
    "(check-rollback refuses them). Nothing to compare."
  exit 0
fi

WORKTREE=$(mktemp -d "${TMPDIR:-/tmp}/previous-release.XXXXXX")
cleanup() {
  cd "$ROOT" && git worktree remove --force "$WORKTREE" >/dev/null 2>&1 || rm -rf "$WORKTREE"
  git -C "$ROOT" worktree prune || true
}
trap cleanup EXIT
git worktree add --quiet --detach "$WORKTREE" "$base"
rm -rf "$WORKTREE/migrations"
cp -R "$ROOT/migrations" "$WORKTREE/migrations"
find "$WORKTREE/migrations" -name __pycache__ -prune -exec rm -rf {} +

echo "== N-1: the API tests of $(git log -1 --format='%h %s' "$base")"
echo "   on PostgreSQL migrated to $(git log -1 --format=%h "$head")'s head"
cd "$WORKTREE"
# Every extra too: its tests cover what the optional extras bring (observability).
UV_PYTHON_DOWNLOADS=never "$UV" sync --frozen --quiet --all-extras
# On every CPU where that commit has pytest-xdist (from the commit that added it on).
parallel=()
if "$UV" run --frozen --no-sync python -c "import xdist" 2>/dev/null; then
  parallel=(-n auto --dist loadfile)
fi
TEST_DATABASE_URL=$SERVER_URL "$UV" run --frozen --no-sync pytest -q -p no:randomly "${parallel[@]}" \
  --ignore=tests/process --ignore=tests/e2e --ignore=tests/test_migrations.py tests

# The previous release's generated client, driven by its own end-to-end test, against this
# commit's web process: a client built on the previous release must keep working.
CLIENT_TEST=tests/process/test_generated_client.py
if [[ ! -f $CLIENT_TEST ]]; then
  echo "== N-1: $(git log -1 --format=%h "$base") has no generated client" \
    "(clients/python/, $CLIENT_TEST): no earlier client to run against this commit"
  exit 0
fi
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/previous-client.XXXXXX")
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
web_env=(env APP_ENV=test SECRET_KEY=n1-client-check-secret-0123456789abcdef
  JWT_SECRET_KEY=n1-client-check-secret-0123456789abcdef RATELIMIT_ENABLED=false
  DATABASE_URL="sqlite:///$SCRATCH/n1.db" HOST=127.0.0.1 PORT="$PORT" WEB_CONCURRENCY=1)
(cd "$ROOT" && "${web_env[@]}" FLASK_APP=app .venv/bin/flask db upgrade >/dev/null)
(cd "$ROOT" && exec "${web_env[@]}" .venv/bin/gunicorn --config gunicorn.conf.py >"$SCRATCH/web.log" 2>&1) &
WEB_PID=$!
stop_web() { kill "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null; rm -rf "$SCRATCH"; cleanup; }
trap stop_web EXIT
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/livez', timeout=1)" \
    2>/dev/null && break
  sleep 0.2
done
echo "== N-1: the generated client of $(git log -1 --format=%h "$base") against $(git log -1 --format=%h "$head")'s web process"
API_URL="http://127.0.0.1:$PORT" "$UV" run --frozen --no-sync pytest -q -p no:randomly "$CLIENT_TEST" \
  || { tail -20 "$SCRATCH/web.log"; exit 1; }
