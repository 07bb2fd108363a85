# shellcheck shell=bash
# Sourced by scripts/image.sh and scripts/image-check.sh: logging, package installs, and a buildah
# set-up that works on CI runners and sandboxes without a Docker daemon.

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt_install PACKAGE...: install Debian packages (as root), running apt-get update only when needed.
apt_install() {
	[ "$(id -u)" = 0 ] || die "$* missing: install it (apt-get install $*) or run as root"
	command -v apt-get >/dev/null 2>&1 || die "$* missing and there is no apt-get to install it"
	log "installing $* with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null
	fi
}

ensure_buildah() {
	command -v buildah >/dev/null 2>&1 || apt_install buildah
}

# The host CA bundle goes into the image as /etc/ssl/certs/ca-certificates.crt.
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
ensure_ca() {
	[ -s "$HOST_CA_BUNDLE" ] || apt_install ca-certificates
	[ -s "$HOST_CA_BUNDLE" ] || die "$HOST_CA_BUNDLE missing after installing ca-certificates"
}

# storage_works: can buildah create (and, as root, mount) a working container with the current settings?
storage_works() {
	local ctr rc=0
	ctr=$(buildah from --pull=never scratch 2>/dev/null) || return 1
	if [ "$(id -u)" = 0 ]; then
		buildah mount "$ctr" >/dev/null 2>&1 || rc=1
	fi
	buildah rm "$ctr" >/dev/null 2>&1 || true
	return "$rc"
}

# setup_buildah: chroot isolation (no OCI runtime needed) and a storage driver that works here:
# the configured one (usually overlay), else vfs. STORAGE_DRIVER and BUILDAH_ISOLATION set by the
# caller win.
setup_buildah() {
	export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
	if [ -z "${STORAGE_DRIVER:-}" ] && ! storage_works; then
		log "buildah's default storage does not work here; using STORAGE_DRIVER=vfs"
		export STORAGE_DRIVER=vfs
	fi
	storage_works || die "buildah cannot create containers (STORAGE_DRIVER=${STORAGE_DRIVER:-default}); see: buildah info"
}

# image_tag VERSION: VERSION made a valid image tag ([A-Za-z0-9_.-], at most 128 characters).
image_tag() {
	local t
	t=$(printf '%s' "$1" | tr -c 'A-Za-z0-9_.-' '-' | cut -c1-128)
	printf '%s' "${t:-dev}"
}

# The version stamped into the binary, as the Makefile computes it.
default_version() { git describe --tags --always --dirty 2>/dev/null || echo dev; }
default_commit() { git rev-parse --short HEAD 2>/dev/null || echo unknown; }
