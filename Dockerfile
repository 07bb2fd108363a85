# ecr-updater image: a static Go binary, the CA bundle and a non-root user on scratch.
#
#   docker build --build-arg VERSION=v1.0.0 --build-arg COMMIT=$(git rev-parse --short HEAD) -t ecr-updater/ecr-updater:v1.0.0 .
#   make image IMAGE_REPO=registry.example.com/ops/ecr-updater VERSION=v1.0.0   # the same, through docker or
#                       # (without a Docker daemon) scripts/image.sh; make image-push pushes it (README)
#   make image-check    # build with buildah and check the result (size, user, health check, a demo pass)
#
# The `build` stage lays out the final image's whole filesystem under /out; the final stage copies
# it in one step. Without Docker, scripts/image.sh builds the same /out tree on the host and runs
#   buildah bud --pull=never --build-context build=DIR ...
# which makes COPY --from=build read DIR instead of running this stage, so the golang image is
# never needed. Keep the /out layout (and the user below) in step with scripts/image.sh.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Dependencies in their own layer: it is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -tags urfave_cli_no_template,nethttpomithttp2 \
        -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
        -o /out/ecr-updater . \
 && mkdir -p /out/etc/ssl/certs \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt \
 && echo 'ecr-updater:x:65532:65532:ecr-updater:/nonexistent:/sbin/nologin' > /out/etc/passwd \
 && echo 'ecr-updater:x:65532:' > /out/etc/group \
 && chmod 0755 /out/ecr-updater \
 && chmod 0644 /out/etc/passwd /out/etc/group /out/etc/ssl/certs/ca-certificates.crt

FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="ecr-updater" \
      org.opencontainers.image.description="Keeps AWS ECR passwords fresh in Rancher 1.6 registries" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/ /
USER 65532:65532
# /ping, /livez, /healthz, /readyz and /metrics (LISTEN_PORT).
EXPOSE 8080
# `healthcheck` asks /livez, which fails only when the updater's loop is wedged, as Rancher's health check does: a
# failing key or Rancher leaves the container healthy, since a restart would not fix it (whatever acts on Docker's
# health status, Docker Swarm or autoheal, restarts it only when wedged; plain Docker never acts on it). Whether
# credentials are refreshed: /healthz, or `docker exec <container> /ecr-updater healthcheck --status`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/ecr-updater","healthcheck"]
ENTRYPOINT ["/ecr-updater"]
CMD ["run"]
