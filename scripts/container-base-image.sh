#!/usr/bin/env bash
# Make a base image without a registry: a minimal Debian debootstrapped from the machine's apt
# mirror, with python3, imported into podman as localhost/<name>-base:bookworm (<name> from
# pyproject.toml). Prints the image's name.
#
# The Dockerfile builds on any image with python3 (3.11+) and venv, chosen by its build
# argument BASE_IMAGE (default: the official python:3.11-slim, what ships). Where no registry
# is reachable, scripts/container-check.sh builds on this one instead:
#   podman build --build-arg BASE_IMAGE="$(scripts/container-base-image.sh)" .
# The image is reused while its inputs are the same; the rootfs tarball is cached in
# .ci/cache/. Needs root (debootstrap); DEBIAN_MIRROR overrides the mirror found in apt's sources.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates
CACHE_DIR=$PWD/.ci/cache
NAME=$(sed -n 's/^name = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
IMAGE=localhost/$NAME-base:$SUITE

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

MIRROR=${DEBIAN_MIRROR:-$(mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEY=$(printf '%s %s %s' "$SUITE" "$PACKAGES" "$MIRROR" | sha256sum | cut -c1-12)
if [[ $(podman image inspect --format "{{index .Config.Labels \"$NAME.base.key\"}}" "$IMAGE" 2>/dev/null) == "$KEY" ]]; then
  echo "$IMAGE"
  exit 0
fi

TARBALL=$CACHE_DIR/$NAME-base-$SUITE-$KEY.tar
if [[ ! -s $TARBALL ]]; then
  command -v debootstrap >/dev/null || {
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
  }
  echo "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR" >&2
  mkdir -p "$CACHE_DIR"
  ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/$NAME-rootfs.XXXXXX")
  trap 'rm -rf "$ROOTFS"' EXIT
  if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS/root" "$MIRROR" \
    >"$ROOTFS/debootstrap.log" 2>&1; then
    tail -n 20 "$ROOTFS/debootstrap.log" >&2
    exit 1
  fi
  rm -rf "$ROOTFS"/root/var/cache/apt/archives/*.deb "$ROOTFS"/root/var/lib/apt/lists/*
  tar -C "$ROOTFS/root" --numeric-owner -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
fi
podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL $NAME.base.key=$KEY" \
  --change 'CMD ["/bin/bash"]' \
  "$TARBALL" "$IMAGE" >&2
echo "$IMAGE"
