#!/usr/bin/env bash
# Lynis hardening index of a VPS as the provider hands it over and of one
# provisioned by site.yml. Lynis comes from Debian's archive and is removed
# again after each measurement. Prints figures; it is not a test.
#
# Usage:
#   molecule converge -s production      # the provisioned VPS: production-vps
#   lab/benchmarks/lynis.sh [before] [after]
#     before: measure a fresh flask-vps/vps:13 container with openssh-server
#     after:  measure the running container production-vps (or $VPS)
set -euo pipefail

vps=${VPS:-production-vps}
if [ $# -eq 0 ]; then set -- before after; fi

measure() { # container -> "index tests warnings suggestions"
  docker exec -e DEBIAN_FRONTEND=noninteractive "$1" bash -c '
    set -e
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends lynis >/dev/null
    lynis audit system --quick --no-colors >/dev/null 2>&1 || true
    report=/var/log/lynis-report.dat
    index=$(sed -n "s/^hardening_index=//p" $report)
    tests=$(sed -n "s/^lynis_tests_done=//p" $report)
    warnings=$(grep -c "^warning\[\]=" $report || true)
    suggestions=$(grep -c "^suggestion\[\]=" $report || true)
    apt-get purge -y -qq lynis >/dev/null
    rm -f /var/log/lynis.log /var/log/lynis-report.dat
    echo "$index $tests $warnings $suggestions"'
}

report() { # label container
  read -r index tests warnings suggestions < <(measure "$2")
  printf '%-7s %-24s hardening index %3s  (tests %s, warnings %s, suggestions %s)\n' \
    "$1" "$2" "$index" "$tests" "$warnings" "$suggestions"
}

for step in "$@"; do
  case $step in
    before)
      # A fresh VPS like the provider's: the test image plus openssh-server.
      name=lynis-fresh-vps-$$
      docker run -d --name "$name" --cap-add SYS_ADMIN --cap-add NET_ADMIN \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --cgroupns host --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw flask-vps/vps:13 /lib/systemd/systemd >/dev/null
      trap 'docker rm -f "$name" >/dev/null' EXIT
      docker exec "$name" bash -c 'for i in $(seq 60); do systemctl is-system-running -q --wait 2>/dev/null && exit 0; sleep 1; done; true'
      docker exec -e DEBIAN_FRONTEND=noninteractive "$name" bash -c \
        'apt-get update -qq >/dev/null && apt-get install -y -qq openssh-server >/dev/null'
      report before "$name"
      docker rm -f "$name" >/dev/null
      trap - EXIT
      ;;
    after)
      report after "$vps"
      ;;
    *) echo "unknown step '$step' (before, after)" >&2; exit 2 ;;
  esac
done
