#!/usr/bin/env bash
# Push the image `make image` built to its registry (`make image-push`): docker push when a Docker daemon answers,
# else buildah push from the storage scripts/image.sh built it in. Log in to the registry first (docker login, or
# buildah login, with the same user).
#
# Environment: IMAGE (default ecr-updater/ecr-updater:<VERSION>, as `make image`), VERSION (default: from git, as
# in the Makefile), and DEST (buildah only): where to push instead of the registry IMAGE names, in buildah's
# transport syntax, e.g. dir:/tmp/ecr-updater or oci-archive:/tmp/ecr-updater.tar (make image-check pushes to a
# dir: this way, which needs no registry).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/buildah-env.sh
. scripts/buildah-env.sh

VERSION=${VERSION:-$(default_version)}
IMAGE=${IMAGE:-ecr-updater/ecr-updater:$(image_tag "$VERSION")}
[ $# -eq 0 ] || die "usage: IMAGE=<name> $0 (no arguments)"

# A name without a registry host (the first part has no dot or port and is not localhost) is Docker Hub's.
first=${IMAGE%%/*}
if [ -z "${DEST:-}" ] && { [[ $IMAGE != */* ]] || [[ $first != *.* && $first != *:* && $first != localhost ]]; }; then
	log "note: $IMAGE names no registry host, so it goes to Docker Hub (docker.io); for your own registry give IMAGE_REPO=<registry host>/<path>"
fi

if [ -z "${DEST:-}" ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
	docker image inspect "$IMAGE" >/dev/null 2>&1 ||
		die "Docker has no image $IMAGE: build it first with make image and the same IMAGE_REPO and VERSION"
	log "docker push $IMAGE"
	docker push "$IMAGE"
	exit 0
fi

[ -n "${DEST:-}" ] || log "no Docker daemon (docker info failed): pushing with buildah"
ensure_buildah
setup_buildah
buildah inspect --type image "$IMAGE" >/dev/null 2>&1 ||
	die "buildah has no image $IMAGE (storage: ${STORAGE_DRIVER:-default}): build it first with make image and the same IMAGE_REPO and VERSION"
# --format v2s2: the Docker manifest and configuration, which keep the HEALTHCHECK (the OCI format has none).
dest=${DEST:-docker://$IMAGE}
log "buildah push --format v2s2 $IMAGE $dest"
buildah push --format v2s2 "$IMAGE" "$dest"
