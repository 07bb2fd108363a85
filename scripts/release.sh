#!/usr/bin/env bash
# Cross-compile the release binaries (`make release`): for each PLATFORM os/arch,
#   DIST/ecr-updater_<version>_<os>_<arch>        (.exe added for windows)
# and DIST/SHA256SUMS, in the format of sha256sum (check it with: cd dist && sha256sum -c SHA256SUMS).
#
# Environment: VERSION, COMMIT (default: from git, as in the Makefile), PLATFORMS (default
# "linux/amd64 linux/arm64 windows/amd64"), GO (default go), DIST (default dist).
# <version> is VERSION with every character outside [A-Za-z0-9_.-] replaced by '-'.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/buildah-env.sh
. scripts/buildah-env.sh

VERSION=${VERSION:-$(default_version)}
COMMIT=${COMMIT:-$(default_commit)}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 windows/amd64}
GO=${GO:-go}
DIST=${DIST:-dist}
name_version=$(image_tag "$VERSION")

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$@"
	else
		shasum -a 256 "$@"
	fi
}

mkdir -p "$DIST"
# Only what this run builds is listed in SHA256SUMS.
rm -f "$DIST"/ecr-updater_* "$DIST/SHA256SUMS"
files=()
for p in $PLATFORMS; do
	os=${p%/*}
	arch=${p#*/}
	ext=
	[ "$os" = windows ] && ext=.exe
	file=ecr-updater_${name_version}_${os}_${arch}${ext}
	log "building $DIST/$file"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath \
		-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" \
		-o "$DIST/$file" .
	files+=("$file")
done
(cd "$DIST" && sha256 "${files[@]}" >SHA256SUMS && sha256 -c --quiet SHA256SUMS >&2)
log "wrote $DIST/SHA256SUMS"
