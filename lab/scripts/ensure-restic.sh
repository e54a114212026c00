#!/usr/bin/env bash
# The backup script's unit tests run restic against a local repository on this
# machine (the controller). Where restic is missing and we run as root,
# install Debian's package; otherwise say what to do.
set -euo pipefail

command -v restic >/dev/null && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "restic is not installed: install it (apt install restic) and rerun." >&2
  exit 1
fi

echo "Installing Debian's restic"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic >/dev/null
