#!/usr/bin/env bash
# The local VPS: a Debian 13 container with systemd and its own Docker,
# provisioned and deployed by site.yml like a real VPS.
#   lab/scripts/demo.sh up     start it (if needed) and run site.yml against it
#   lab/scripts/demo.sh down   remove it
# DEMO_NAME, DEMO_PORT and DEMO_SSH_PORT choose the container's name and its
# ports on 127.0.0.1 (default vps-demo, 8080, 2222): lab/inventory/local.yml
# reads the same variables.
set -euo pipefail
cd "$(dirname "$0")/../.."

name=${DEMO_NAME:-vps-demo}
port=${DEMO_PORT:-8080}
export DEMO_NAME=$name DEMO_SSH_PORT=${DEMO_SSH_PORT:-2222}
ssh_port=$DEMO_SSH_PORT

start_vps() {
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
    return 0
  fi
  # A new VPS gets a new disk: Docker's state from an earlier one would point
  # at files this one does not have.
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume rm "$name-docker" >/dev/null 2>&1 || true
  if [ -f .cache/ssh/known_hosts ]; then
    ssh-keygen -q -R "[127.0.0.1]:$ssh_port" -f .cache/ssh/known_hosts >/dev/null 2>&1 || true
  fi
  # The container settings every VPS container of the project shares
  # (molecule/shared/vps-container.yml); the inner Docker's data in a volume.
  local options command
  mapfile -t options < <(python3 molecule/shared/stack.py vps-run-args "$name-docker")
  mapfile -t command < <(python3 molecule/shared/stack.py vps-command)
  docker run -d --name "$name" --hostname "$name" "${options[@]}" \
    -p "127.0.0.1:$port:80" -p "127.0.0.1:$ssh_port:22" \
    flask-vps/vps:13 "${command[@]}" >/dev/null
  for _ in $(seq 60); do
    state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running | degraded) return 0 ;; esac
    sleep 1
  done
  echo "the local VPS did not finish booting (systemctl is-system-running: $state)" >&2
  exit 1
}

case "${1:-up}" in
  up)
    fresh=$(docker inspect "$name" >/dev/null 2>&1 && echo no || echo yes)
    start_vps
    ansible-playbook lab/local_vps_handover.yml -i lab/inventory/local.yml
    ansible-playbook site.yml -i lab/inventory/local.yml
    # A new VPS takes two runs, as a real one does: the first logs in as root
    # and creates the deploy user, the second logs in as deploy and closes
    # root's SSH login.
    if [ "$fresh" = yes ]; then
      ansible-playbook site.yml -i lab/inventory/local.yml
    fi
    echo
    echo "The app answers at http://127.0.0.1:$port/"
    ;;
  down)
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker volume rm "$name-docker" >/dev/null 2>&1 || true
    echo "$name removed"
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
