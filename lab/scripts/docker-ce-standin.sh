#!/usr/bin/env bash
# Build flask-vps/docker-ce-repo: a local stand-in for Docker CE's apt
# repository (https://download.docker.com/linux/debian), for testing the
# docker role's default install path where Docker's servers are unreachable.
#
# What it is: an apt repository with Docker's layout (linux/debian/gpg, and
# dists/{bookworm,trixie}/ with InRelease, Release.gpg, stable/binary-{amd64,
# arm64}/Packages(.gz) and pool/stable/<arch>/), signed with a throwaway GPG
# key made during the build. Its packages carry Docker CE's names
# (docker-ce, docker-ce-cli, containerd.io, docker-buildx-plugin,
# docker-compose-plugin) and put the binaries and units at Docker CE's paths
# (/usr/bin/dockerd, /usr/bin/docker, /usr/bin/containerd, /usr/bin/runc,
# /usr/libexec/docker/cli-plugins/..., docker.service, docker.socket,
# containerd.service; the docker group made in postinst). The binaries are
# Debian's own: Engine 26.1, containerd 1.7, Compose 2.26 and Buildx 0.13
# from Debian 13's packages for both releases (they need only glibc 2.34),
# runc and tini from each release's own. docker-ce and docker-ce-cli come in
# two versions per release, 5:26.1.5-1~debian.<N>~<codename> and the same
# bits as 5:26.1.4-..., for tests of version pinning. Only this machine's
# architecture has packages; the other index is empty. It also serves
# linux/other-arch/: the same repository whose Release lists only the other
# architecture, for the preflight test of an architecture with no index.
#
# What it cannot prove: that Docker's real packages install the same way.
# Their maintainer scripts, dependencies, unit files, default configuration
# (containerd's config.toml) and versions are Docker's, not these; a change
# there would not show up here. It proves the role's side: the repository
# definition, the key, apt's signature checks, version pinning and holds,
# the removal of legacy definitions, and a stack running on the packages at
# Docker CE's paths.
#
# The image serves the repository over plain HTTP on port 80
# (python3 -m http.server); tests run it on a Docker network the VPS
# container joins, under the alias docker-ce-repo, and point the role at it:
#   docker_apt_repository_url: http://docker-ce-repo/linux/debian
#   docker_apt_key_url: http://docker-ce-repo/linux/debian/gpg
#
# Needs flask-vps/debian:12 and :13 (lab/scripts/build-images.sh 13 12). Rebuilt
# from Docker's cache when nothing changed; the first build downloads the
# Debian packages (a few minutes).
#
# Usage: lab/scripts/docker-ce-standin.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
for base in flask-vps/debian:12 flask-vps/debian:13; do
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    echo "$base is missing: run lab/scripts/build-images.sh 13 12 first" >&2
    exit 1
  fi
done
if ! log=$(docker build -q -t flask-vps/docker-ce-repo:latest "$here/lab/images/docker-ce-repo" 2>&1 >/dev/null); then
  echo "building flask-vps/docker-ce-repo failed:" >&2
  echo "$log" >&2
  exit 1
fi
