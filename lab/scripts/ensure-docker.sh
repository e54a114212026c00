#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine (the controller that runs
# the local VPS and the tests). Where none is installed and we run as root,
# install Debian's docker.io and start it; otherwise say what to do.
set -euo pipefail

wait_for_docker() {
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

docker info >/dev/null 2>&1 && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "No Docker engine answers. Start Docker (or add yourself to the docker group) and rerun." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null; then
  echo "Installing Debian's docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if [ -d /run/systemd/system ]; then
  systemctl start docker
else
  # No init system (a container or CI runner): run dockerd in the background.
  echo "Starting dockerd (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
wait_for_docker || { echo "dockerd did not answer within 60 s: see /var/log/dockerd.log" >&2; exit 1; }
