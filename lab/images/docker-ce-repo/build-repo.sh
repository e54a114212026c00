#!/bin/sh
# build-repo DEBS OUT: repackage Debian's Docker packages under Docker CE's
# package names and file paths, and lay them out as Docker's apt repository
# (OUT/linux/debian/{gpg,dists,pool}), signed with a key made here.
set -eu
debs=$1
out=$2/linux/debian
arch=$(dpkg --print-architecture)
work=$(mktemp -d)

extract() { # extract DEB DIR
  mkdir -p "$2" && dpkg-deb -x "$1" "$2"
}

# package NAME VERSION DEPENDS TREE [CONFLICTS]: build OUT/pool/.../NAME_VERSION.deb
package() {
  name=$1 version=$2 depends=$3 tree=$4 conflicts=${5:-}
  mkdir -p "$tree/DEBIAN"
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: $arch"
    echo "Maintainer: flask-vps test fixture <root@localhost>"
    echo "Depends: $depends"
    [ -z "$conflicts" ] || { echo "Conflicts: $conflicts"; echo "Replaces: $conflicts"; }
    echo "Section: admin"
    echo "Priority: optional"
    echo "Description: $name stand-in for tests (Debian's binaries, Docker CE's layout)"
  } >"$tree/DEBIAN/control"
  file=$(echo "${name}_${version}_$arch.deb" | tr ':' '%')
  # Docker's layout: each release has its own pool.
  mkdir -p "$out/dists/$codename/pool/stable/$arch"
  dpkg-deb --root-owner-group -Zgzip -z1 --build "$tree" "$out/dists/$codename/pool/stable/$arch/$file" >/dev/null
}

for codename in bookworm trixie; do
  case $codename in bookworm) major=12 ;; trixie) major=13 ;; esac
  t=$work/$codename
  # runc and tini of this release (Debian 13's need glibc 2.38); the rest is
  # Debian 13's, which needs only glibc 2.34 (Debian 12 has 2.36).
  for p in docker.io docker-cli containerd docker-compose docker-buildx; do
    extract "$(ls "$debs"/trixie/${p}_*.deb)" "$t/src/$p"
  done
  for p in runc tini; do
    extract "$(ls "$debs"/$codename/${p}_*.deb)" "$t/src/$p"
  done
  engine=$(dpkg-deb -f "$(ls "$debs"/trixie/docker.io_*.deb)" Version | sed 's/+.*//')
  containerd=$(dpkg-deb -f "$(ls "$debs"/trixie/containerd_*.deb)" Version | sed 's/[~+].*//')
  compose=$(dpkg-deb -f "$(ls "$debs"/trixie/docker-compose_*.deb)" Version | sed 's/-.*//')
  buildx=$(dpkg-deb -f "$(ls "$debs"/trixie/docker-buildx_*.deb)" Version | sed 's/[~+-].*//')
  suffix="-1~debian.$major~$codename"

  # containerd.io: containerd, its shims, ctr and runc.
  c=$t/containerd.io
  mkdir -p "$c/usr/bin" "$c/lib/systemd/system" "$c/etc/containerd"
  cp -L "$t/src/containerd/usr/bin/"* "$c/usr/bin/"
  # Debian's runc is /usr/sbin/runc (/usr/bin/runc, where there is one, links to it).
  cp "$t/src/runc/usr/sbin/runc" "$c/usr/bin/runc"
  cp "$t/src/containerd/etc/containerd/config.toml" "$c/etc/containerd/config.toml"
  sed 's#/usr/sbin/#/usr/bin/#g' "$t/src/containerd/usr/lib/systemd/system/containerd.service" \
    >"$c/lib/systemd/system/containerd.service"
  mkdir -p "$c/DEBIAN" && echo /etc/containerd/config.toml >"$c/DEBIAN/conffiles"
  cat >"$c/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable containerd.service >/dev/null 2>&1 || true
  systemctl restart containerd.service || true
fi
SH
  chmod 0755 "$c/DEBIAN/postinst"
  package containerd.io "$containerd-1~debian.$major~$codename" "libc6 (>= 2.34), libseccomp2" "$c" "containerd, runc"

  for version in "5:$engine$suffix" "5:$(echo "$engine" | awk -F. '{print $1"."$2"."$3-1}')$suffix"; do
    # docker-ce-cli: the docker command.
    d=$t/cli-$version
    mkdir -p "$d/usr/bin"
    cp "$t/src/docker-cli/usr/bin/docker" "$d/usr/bin/docker"
    package docker-ce-cli "$version" "libc6 (>= 2.34)" "$d" "docker.io, docker-cli"

    # docker-ce: dockerd, docker-proxy, docker-init, the units, the docker group.
    d=$t/engine-$version
    mkdir -p "$d/usr/bin" "$d/lib/systemd/system" "$d/DEBIAN"
    cp "$t/src/docker.io/usr/sbin/dockerd" "$t/src/docker.io/usr/sbin/docker-proxy" "$d/usr/bin/"
    cp "$t/src/tini/usr/bin/tini-static" "$d/usr/bin/docker-init"
    for unit in docker.service docker.socket; do
      sed -e 's#/usr/sbin/dockerd#/usr/bin/dockerd#' -e 's# \$DOCKER_OPTS##' -e '/^EnvironmentFile/d' \
        "$t/src/docker.io/usr/lib/systemd/system/$unit" >"$d/lib/systemd/system/$unit"
    done
    cat >"$d/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent group docker >/dev/null || groupadd --system docker
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable docker.socket docker.service >/dev/null 2>&1 || true
    if [ -n "$2" ]; then systemctl restart docker.service || true; else systemctl start docker.service || true; fi
  fi
fi
SH
    chmod 0755 "$d/DEBIAN/postinst"
    package docker-ce "$version" \
      "containerd.io (>= 1.6.24), docker-ce-cli, iptables, libc6 (>= 2.34), libsystemd0" "$d" "docker.io, docker-engine"
  done

  d=$t/compose
  mkdir -p "$d/usr/libexec/docker/cli-plugins"
  cp "$t/src/docker-compose/usr/libexec/docker/cli-plugins/docker-compose" "$d/usr/libexec/docker/cli-plugins/"
  package docker-compose-plugin "$compose-1~debian.$major~$codename" "libc6 (>= 2.34)" "$d" "docker-compose"
  d=$t/buildx
  mkdir -p "$d/usr/libexec/docker/cli-plugins"
  cp "$t/src/docker-buildx/usr/libexec/docker/cli-plugins/docker-buildx" "$d/usr/libexec/docker/cli-plugins/"
  package docker-buildx-plugin "$buildx-1~debian.$major~$codename" "libc6 (>= 2.34)" "$d" "docker-buildx"
done

# A throwaway signing key, made for this image only.
export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
# Docker's key's e-mail address, so that the docker role's search for Docker
# keys in apt-key's keyring can be tested with this one.
gpg --batch --quiet --passphrase '' --quick-gen-key "Docker CE stand-in for tests (throwaway) <docker@docker.com>" ed25519 sign never
gpg --batch --armor --export >"$out/gpg"

cd "$out"
for codename in bookworm trixie; do
  for a in amd64 arm64; do
    dir=dists/$codename/stable/binary-$a
    mkdir -p "$dir"
    if [ "$a" = "$arch" ]; then
      apt-ftparchive packages "dists/$codename/pool/stable/$arch" >"$dir/Packages"
    else
      : >"$dir/Packages"
    fi
    gzip -9kn "$dir/Packages"
  done
  apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=Docker -o APT::FTPArchive::Release::Label=Docker \
    -o APT::FTPArchive::Release::Suite="$codename" -o APT::FTPArchive::Release::Codename="$codename" \
    -o APT::FTPArchive::Release::Architectures="amd64 arm64" \
    -o APT::FTPArchive::Release::Components=stable \
    release "dists/$codename" >"$work/Release"
  mv "$work/Release" "dists/$codename/Release"
  gpg --batch --yes --clearsign -o "dists/$codename/InRelease" "dists/$codename/Release"
  gpg --batch --yes -abs -o "dists/$codename/Release.gpg" "dists/$codename/Release"
done

# The same repository as seen from a machine of the other architecture: its
# Release lists only that one (for the preflight check of the architecture).
other=$( [ "$arch" = amd64 ] && echo arm64 || echo amd64 )
for codename in bookworm trixie; do
  dir=$2/linux/other-arch/dists/$codename
  mkdir -p "$dir/stable/binary-$other"
  : >"$dir/stable/binary-$other/Packages"
  gzip -9kn "$dir/stable/binary-$other/Packages"
  cp gpg "$2/linux/other-arch/gpg"
  apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=Docker -o APT::FTPArchive::Release::Label=Docker \
    -o APT::FTPArchive::Release::Suite="$codename" -o APT::FTPArchive::Release::Codename="$codename" \
    -o APT::FTPArchive::Release::Architectures="$other" \
    -o APT::FTPArchive::Release::Components=stable \
    release "$dir" >"$work/Release"
  mv "$work/Release" "$dir/Release"
  gpg --batch --yes --clearsign -o "$dir/InRelease" "$dir/Release"
done
rm -rf "$work"
find "$2" -type f | sort
