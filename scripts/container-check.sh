#!/usr/bin/env bash
# Check the container setup without a Docker engine:
#   1. hadolint on the Dockerfile;
#   2. compose.yaml and the GitHub workflow against their JSON schemas (bundled, offline);
#   3. build the image with podman, run its release step against a throwaway database, start
#      the web process and ask it what an orchestrator and a user would ask.
#
# With no image registry reachable, the base image is a minimal Debian made with debootstrap
# from the machine's apt mirror and imported into podman (reused on later runs; the rootfs
# tarball is cached in .ci/cache/). Where a registry is reachable, set
# CONTAINER_CHECK_BASE_IMAGE (e.g. docker.io/library/python:3.11-slim) to build on it instead.
#
# Environment:
#   CONTAINER_CHECK_BASE_IMAGE   base image to build on (default: the debootstrapped Debian)
#   CONTAINER_CHECK_ADMIN_URL    PostgreSQL server to create the throwaway database on
#                                (default: TEST_DATABASE_URL when it is PostgreSQL, else
#                                postgresql://postgres@127.0.0.1:5432/postgres); must be loopback.
#                                With no server answering, the check uses SQLite in a volume.
#   DEBIAN_MIRROR                mirror for debootstrap (default: read from the apt sources)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
START=$SECONDS

CACHE_DIR=$ROOT/.ci/cache
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,ca-certificates
# The project's name (pyproject.toml) names its images, containers and databases.
NAME=$(sed -n 's/^name = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
IMAGE=localhost/$NAME:check
RUN_ID=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
WEB_CTR=$NAME-check-web-$RUN_ID

results=()
failures=0
pass() { results+=("PASS  $1"); echo "PASS  $1"; }
fail() { results+=("FAIL  $1"); echo "FAIL  $1" >&2; failures=$((failures + 1)); }
step() { echo; echo "== $1 ($((SECONDS - START))s)"; }

summary() {
  echo
  echo "== container check summary ($((SECONDS - START))s)"
  printf '  %s\n' "${results[@]}"
  if ((failures)); then
    echo "container check: FAIL ($failures failed)"
    exit 1
  fi
  echo "container check: PASS"
  exit 0
}

# Tools from the project's virtualenv when it has them, else from PATH.
tool() { if [[ -x $ROOT/.venv/bin/$1 ]]; then echo "$ROOT/.venv/bin/$1"; else echo "$1"; fi; }

as_root() {
  if ((EUID == 0)); then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else echo "needs root: $*" >&2; return 1
  fi
}

# ---------------------------------------------------------------------------- 1. hadolint
step "hadolint"
if "$(tool hadolint)" --failure-threshold warning Dockerfile; then
  pass "hadolint: Dockerfile has no warning or error"
else
  fail "hadolint: Dockerfile"
fi

# -------------------------------------------------------------------------- 2. schemas
step "JSON schemas (check-jsonschema's bundled copies, no network)"
if "$(tool check-jsonschema)" --builtin-schema vendor.compose-spec compose.yaml; then
  pass "compose.yaml matches the Compose specification"
else
  fail "compose.yaml against the Compose specification"
fi
if "$(tool check-jsonschema)" --builtin-schema vendor.github-workflows .github/workflows/ci.yml; then
  pass ".github/workflows/ci.yml matches the GitHub workflow schema"
else
  fail ".github/workflows/ci.yml against the GitHub workflow schema"
fi

# ------------------------------------------------------------------------ 3. podman
step "podman"
BASE_IMAGE=${CONTAINER_CHECK_BASE_IMAGE:-}
needed=(podman runc)
[[ -z $BASE_IMAGE ]] && needed+=(debootstrap)
missing=()
for command in "${needed[@]}"; do command -v "$command" >/dev/null || missing+=("$command"); done
if ((${#missing[@]})); then
  echo "installing with apt: podman and its helpers (missing: ${missing[*]})"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    podman runc debootstrap uidmap fuse-overlayfs slirp4netns passt \
    containernetworking-plugins iptables >/dev/null
fi
for command in "${needed[@]}"; do
  command -v "$command" >/dev/null || { fail "install $command (apt-get as root)"; summary; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-container-check.XXXXXX")
# runc, not crun, and explicit ulimits: what podman needs in this kind of sandbox.
cat >"$WORK/containers.conf" <<'EOF'
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
EOF
export CONTAINERS_CONF=$WORK/containers.conf

DB_MODE=""
DB_NAME=""
ADMIN_URL=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  podman rm -f -t 5 "$WEB_CTR" >/dev/null 2>&1
  if [[ $DB_MODE == postgresql ]]; then
    psql "$ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 ||
      echo "could not drop database $DB_NAME" >&2
  fi
  as_root rm -rf "$WORK" 2>/dev/null || rm -rf "$WORK"
}
trap cleanup EXIT

# --------------------------------------------------------- base image (when not given)
mirror() {
  # The first Debian archive (not -security) for $SUITE in the apt sources, one-line or deb822.
  python3 - "$SUITE" /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources <<'EOF'
import re
import sys

suite, files = sys.argv[1], sys.argv[2:]
for name in files:
    try:
        text = open(name, encoding="utf-8").read()
    except OSError:
        continue
    if name.endswith(".sources"):
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ", "\t")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and suite in fields.get("suites", []):
                uris = [u for u in fields.get("uris", []) if "security" not in u]
                if uris:
                    print(uris[0])
                    sys.exit()
    else:
        for line in text.splitlines():
            words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if words[:1] != ["deb"]:
                continue
            words = words[1:]
            if len(words) >= 2 and words[1] == suite and "security" not in words[0]:
                print(words[0])
                sys.exit()
EOF
}

if [[ -z $BASE_IMAGE ]]; then
  step "base image (debootstrapped Debian $SUITE)"
  MIRROR=${DEBIAN_MIRROR:-$(mirror)}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  KEY=$(printf '%s %s %s' "$SUITE" "$BASE_PACKAGES" "$MIRROR" | sha256sum | cut -c1-12)
  BASE_IMAGE=localhost/$NAME-base:$SUITE
  TARBALL=$CACHE_DIR/$NAME-base-$SUITE-$KEY.tar
  have=$(podman image inspect --format "{{index .Config.Labels \"$NAME.base.key\"}}" "$BASE_IMAGE" 2>/dev/null)
  if [[ $have == "$KEY" ]]; then
    echo "reusing $BASE_IMAGE"
  else
    if [[ ! -s $TARBALL ]]; then
      echo "debootstrap $SUITE (minbase + $BASE_PACKAGES) from $MIRROR"
      mkdir -p "$CACHE_DIR"
      rootfs=$WORK/rootfs
      if as_root debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$rootfs" \
        "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
        as_root sh -c "rm -rf '$rootfs'/var/cache/apt/archives/*.deb '$rootfs'/var/lib/apt/lists/* &&
          tar -C '$rootfs' --numeric-owner -cf '$TARBALL.tmp' . && chown $(id -u):$(id -g) '$TARBALL.tmp'" &&
          mv "$TARBALL.tmp" "$TARBALL"
      else
        tail -n 20 "$WORK/debootstrap.log" >&2
      fi
    fi
    if [[ -s $TARBALL ]] && podman import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change "LABEL $NAME.base.key=$KEY" \
      --change 'CMD ["/bin/bash"]' \
      "$TARBALL" "$BASE_IMAGE" >"$WORK/import.log" 2>&1; then
      echo "imported $BASE_IMAGE from $TARBALL"
    else
      fail "base image $BASE_IMAGE (debootstrap from $MIRROR)"
      summary
    fi
  fi
  pass "base image $BASE_IMAGE ($((SECONDS - START))s so far)"
fi

# ---------------------------------------------------------------------------- build
step "build on $BASE_IMAGE"
COMMIT=$(git rev-parse HEAD)
build_start=$SECONDS
# The machine's CA goes in as a build secret, so uv and pip can reach PyPI through a
# TLS-intercepting proxy; it is mounted only for the RUN steps that download.
if podman build --format docker \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --build-arg "APP_RELEASE=$COMMIT" \
  --secret "id=extra_ca,src=${EXTRA_CA:-/etc/ssl/certs/ca-certificates.crt}" \
  --tag "$IMAGE" . >"$WORK/build.log" 2>&1; then
  pass "podman build ($((SECONDS - build_start))s)"
else
  tail -n 30 "$WORK/build.log" >&2
  fail "podman build"
  summary
fi

label=$(podman image inspect --format '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$IMAGE")
if [[ $label == "$COMMIT" ]]; then
  pass "label org.opencontainers.image.revision is the commit ($COMMIT)"
else
  fail "label org.opencontainers.image.revision is '$label', not $COMMIT"
fi
version_label=$(podman image inspect --format '{{index .Config.Labels "org.opencontainers.image.version"}}' "$IMAGE")
if [[ $version_label == "$COMMIT" ]]; then
  pass "label org.opencontainers.image.version is the commit"
else
  fail "label org.opencontainers.image.version is '$version_label', not $COMMIT"
fi

host_ca=$(sha256sum "${EXTRA_CA:-/etc/ssl/certs/ca-certificates.crt}" | cut -d' ' -f1)
if podman run --rm --network none --entrypoint sh "$IMAGE" -c \
  "test ! -e /run/secrets/extra_ca &&
   ! find / -xdev -type f \\( -name '*.pem' -o -name '*.crt' \\) -exec sha256sum {} + 2>/dev/null | grep -q $host_ca" \
  2>"$WORK/secret.err"; then
  pass "the build secret (CA bundle) is in no layer of the image"
else
  fail "the build secret (CA bundle) is in the image"
fi

# ------------------------------------------------------------------ throwaway database
step "release step: flask --app app db upgrade"
is_loopback() {
  python3 - "$1" <<'EOF'
import ipaddress, socket, sys
from urllib.parse import urlsplit
host = urlsplit(sys.argv[1]).hostname or "127.0.0.1"
try:
    addrs = {info[4][0] for info in socket.getaddrinfo(host, None)}
except OSError:
    sys.exit(1)
sys.exit(0 if addrs and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs) else 1)
EOF
}
with_database() { # server URL, database name -> the same URL naming that database
  python3 -c 'import sys; from urllib.parse import urlsplit, urlunsplit
u = urlsplit(sys.argv[1]); print(urlunsplit(u._replace(path="/" + sys.argv[2])))' "$1" "$2"
}

if [[ -n ${CONTAINER_CHECK_ADMIN_URL:-} ]]; then
  ADMIN_URL=$CONTAINER_CHECK_ADMIN_URL
elif [[ ${TEST_DATABASE_URL:-} =~ ^postgres(ql)?:// ]]; then
  ADMIN_URL=$TEST_DATABASE_URL
else
  ADMIN_URL=postgresql://postgres@127.0.0.1:5432/postgres
fi
ADMIN_URL=${ADMIN_URL/#postgres:\/\//postgresql://}
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(36))')
JWT_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(36))')
export SECRET_KEY JWT_SECRET_KEY
DB_VOLUME=()
if ! is_loopback "$ADMIN_URL"; then
  fail "database server $ADMIN_URL is not a loopback address"
  summary
elif command -v psql >/dev/null && psql "$ADMIN_URL" -qXtA -c 'SELECT 1' >/dev/null 2>&1; then
  DB_NAME=${NAME//-/_}_container_$RUN_ID
  psql "$ADMIN_URL" -qX -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null && DB_MODE=postgresql
  DATABASE_URL=$(with_database "$ADMIN_URL" "$DB_NAME")
  echo "throwaway PostgreSQL database $DB_NAME"
else
  echo "no PostgreSQL server answers at ${ADMIN_URL%%@*}@...: using SQLite in a volume"
  DB_MODE=sqlite
  mkdir -p "$WORK/data" && chmod 0777 "$WORK/data"
  DB_VOLUME=(--volume "$WORK/data:/data")
  DATABASE_URL=sqlite:////data/$NAME.db
fi
export DATABASE_URL
# Production requires a broker; /readyz only connects to it (no message is sent).
CELERY_BROKER_URL=${CONTAINER_CHECK_BROKER_URL:-redis://127.0.0.1:6379/15}
if ! is_loopback "$CELERY_BROKER_URL"; then
  fail "broker $CELERY_BROKER_URL is not a loopback address"
  summary
fi
export CELERY_BROKER_URL
# Production refuses per-process rate-limit counters with two workers: they share Redis.
RATELIMIT_STORAGE_URI=${CONTAINER_CHECK_RATELIMIT_URL:-redis://127.0.0.1:6379/15}
if ! is_loopback "$RATELIMIT_STORAGE_URI"; then
  fail "rate-limit storage $RATELIMIT_STORAGE_URI is not a loopback address"
  summary
fi
# Production requires somewhere for mail to go; this check sends none.
SMTP_URL=smtp://127.0.0.1:25
export RATELIMIT_STORAGE_URI SMTP_URL

# Host networking reaches the database on loopback; HOST keeps gunicorn on loopback too.
run_env=(--network host -e APP_ENV=production -e SECRET_KEY -e JWT_SECRET_KEY -e DATABASE_URL
  -e CELERY_BROKER_URL -e RATELIMIT_STORAGE_URI -e SMTP_URL -e HOST=127.0.0.1
  -e WEB_CONCURRENCY=2 "${DB_VOLUME[@]}")
if podman run --rm "${run_env[@]}" "$IMAGE" flask --app app db upgrade \
  >"$WORK/migrate.log" 2>&1; then
  if [[ $DB_MODE == postgresql ]]; then
    revision=$(psql "$DATABASE_URL" -qXtA -c 'SELECT version_num FROM alembic_version' 2>/dev/null)
  fi
  pass "release step against $DB_MODE (revision: ${revision:-none})"
else
  grep -v 'systemd' "$WORK/migrate.log" | tail -n 30 >&2
  fail "release step (flask --app app db upgrade) against $DB_MODE"
fi

# ------------------------------------------------------------------------------ web
step "web process"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
podman run --rm --name "$WEB_CTR" "${run_env[@]}" -e PORT="$PORT" "$IMAGE" \
  >"$WORK/web.stdout" 2>"$WORK/web.stderr" &
web_pid=$!
BASE_URL=http://127.0.0.1:$PORT

http_status() { # URL -> status code, 000 when nothing answers
  python3 - "$1" <<'EOF'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
        print(response.status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print("000")
EOF
}

ready=""
for _ in $(seq 1 60); do
  if [[ $(http_status "$BASE_URL/livez") == 200 ]]; then ready=1; break; fi
  kill -0 "$web_pid" 2>/dev/null || break
  sleep 1
done
if [[ -n $ready ]]; then
  pass "GET /livez is 200 (up after $((SECONDS - START))s in all)"
  for path in /readyz /docs /docs/assets/swagger-ui-bundle.js; do
    status=$(http_status "$BASE_URL$path")
    if [[ $status == 200 ]]; then pass "GET $path is 200"; else fail "GET $path is $status, not 200"; fi
  done
  release=$(python3 -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["release"])' "$BASE_URL/version" 2>/dev/null)
  if [[ $release == "$COMMIT" ]]; then
    pass "GET /version reports the commit"
  else
    fail "GET /version reports '$release', not $COMMIT"
  fi

  uid=$(podman exec "$WEB_CTR" id -u 2>/dev/null)
  if [[ -n $uid && $uid != 0 ]]; then
    pass "the web container runs as uid $uid (not root)"
  else
    fail "the web container runs as uid '${uid:-?}'"
  fi
  if podman healthcheck run "$WEB_CTR" >/dev/null 2>&1; then
    pass "the image's HEALTHCHECK passes"
  else
    fail "the image's HEALTHCHECK"
  fi
else
  fail "GET /livez never answered 200 within 60s"
  tail -n 20 "$WORK/web.stdout" "$WORK/web.stderr" >&2
fi

podman stop -t 35 "$WEB_CTR" >/dev/null 2>&1
wait "$web_pid" 2>/dev/null
web_exit=$?
if ((web_exit == 0)); then
  pass "the web process stops cleanly on SIGTERM"
else
  fail "the web process exited with $web_exit on SIGTERM"
fi

lines=$(grep -c '' "$WORK/web.stdout")
bad=$(python3 - "$WORK/web.stdout" <<'EOF'
import json, sys
bad = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        if not isinstance(json.loads(line), dict):
            bad += 1
    except ValueError:
        bad += 1
        print(f"  not JSON: {line.rstrip()[:200]}", file=sys.stderr)
print(bad)
EOF
)
if ((lines > 0 && bad == 0)); then
  pass "all $lines stdout lines of the web container are JSON objects"
else
  fail "web stdout: $bad of $lines lines are not JSON objects"
  head -n 20 "$WORK/web.stdout" >&2
fi
# podman's own complaints about systemd timers for healthchecks are not the app's output.
app_stderr=$(grep -v 'systemd' "$WORK/web.stderr" || true)
if [[ -n $app_stderr ]]; then
  echo "note: the web container wrote to stderr:" >&2
  head -n 20 <<<"$app_stderr" >&2
fi

summary
