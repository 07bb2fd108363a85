#!/usr/bin/env bash
# Build the ecr-updater image with buildah (scripts/image.sh, no Docker daemon needed) and check it:
# size, user, entrypoint, health check, CA bundle; push it with scripts/image-push.sh (make image-push) to a
# dir: destination, which needs no registry, and check that what was pushed keeps the health check and the
# version; then run the binary from the image's filesystem
# under chroot as the image's user: `version`, one real pass of `demo` (the Rancher and ECR stand-ins
# run inside the same process), and a `once` pass against stand-ins the host serves on loopback. `make image-check` runs this; so does CI.
#
# Environment: VERSION, COMMIT (default: from git), MAX_MB (default 25), and what scripts/image.sh
# reads. The image and container it makes are removed on exit; the image built by `make image`
# (ecr-updater/ecr-updater:<version>) is left alone.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/buildah-env.sh
. scripts/buildah-env.sh

MAX_MB=${MAX_MB:-25}
export VERSION=${VERSION:-$(default_version)}
export COMMIT=${COMMIT:-$(default_commit)}
started=$SECONDS

ensure_buildah
ensure_ca
# Mounting an image and chroot need root; without it, go on inside buildah's user namespace.
if [ "$(id -u)" != 0 ]; then
	log "not root: re-running inside buildah unshare"
	exec buildah unshare -- "$0" "$@"
fi
setup_buildah

name=ecr-updater-check-$$
export IMAGE=localhost/ecr-updater-check:$$
work=$(mktemp -d "${TMPDIR:-/tmp}/ecr-updater-check.XXXXXX")
ctr=
cleanup() {
	if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
	if [ -s "$work/iid" ]; then buildah rmi -f "$(cat "$work/iid")" >/dev/null 2>&1 || true; fi
	buildah rmi "$IMAGE" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# What a run that was killed (SIGKILL, power loss) left behind: its process is gone.
sweep() {
	local n pid
	while read -r n; do
		pid=${n##*-}
		case $n in ecr-updater-check-*) kill -0 "$pid" 2>/dev/null || buildah rm "$n" >/dev/null 2>&1 || true ;; esac
	done < <(buildah containers --noheading --format '{{.ContainerName}}' 2>/dev/null)
	while read -r n; do
		pid=${n##*:}
		case $n in localhost/ecr-updater-check:*) kill -0 "$pid" 2>/dev/null || buildah rmi -f "$n" >/dev/null 2>&1 || true ;; esac
	done < <(buildah images --noheading --format '{{.Name}}:{{.Tag}}' 2>/dev/null)
}
sweep

failures=0
pass() { printf '  ok    %s\n' "$*"; }
fail() {
	printf '  FAIL  %s\n' "$*"
	failures=$((failures + 1))
}

echo "== build"
scripts/image.sh --iidfile "$work/iid"
id=$(cat "$work/iid")
id=${id#sha256:}
inspect() { buildah inspect --type image --format "$1" "$id"; }

echo "== image configuration ($IMAGE, ${id:0:12})"
# Size: what `buildah images` (like `docker images`) reports, e.g. "18.2 MB" (decimal units).
size_h=$(buildah images --noheading --format '{{.Size}}' "$id" | head -n1)
size_mb=$(awk -v s="$size_h" 'BEGIN {
	n = s + 0; u = s; sub(/^[0-9.]+ */, "", u); u = toupper(u)
	f["B"] = 1e-6; f["KB"] = 1e-3; f["MB"] = 1; f["GB"] = 1e3
	if (!(u in f)) { print "?"; exit }
	printf "%.1f", n * f[u]
}')
if [ "$size_mb" != "?" ] && awk -v m="$size_mb" -v max="$MAX_MB" 'BEGIN { exit !(m < max) }'; then
	pass "size $size_mb MB (< $MAX_MB MB)"
else
	fail "size $size_h (limit $MAX_MB MB)"
fi

user=$(inspect '{{.Docker.Config.User}}')
uid=${user%%:*}
gid=${user#*:}
[ "$gid" != "$user" ] || gid=
if [[ $uid =~ ^[0-9]+$ ]] && [ "$uid" != 0 ] && [[ -z $gid || $gid =~ ^[0-9]+$ ]]; then
	pass "user $user (numeric, not root)"
else
	fail "user '$user': want a numeric non-root uid[:gid]"
fi
gid=${gid:-0}

entrypoint=$(inspect '{{printf "%q" .Docker.Config.Entrypoint}}')
if [ "$entrypoint" = '["/ecr-updater"]' ]; then pass "entrypoint $entrypoint"; else fail "entrypoint $entrypoint, want [\"/ecr-updater\"]"; fi

cmd=$(inspect '{{printf "%q" .Docker.Config.Cmd}}')
if [ "$cmd" = '["run"]' ]; then pass "cmd $cmd"; else fail "cmd $cmd, want [\"run\"]"; fi

healthcheck=$(inspect '{{with .Docker.Config.Healthcheck}}{{printf "%q" .Test}} interval={{.Interval}} timeout={{.Timeout}} start-period={{.StartPeriod}} retries={{.Retries}}{{end}}')
if [ "$healthcheck" = '["CMD" "/ecr-updater" "healthcheck"] interval=30s timeout=5s start-period=1m0s retries=3' ]; then
	pass "healthcheck $healthcheck"
else
	fail "healthcheck '$healthcheck': want CMD /ecr-updater healthcheck every 30s (timeout 5s, start period 60s, 3 retries)"
fi

# shellcheck disable=SC2016 # a Go template, not a shell expansion
ports=$(inspect '{{range $p, $_ := .Docker.Config.ExposedPorts}}{{$p}} {{end}}')
if [[ " $ports " == *" 8080/tcp "* ]]; then pass "exposes ${ports% }"; else fail "exposed ports '${ports% }', want 8080/tcp"; fi

# What `make image-push` sends, written to a directory instead of a registry: the same code path as a push to a
# registry without a Docker daemon (buildah push --format v2s2), with DEST instead of docker://IMAGE.
echo "== scripts/image-push.sh with DEST=dir:<dir>"
pushed=$work/pushed
if DEST="dir:$pushed" IMAGE="$IMAGE" scripts/image-push.sh >"$work/push.log" 2>&1; then
	manifest=$(tr -d ' \t\n' <"$pushed/manifest.json")
	config=$(grep -o '"config":{[^}]*}' <<<"$manifest" | grep -o 'sha256:[0-9a-f]\{64\}' | head -n1 || true)
	config_file=$pushed/${config#sha256:}
	if [[ $manifest == *'"mediaType":"application/vnd.docker.distribution.manifest.v2+json"'* ]] && [ -n "$config" ] && [ -s "$config_file" ]; then
		pass "push: a Docker manifest (v2 schema 2) and its configuration ${config:0:19}"
		conf=$(tr -d '\n' <"$config_file")
		if [[ $(tr -d ' \t' <<<"$conf") == *'"Healthcheck":{"Test":["CMD","/ecr-updater","healthcheck"]'* ]]; then
			pass "push: the pushed image keeps HEALTHCHECK /ecr-updater healthcheck"
		else
			fail "push: no HEALTHCHECK /ecr-updater healthcheck in the pushed configuration"
		fi
		if [[ $conf == *"\"org.opencontainers.image.version\":\"$VERSION\""* ]]; then
			pass "push: labelled with version $VERSION"
		else
			fail "push: the pushed configuration has no org.opencontainers.image.version label $VERSION"
		fi
	else
		fail "push: $pushed holds no Docker v2 schema 2 manifest with its configuration"
	fi
else
	fail "push: scripts/image-push.sh failed"
	sed 's/^/  | /' "$work/push.log"
fi

echo "== image filesystem"
ctr=$(buildah from --pull=never --name "$name" "$id")
mnt=$(buildah mount "$ctr")

rootfs_bytes=$(du -sb "$mnt" | cut -f1)
echo "  contents: $rootfs_bytes bytes, /ecr-updater $(stat -c %s "$mnt/ecr-updater") bytes"
files=$(cd "$mnt" && find . -mindepth 1 | LC_ALL=C sort | sed 's|^\./|/|' | tr '\n' ' ')
echo "  files: $files"
if [ "$files" = "/ecr-updater /etc /etc/group /etc/passwd /etc/ssl /etc/ssl/certs /etc/ssl/certs/ca-certificates.crt " ]; then
	pass "filesystem is the binary, the CA bundle, passwd and group"
else
	fail "unexpected filesystem: $files"
fi
ca=$mnt/etc/ssl/certs/ca-certificates.crt
if [ -s "$ca" ] && [ "$(stat -c %a "$ca")" = 644 ]; then
	pass "CA bundle /etc/ssl/certs/ca-certificates.crt ($(grep -c 'BEGIN CERTIFICATE' "$ca") certificates, $(stat -c %s "$ca") bytes)"
else
	fail "CA bundle /etc/ssl/certs/ca-certificates.crt missing, empty or not world-readable"
fi
if awk -F: -v u="$uid" -v g="$gid" '$3 == u && $4 == g { found = 1 } END { exit !found }' "$mnt/etc/passwd" 2>/dev/null &&
	awk -F: -v g="$gid" '$3 == g { found = 1 } END { exit !found }' "$mnt/etc/group" 2>/dev/null; then
	pass "/etc/passwd and /etc/group name user $uid:$gid: $(awk -F: -v u="$uid" '$3 == u { print $1 }' "$mnt/etc/passwd")"
else
	fail "/etc/passwd or /etc/group has no entry for $uid:$gid"
fi

# Run like the container would: only the image's environment, as the image's user.
home=$(awk -F: -v u="$uid" '$3 == u { print $6 }' "$mnt/etc/passwd")
env_args=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=ecr-updater-check HOME="${home:-/}")
while IFS= read -r kv; do
	[ -n "$kv" ] && env_args+=("$kv")
done < <(inspect '{{range .Docker.Config.Env}}{{println .}}{{end}}')
chroot_bin=$(command -v chroot) || die "chroot (coreutils) not found"
in_image() {
	timeout 120 env -i "${env_args[@]}" "$chroot_bin" --userspec="$uid:$gid" --groups="$gid" "$mnt" /ecr-updater "$@"
}

echo "== chroot --userspec=$uid:$gid <image> /ecr-updater version"
rc=0
version_out=$(in_image version 2>&1) || rc=$?
printf '%s\n' "$version_out" | sed 's/^/  | /'
if [ "$rc" = 0 ] && [[ $version_out == "ecr-updater $VERSION (commit $COMMIT, "* ]]; then
	pass "version: exit 0, stamped with $VERSION and $COMMIT"
else
	fail "version: exit $rc, want output starting 'ecr-updater $VERSION (commit $COMMIT, '"
fi

echo "== chroot --userspec=$uid:$gid <image> /ecr-updater demo --passes 1 --token-ttl 10s"
rc=0
demo_out=$(in_image demo --passes 1 --token-ttl 10s 2>&1) || rc=$?
printf '%s\n' "$demo_out" | sed 's/^/  | /'
if [ "$rc" = 0 ]; then pass "demo: exit 0"; else fail "demo: exit $rc"; fi
if grep -q 'Pass 1' <<<"$demo_out"; then pass "demo: prints 'Pass 1'"; else fail "demo: no 'Pass 1' in the output"; fi
# A row of the demo's table whose FRESH IN RANCHER column says yes: Rancher stores the password ECR just issued.
fresh=$(grep -cE '  yes  +(updated|created):' <<<"$demo_out" || true)
if [ "$fresh" -gt 0 ]; then pass "demo: $fresh credentials hold a fresh password"; else fail "demo: no row with 'yes' under FRESH IN RANCHER in the output"; fi

# A real `once` pass from the image against stand-ins served by the host: the benchmark's world process (2
# environments, 4 registries each) answers on loopback, which the chroot shares.
echo "== chroot --userspec=$uid:$gid <image> /ecr-updater once (against stand-ins on the host)"
GOFLAGS=${GOFLAGS:-} CGO_ENABLED=0 "${GO:-go}" build -o "$work/world" ./internal/bench
mkfifo "$work/world.in"
ECR_UPDATER_BENCH_ROLE=world "$work/world" -envs=2 -registries=4 -latency=0s <"$work/world.in" >"$work/world.out" 2>"$work/world.err" &
world_pid=$!
exec 7>"$work/world.in" # the world serves until this closes
for _ in $(seq 100); do [ -s "$work/world.out" ] && break; sleep 0.1; done
info=$(head -n1 "$work/world.out")
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$info"; }
rc=0
once_out=$(env_args+=(CATTLE_URL="$(field rancher_url)" CATTLE_ACCESS_KEY="$(field access_key)" CATTLE_SECRET_KEY="$(field secret_key)"
	AWS_ACCESS_KEY_ID="$(field aws_key_id)" AWS_SECRET_ACCESS_KEY="$(field aws_secret)" AWS_ENDPOINT_URL_ECR="$(field ecr_url)"
	AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true RANCHER_ENVIRONMENTS=all LISTEN_PORT=0) && in_image once 2>&1) || rc=$?
printf '%s\n' "$once_out" | grep -E 'pass done|level=(warning|error)' | sed 's/^/  | /'
echo verify >&7
for _ in $(seq 100); do [ "$(wc -l <"$work/world.out")" -ge 2 ] && break; sleep 0.1; done
verify=$(sed -n 2p "$work/world.out")
exec 7>&-
wait "$world_pid" 2>/dev/null || true
if [ "$rc" = 0 ]; then pass "once: exit 0"; else fail "once: exit $rc"; fi
if grep -q 'msg="pass done".*updated=4' <<<"$once_out"; then pass "once: 4 credentials updated"; else fail "once: no 'pass done ... updated=4' in the output"; fi
if [[ $verify == *'"ok":true'* ]]; then pass "once: Rancher stores the fresh passwords ($verify)"; else fail "once: the stand-ins say: $verify"; fi

echo "== summary"
echo "  image $IMAGE (${id:0:12}): $size_h, user $user, entrypoint $entrypoint, cmd $cmd"
echo "  took $((SECONDS - started))s"
if [ "$failures" -gt 0 ]; then
	echo "image-check: $failures check(s) FAILED"
	exit 1
fi
echo "image-check: all checks passed"
