#!/usr/bin/env bash
# Build the images the local VPS and the tests need, without any registry:
#   flask-vps/vps:<release>       Debian with systemd, python3 and sudo: the "VPS"
#   flask-vps/python:3.13-slim    stand-in for the official python:3.13-slim
#   flask-vps/nginx:1.26          stand-in for the official nginx image
#   flask-vps/postgres:17         stand-in for the official postgres:17
#   flask-vps/acme:pebble         pebble, the ACME CA of the HTTPS tests
#   flask-vps/registry:2          Debian's docker-registry, for app_registry's tests
#   flask-vps/backup-rest:0.13    restic's REST server, a backup server of the tests
# The three stand-ins are also saved as archives under .cache/images/ so the app
# role can ship them to the VPS (app_image_archives), as on an air-gapped host.
# Each base comes from the official debian:<codename> image when it can be
# pulled, otherwise from debootstrap. Existing base images are kept (FORCE=1
# makes them again); the images on top are rebuilt only when their directory
# or their base changed, so a second run changes nothing. With both releases, it also builds
# the stand-in of Docker CE's apt repository (lab/scripts/docker-ce-standin.sh).
# The bases are made side by side, then every image on top of them: most of
# the time goes to downloads from Debian's archive.
#
# `demo` builds only what `make demo` needs: the Debian 13 VPS and the three
# stand-ins.
#
# Usage: lab/scripts/build-images.sh [13] [12]     (default: 13)
#        lab/scripts/build-images.sh demo
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
cache="$here/.cache/images"
mkdir -p "$cache"
demo_only=
if [ "${1:-}" = demo ]; then
  demo_only=1
  set -- 13
fi
releases=("${@:-13}")

codename() {
  case "$1" in
    12) echo bookworm ;;
    13) echo trixie ;;
    *) echo "unsupported Debian release '$1' (allowed: 12, 13)" >&2; exit 2 ;;
  esac
}

for release in "${releases[@]}"; do codename "$release" >/dev/null; done

have() { [ -z "${FORCE:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }

# flask-vps/debian:<release> from the official image, if it can be pulled.
pull_base() {
  local dist
  dist=$(codename "$1")
  timeout 60 docker pull -q "debian:$dist" >/dev/null 2>&1 && docker tag "debian:$dist" "flask-vps/debian:$1"
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "Debian's official image cannot be pulled and debootstrap is missing: apt-get install debootstrap" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

# flask-vps/debian:<release> made with debootstrap.
debootstrap_base() {
  local release=$1 name="flask-vps/debian:$1" dist root
  dist=$(codename "$release")
  root=$(mktemp -d)
  echo "building $name with debootstrap ($dist)"
  debootstrap --variant=minbase "$dist" "$root" http://deb.debian.org/debian >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import - "$name" >/dev/null
  rm -rf "$root"
}

# What an image is made from: its directory and the ids of the images its
# build arguments name (the base). An image labelled with the same is kept.
source_of() { # source_of DOCKERFILE-DIR [build-arg...]
  local dir=$1 arg
  shift
  {
    tar -C "$dir" -c --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner .
    for arg in "$@"; do
      echo "$arg"
      docker image inspect -f '{{.Id}}' "${arg#*=}" 2>/dev/null || true
    done
  } | sha256sum | cut -d' ' -f1
}

build() { # build NAME DOCKERFILE-DIR [build-arg...]
  local name=$1 dir=$2 source
  shift 2
  # Rebuilt only when its source changed: parallel builds that share their
  # first steps race on Docker's layer cache, so a rebuild "from the cache"
  # can give a new image id, a new archive, and a change on the VPS.
  source=$(source_of "$dir" "$@")
  if [ "$(docker image inspect -f '{{ index .Config.Labels "flask-vps.source" }}' "$name" 2>/dev/null)" = "$source" ]; then
    return 0
  fi
  local args=(--label "flask-vps.source=$source")
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  # Quiet unless it fails (the engine's legacy builder warns on every build).
  local log
  if ! log=$(docker build -q "${args[@]}" -t "$name" "$dir" 2>&1 >/dev/null); then
    echo "building $name failed:" >&2
    echo "$log" >&2
    exit 1
  fi
}

# Runs "$@" in the background; all_done waits for every one and fails if any did.
pids=()
in_background() { "$@" & pids+=($!); }
all_done() {
  local failed=0 pid
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  pids=()
  return "$failed"
}

# The stack's images need Debian 13 whatever the VPS releases.
missing=()
for release in $(printf '%s\n' "${releases[@]}" 13 | sort -u); do
  have "flask-vps/debian:$release" || pull_base "$release" || missing+=("$release")
done
if [ "${#missing[@]}" -gt 0 ]; then
  ensure_debootstrap
  for release in "${missing[@]}"; do in_background debootstrap_base "$release"; done
  all_done
fi

# save_archive IMAGE: rewrite the archive only when the image changed, so the
# role's copy stays idempotent.
save_archive() {
  local image=$1 archive id
  archive="$cache/$(echo "$image" | tr '/:' '__').tar.gz"
  id=$(docker image inspect -f '{{.Id}}' "$image")
  if [ ! -s "$archive" ] || [ "$(cat "$archive.id" 2>/dev/null)" != "$id" ]; then
    docker save "$image" | gzip -1 >"$archive.tmp"
    mv "$archive.tmp" "$archive"
    echo "$id" >"$archive.id"
  fi
}
build_and_save() { build "$@" && save_archive "$1"; }

for release in "${releases[@]}"; do
  in_background build "flask-vps/vps:$release" "$here/lab/images/vps" "BASE=flask-vps/debian:$release"
done
# Base images for the app stack (Debian 13 userland, like the official ones).
in_background build_and_save flask-vps/python:3.13-slim "$here/lab/images/python" BASE=flask-vps/debian:13
in_background build_and_save flask-vps/nginx:1.26 "$here/lab/images/nginx" BASE=flask-vps/debian:13
in_background build_and_save flask-vps/postgres:17 "$here/lab/images/postgres" BASE=flask-vps/debian:13
if [ -n "$demo_only" ]; then
  all_done
  exit 0
fi
# The ACME CA of the HTTPS tests.
in_background build flask-vps/acme:pebble "$here/lab/images/acme" BASE=flask-vps/debian:13
# The image registry of the multi-host tests.
in_background build flask-vps/registry:2 "$here/lab/images/registry" BASE=flask-vps/debian:13
# The backup server of the multi-host tests.
in_background build flask-vps/backup-rest:0.13 "$here/lab/images/backup-rest" BASE=flask-vps/debian:13
if [[ " ${releases[*]} " == *" 12 "* ]]; then
  in_background "$here/lab/scripts/docker-ce-standin.sh"
fi
all_done
