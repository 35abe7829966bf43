#!/usr/bin/env bash
# Build the sandbox image (default magentic-sandbox:latest), saying what it does.
#
#   sandbox/build.sh            build when the inputs changed (hash label), else do nothing
#   sandbox/build.sh --force    build even when the image looks current
#
# Steps: (1) a Debian bookworm base image: `docker pull debian:bookworm-slim` where a
# registry answers, else a debootstrap minbase root filesystem imported with `docker import`
# (kept as magentic-sandbox-base:bookworm, so later builds skip it); (2) binary wheels for
# the image's Python 3.11, downloaded on the host into .build/wheels (pip inside a build may
# not reach the package index); (3) `docker build` of the Dockerfile with the legacy builder.
#
# Environment: MAGENTIC_SANDBOX_IMAGE, MAGENTIC_SANDBOX_BASE, DEBIAN_MIRROR,
# DEBIAN_SECURITY_MIRROR, PYTHON (the host Python whose pip downloads the wheels).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
IMAGE=${MAGENTIC_SANDBOX_IMAGE:-magentic-sandbox:latest}
BASE=${MAGENTIC_SANDBOX_BASE:-magentic-sandbox-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
PY=${PYTHON:-python3}
BUILD=$HERE/.build
force=0
[ "${1:-}" = --force ] && force=1

say() { printf '[sandbox] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
started=$(date +%s)

# The hash must match magentic.execution.image.input_hash (doctor checks it the same way).
hash=$(cd "$HERE" && cat Dockerfile requirements.txt build.sh .dockerignore | sha256sum | cut -c1-16)
old_id=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
current=$(docker image inspect --format '{{ index .Config.Labels "magentic.sandbox.hash" }}' \
  "$IMAGE" 2>/dev/null || true)
if [ "$current" = "$hash" ] && [ $force = 0 ]; then
  say "image $IMAGE is current (inputs $hash); nothing to do"
  exit 0
fi
say "building $IMAGE (inputs $hash${current:+, was $current})"
mkdir -p "$BUILD"

# 1. The base image.
if docker image inspect "$BASE" >/dev/null 2>&1; then
  say "base image $BASE present"
elif timeout 120 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
  docker tag debian:bookworm-slim "$BASE"
  say "base image $BASE from debian:bookworm-slim"
else
  say "no registry reachable: making a Debian bookworm root filesystem with debootstrap"
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "apt-get install debootstrap"
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends debootstrap >/dev/null
  fi
  rootfs=$BUILD/rootfs
  $SUDO rm -rf "$rootfs"
  t0=$(date +%s)
  $SUDO debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$BUILD/debootstrap.log" 2>&1 \
    || { say "debootstrap failed; last lines of $BUILD/debootstrap.log:"; tail -n 20 "$BUILD/debootstrap.log"; exit 1; }
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
    "$MIRROR" "$MIRROR" "$SECURITY_MIRROR" | $SUDO tee "$rootfs/etc/apt/sources.list" >/dev/null
  $SUDO rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  say "debootstrap done in $(( $(date +%s) - t0 )) s; docker import as $BASE"
  $SUDO tar -C "$rootfs" -c . | docker import - "$BASE" >/dev/null
  $SUDO rm -rf "$rootfs"
fi

# 2. Wheels for CPython 3.11 on manylinux x86_64 (Debian bookworm's Python).
say "pip download wheels into $BUILD/wheels"
mkdir -p "$BUILD/wheels"
platforms=()
for p in manylinux_2_36 manylinux_2_28 manylinux_2_27 manylinux_2_26 manylinux_2_24 \
         manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1; do
  platforms+=(--platform "${p}_x86_64")
done
"$PY" -m pip download -q --disable-pip-version-check -d "$BUILD/wheels" --only-binary=:all: \
  "${platforms[@]}" --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
  pip -r "$HERE/requirements.txt" 2>&1 | grep -v 'is ignored: it is neither' || true
[ -n "$(ls "$BUILD"/wheels/pip-*.whl 2>/dev/null)" ] \
  || { say "pip download failed (no pip wheel in $BUILD/wheels)"; exit 1; }
say "$(ls "$BUILD/wheels" | wc -l) wheels, $(du -sh "$BUILD/wheels" | cut -f1)"

# 3. The image.
say "docker build (legacy builder; log: $BUILD/build.log)"
t0=$(date +%s)
if ! DOCKER_BUILDKIT=0 docker build --build-arg "BASE=$BASE" --label "magentic.sandbox.hash=$hash" \
    -t "$IMAGE" "$HERE" >"$BUILD/build.log" 2>&1; then
  say "docker build failed; last lines of $BUILD/build.log:"
  tail -n 30 "$BUILD/build.log"
  exit 1
fi
grep -E '^Step [0-9]+/[0-9]+ : (FROM|RUN|COPY)' "$BUILD/build.log" | cut -c1-110 | sed 's/^/[sandbox]   /'
say "docker build done in $(( $(date +%s) - t0 )) s"

# The throw-away wheels stage and the image this one replaces are not needed any more.
docker image prune -f --filter label=magentic.sandbox.stage=wheels >/dev/null 2>&1 || true
new_id=$(docker image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
say "image $IMAGE ready: $(( size / 1000000 )) MB, built in $(( $(date +%s) - started )) s"
