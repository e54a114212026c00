#!/usr/bin/env bash
# A second Docker engine beside this machine's, holding no image at all: what
# a new user's machine has before their first `make demo`. The demo test runs
# `make demo` against it (DOCKER_HOST), so every image the demo needs is built
# from nothing while the other suites keep using the machine's engine.
#   lab/scripts/empty-engine.sh up     start it (empty); prints its DOCKER_HOST
#   lab/scripts/empty-engine.sh down   stop it and delete everything it held
# Its containers get a bridge of their own. A second engine that manages
# iptables removes the first one's chains when it starts, so this one runs
# with --iptables=false: published ports go through docker-proxy, and the two
# rules its containers need to reach Debian's archive (NAT out, forwarding)
# are added here and removed by `down`.
set -euo pipefail

name=flask-vps-empty-engine
data=/var/lib/$name
exec_root=/run/$name
socket=$exec_root/docker.sock
bridge=fvps-empty0
address=10.213.0.1/24
subnet=10.213.0.0/24

# Each rule added by `up` and deleted by `down` (iptables -A/-I ... / -D ...).
rules=(
  "-t nat POSTROUTING -s $subnet ! -o $bridge -j MASQUERADE"
  "FORWARD -i $bridge -j ACCEPT"
  "FORWARD -o $bridge -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
)
rule() { # rule -I|-D RULE: "-t nat CHAIN ..." or "CHAIN ..."
  local action=$1 table=() words
  read -ra words <<<"$2"
  if [ "${words[0]}" = -t ]; then table=(-t "${words[1]}"); words=("${words[@]:2}"); fi
  iptables "${table[@]}" "$action" "${words[@]}"
}

down() {
  if [ -S "$socket" ]; then
    local containers
    containers=$(docker -H "unix://$socket" ps -aq 2>/dev/null || true)
    [ -z "$containers" ] || docker -H "unix://$socket" rm -f -v $containers >/dev/null 2>&1 || true
  fi
  if [ -f "$exec_root/dockerd.pid" ]; then
    local pid
    pid=$(cat "$exec_root/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Whatever an engine killed half-way left mounted.
  grep -oE " ($data|$exec_root)/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  for r in "${rules[@]}"; do
    while rule -D "$r" 2>/dev/null; do :; done
  done
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$data" "$exec_root"
}

up() {
  down
  mkdir -p "$data" "$exec_root"
  ip link add "$bridge" type bridge
  ip addr add "$address" dev "$bridge"
  ip link set "$bridge" up
  for r in "${rules[@]}"; do rule -I "$r"; done
  # Its own containerd namespace too, in case both engines share one containerd.
  nohup dockerd --data-root "$data" --exec-root "$exec_root" --pidfile "$exec_root/dockerd.pid" \
    -H "unix://$socket" --bridge "$bridge" --iptables=false --ip-masq=false \
    --containerd-namespace "$name" --containerd-plugins-namespace "$name-plugins" \
    >"$exec_root/dockerd.log" 2>&1 &
  for _ in $(seq 60); do
    if docker -H "unix://$socket" info >/dev/null 2>&1; then
      echo "unix://$socket"
      return 0
    fi
    sleep 1
  done
  echo "the empty engine did not answer within 60 s:" >&2
  tail -20 "$exec_root/dockerd.log" >&2
  exit 1
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
