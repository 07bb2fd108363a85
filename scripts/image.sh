#!/usr/bin/env bash
# Build the ecr-updater image without a Docker daemon (CI, or `make image` when `docker info` fails).
#
#   scripts/image.sh [extra buildah bud arguments...]
#
# Environment: VERSION, COMMIT (default: from git, as in the Makefile), IMAGE (default
# ecr-updater/ecr-updater:<VERSION>, as `make image`), GO (default go), GOARCH (default: the host's).
#
# It builds the same Dockerfile as `docker build .`, but produces the `build` stage's output on the
# host: DIR/out/ecr-updater (the static binary, built like the Dockerfile builds it),
# DIR/out/etc/ssl/certs/ca-certificates.crt (the host's CA bundle), DIR/out/etc/passwd and
# DIR/out/etc/group, and then runs
#   buildah bud --pull=never --build-context build=DIR ...
# With a build context named like the stage, COPY --from=build reads DIR and buildah skips the
# stage, so the golang image is never pulled (there is no registry to pull it from in CI).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/buildah-env.sh
. scripts/buildah-env.sh

VERSION=${VERSION:-$(default_version)}
COMMIT=${COMMIT:-$(default_commit)}
IMAGE=${IMAGE:-ecr-updater/ecr-updater:$(image_tag "$VERSION")}
GO=${GO:-go}
arch=${GOARCH:-$("$GO" env GOARCH)}

ensure_buildah
ensure_ca
setup_buildah

ctx=$(mktemp -d "${TMPDIR:-/tmp}/ecr-updater-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
out=$ctx/out

# Keep in step with the build stage of the Dockerfile.
log "building $out/ecr-updater (version $VERSION, commit $COMMIT, linux/$arch)"
CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -tags urfave_cli_no_template,nethttpomithttp2 \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT" \
	-o "$out/ecr-updater" .
mkdir -p "$out/etc/ssl/certs"
cp -L "$HOST_CA_BUNDLE" "$out/etc/ssl/certs/ca-certificates.crt"
echo 'ecr-updater:x:65532:65532:ecr-updater:/nonexistent:/sbin/nologin' >"$out/etc/passwd"
echo 'ecr-updater:x:65532:' >"$out/etc/group"
chmod 0755 "$out" "$out/etc" "$out/etc/ssl" "$out/etc/ssl/certs" "$out/ecr-updater"
chmod 0644 "$out/etc/passwd" "$out/etc/group" "$out/etc/ssl/certs/ca-certificates.crt"

# --format docker: the OCI format has no HEALTHCHECK, and buildah would drop it.
platform=()
if [ "$arch" != "$(buildah info --format '{{.host.arch}}')" ]; then
	platform=(--platform "linux/$arch")
fi
log "building $IMAGE with buildah (storage: ${STORAGE_DRIVER:-default}, isolation: $BUILDAH_ISOLATION)"
buildah bud --pull=never --format docker "${platform[@]}" \
	--build-context build="$ctx" \
	--build-arg VERSION="$VERSION" --build-arg COMMIT="$COMMIT" \
	-f Dockerfile -t "$IMAGE" "$@" .
log "built $IMAGE"
