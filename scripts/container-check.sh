#!/usr/bin/env bash
# Check the image that ships, with podman instead of a Docker engine:
#   1. hadolint, and compose.yaml and the GitHub workflow against their schemas (offline);
#   2. build the Dockerfile, check its labels and that the build secret stayed out of it;
#   3. run it the way the Kubernetes manifests do (not root, read-only root, a tmpfs at /tmp,
#      no capabilities, no privilege escalation): the release step against a throwaway
#      PostgreSQL database, then web, worker and beat, each answering what an orchestrator asks,
#      writing only JSON lines, and stopping cleanly on SIGTERM.
#
# The build uses the Dockerfile's BASE_IMAGE: CONTAINER_CHECK_BASE_IMAGE where a registry is
# reachable (CI on GitHub), else a Debian made offline by scripts/container-base-image.sh.
# CONTAINER_CHECK_ADMIN_URL: the PostgreSQL server for the throwaway database (default
# TEST_DATABASE_URL when PostgreSQL, else postgresql://postgres@127.0.0.1:5432/postgres).
# CONTAINER_CHECK_REDIS_URL: broker and rate limits (default redis://127.0.0.1:6379/13), under
# a key prefix of the run's own.
# Both must be loopback addresses: the containers share the host's network.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
START=$SECONDS
# The project's name (pyproject.toml) names its images, containers and databases.
NAME=$(sed -n 's/^name = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
IMAGE=localhost/$NAME:check
RUN=$NAME-check-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
WORK=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-container-check.XXXXXX")
results=()
failures=0

check() { # description, command...: records PASS or FAIL, output in $WORK/check.log
  local what=$1
  shift
  if "$@" >>"$WORK/check.log" 2>&1; then results+=("PASS  $what"); else
    results+=("FAIL  $what")
    failures=$((failures + 1))
  fi
  echo "${results[-1]} ($((SECONDS - START))s)"
  [[ ${results[-1]} == PASS* ]]
}
finish() {
  ((failures)) && tail -n 40 "$WORK/check.log" >&2
  printf '\n== container check (%ss)\n' "$((SECONDS - START))"
  printf '  %s\n' "${results[@]}"
  ((failures == 0)) && echo "container check: PASS" && exit 0
  echo "container check: FAIL ($failures failed)" && exit 1
}
tool() { if [[ -x .venv/bin/$1 ]]; then echo ".venv/bin/$1"; else echo "$1"; fi; }
py() { python3 -c "$@"; }
loopback() { py 'import ipaddress, socket, sys; from urllib.parse import urlsplit
sys.exit(not all(ipaddress.ip_address(a[4][0]).is_loopback
  for a in socket.getaddrinfo(urlsplit(sys.argv[1]).hostname or "", None)))' "$1"; }
status_of() { py 'import sys, urllib.error, urllib.request as r
try: print(r.urlopen(sys.argv[1], timeout=5).status)
except urllib.error.HTTPError as e: print(e.code)
except OSError: print("000")' "$1"; }
is_200() { [[ $(status_of "$1") == 200 ]]; }
json_only() { podman logs "$1" 2>/dev/null | py 'import json, sys
lines = sys.stdin.read().splitlines()
sys.exit(not lines or not all(l.startswith("{") and isinstance(json.loads(l), dict) for l in lines))'; }
stops_cleanly() {
  podman stop -t 40 "$1" >/dev/null && [[ $(podman inspect -f '{{.State.ExitCode}}' "$1") == 0 ]]
}
until_true() { for _ in $(seq 1 "$1"); do "${@:2}" 2>/dev/null && return 0; sleep 1; done; return 1; }

cleanup() {
  podman rm -f -t 5 "$RUN-web" "$RUN-worker" "$RUN-beat" >/dev/null 2>&1
  [[ -n ${DB_NAME:-} ]] && psql "$ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== 1. lint and schemas"
check "hadolint: the Dockerfile has no warning" "$(tool hadolint)" --failure-threshold warning Dockerfile
check "compose.yaml matches the Compose specification" \
  "$(tool check-jsonschema)" --builtin-schema vendor.compose-spec compose.yaml
check "the GitHub workflow matches its schema" \
  "$(tool check-jsonschema)" --builtin-schema vendor.github-workflows .github/workflows/ci.yml

echo "== 2. build"
# runc too: the engine is set to runc below, and a podman installed without it has only crun.
if ! { command -v podman && command -v runc; } >/dev/null && ((EUID == 0)); then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends podman runc uidmap fuse-overlayfs slirp4netns passt >/dev/null
fi
# runc and explicit ulimits: what podman needs inside a sandboxed CI machine.
printf '[engine]\nruntime = "runc"\n[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n' \
  >"$WORK/containers.conf"
export CONTAINERS_CONF=$WORK/containers.conf
BASE_IMAGE=${CONTAINER_CHECK_BASE_IMAGE:-$(bash scripts/container-base-image.sh 2>>"$WORK/check.log")} ||
  { check "a base image (scripts/container-base-image.sh)" false; finish; }
COMMIT=$(git rev-parse HEAD)
CA=${EXTRA_CA:-/etc/ssl/certs/ca-certificates.crt}
check "podman build on $BASE_IMAGE" podman build --format docker --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --build-arg "APP_RELEASE=$COMMIT" --secret "id=extra_ca,src=$CA" --tag "$IMAGE" . || finish
label() { podman image inspect --format "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$IMAGE"; }
check "labels revision and version are the commit" test "$(label revision) $(label version)" == "$COMMIT $COMMIT"
check "the build secret (CA bundle) is in no layer" podman run --rm --network none --entrypoint sh "$IMAGE" -c \
  "! find / -xdev -type f \\( -name '*.pem' -o -name '*.crt' \\) -exec sha256sum {} + | grep -q $(sha256sum "$CA" | cut -c1-64)"

echo "== 3. run as Kubernetes does"
ADMIN_URL=${CONTAINER_CHECK_ADMIN_URL:-${TEST_DATABASE_URL:-}}
[[ $ADMIN_URL =~ ^postgres(ql)?:// ]] || ADMIN_URL=postgresql://postgres@127.0.0.1:5432/postgres
ADMIN_URL=${ADMIN_URL/#postgres:\/\//postgresql://}
REDIS_URL=${CONTAINER_CHECK_REDIS_URL:-redis://127.0.0.1:6379/13}
loopback "$ADMIN_URL" && loopback "$REDIS_URL" || { check "loopback database and Redis" false; finish; }
DB_NAME=${NAME//-/_}_container_${RUN##*-}
psql "$ADMIN_URL" -qX -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null || { unset DB_NAME; check "a throwaway database" false; finish; }
SECRET=$(py 'import secrets; print(secrets.token_urlsafe(36))')
PORT=$(py 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_deployed=(--network host --user 10001:10001 --read-only --tmpfs /tmp:rw,size=64m --cap-drop ALL
  --security-opt no-new-privileges -e APP_ENV=production -e "SECRET_KEY=$SECRET" -e "JWT_SECRET_KEY=$SECRET"
  -e "DATABASE_URL=$(py 'import sys; from urllib.parse import urlsplit as u
print(u(sys.argv[1])._replace(path="/" + sys.argv[2]).geturl())' "$ADMIN_URL" "$DB_NAME")"
  -e "CELERY_BROKER_URL=$REDIS_URL" -e "RATELIMIT_STORAGE_URI=$REDIS_URL" -e "REDIS_KEY_PREFIX=$RUN:"
  -e SMTP_URL=smtp://127.0.0.1:25
  -e HOST=127.0.0.1 -e "PORT=$PORT" -e WEB_CONCURRENCY=2 -e CELERY_WORKER_CONCURRENCY=1)
release=$(grep '^release:' Procfile | cut -d' ' -f2-)
# shellcheck disable=SC2086  # the Procfile's command, split into words
check "release step ($release) against PostgreSQL" podman run --rm "${as_deployed[@]}" "$IMAGE" $release

URL=http://127.0.0.1:$PORT
# podman's complaints about systemd timers for the HEALTHCHECK (none here) go to the log.
podman run -d --name "$RUN-web" "${as_deployed[@]}" "$IMAGE" >/dev/null 2>>"$WORK/check.log"
podman run -d --name "$RUN-worker" --no-healthcheck "${as_deployed[@]}" "$IMAGE" \
  celery -q -A app.worker worker >/dev/null 2>>"$WORK/check.log"
podman run -d --name "$RUN-beat" --no-healthcheck "${as_deployed[@]}" "$IMAGE" \
  celery -q -A app.worker beat --schedule /tmp/celerybeat-schedule >/dev/null 2>>"$WORK/check.log"
check "web: GET /livez is 200" until_true 60 is_200 "$URL/livez"
for path in /readyz /docs /docs/assets/swagger-ui-bundle.js; do check "web: GET $path is 200" is_200 "$URL$path"; done
check "web: GET /version reports the commit" test "$(py 'import json, sys, urllib.request as r
print(json.load(r.urlopen(sys.argv[1], timeout=5))["release"])' "$URL/version")" == "$COMMIT"
check "web: runs as uid 10001" test "$(podman exec "$RUN-web" id -u)" == 10001
check "web: the image's HEALTHCHECK passes" podman healthcheck run "$RUN-web"
probe=$(grep -m 1 -o "celery -q -A app.worker inspect ping[^']*" deploy/kubernetes/base/worker.yaml)
check "worker: answers its Kubernetes probe ($probe)" until_true 20 podman exec "$RUN-worker" sh -c "$probe"
check "beat: running, its schedule in /tmp" until_true 30 podman exec "$RUN-beat" \
  sh -c 'ls /tmp/celerybeat-schedule*'
for process in web worker beat; do
  check "$process: stops cleanly on SIGTERM" stops_cleanly "$RUN-$process"
  check "$process: every stdout line is a JSON object" json_only "$RUN-$process"
done
finish
