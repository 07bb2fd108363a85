# ecr-updater. `make test` is what CI runs (through .ci/run); `make demo` is a newcomer's first command.
GO      ?= go
BINARY  ?= ecr-updater
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PLATFORMS ?= linux/amd64 linux/arm64 windows/amd64
FUZZTIME ?= 15s
# The image is IMAGE_REPO:<VERSION made a valid tag>. By default it is named as docker-compose.yml and the catalog's
# default name it (catalog/catalog_test.go checks that the three agree), ecr-updater/ecr-updater:<version>: a tagged
# tree, or VERSION=v1.0.0, builds the tag the catalog names. To deploy, give IMAGE_REPO your registry's repository
# (README: "Deploying: build and push the image").
IMAGE_REPO ?= ecr-updater/ecr-updater
IMAGE   ?= $(IMAGE_REPO):$(shell printf '%s' '$(VERSION)' | tr -c 'A-Za-z0-9_.-' '-' | cut -c1-128)
# Build tags of every build, test and release (also in the Dockerfile and scripts/image.sh), comma-separated:
# urfave_cli_no_template renders the same help without text/template, which would keep every exported method in the
# binary (3.2 MB); nethttpomithttp2 leaves HTTP/2 out of net/http (0.6 MB of binary and 0.5 MB of idle RSS): every
# request of the daemon (a few dozen per pass, hours apart) works the same over HTTP/1.1, which Rancher and AWS speak.
TAGS    ?= urfave_cli_no_template,nethttpomithttp2
export GOFLAGS := $(strip $(GOFLAGS) -tags=$(TAGS))

.PHONY: all help build test lint fmt-check vet staticcheck tidy-check unit fuzz bench deps-size demo image image-push image-name image-check release clean

## all: the default goal: build
all: build

## help: list the targets and what each does (from the `## target:` comments in this Makefile)
help:
	@awk '/^## [A-Za-z0-9_-]+:/ { name = substr($$2, 1, length($$2) - 1); sub(/^## [^:]*: */, ""); \
		printf "  %-12s %s\n", name, $$0; more = 1; next } \
		more && /^## / { sub(/^## /, ""); printf "  %-12s %s\n", "", $$0; next } { more = 0 }' $(firstword $(MAKEFILE_LIST))

## build: a static binary ./ecr-updater with the version stamped in
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINARY) .

## test: gofmt, go vet, staticcheck and the race-enabled test suite
test: lint unit

## lint: fmt-check, vet, staticcheck and tidy-check
lint: fmt-check vet staticcheck tidy-check

## tidy-check: go.mod and go.sum are what go mod tidy makes them
tidy-check:
	$(GO) mod tidy -diff

## fmt-check: every Go file is as gofmt writes it
fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## vet: go vet
vet:
	$(GO) vet ./...

## staticcheck: staticcheck, the version go.mod pins (go tool)
staticcheck:
	$(GO) tool staticcheck ./...

## unit: the test suite with the race detector (needs a C compiler), without the lint
unit:
	$(GO) test -race -count=1 ./...

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseServerAddress$$' -fuzztime=$(FUZZTIME) ./ecr/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeToken$$' -fuzztime=$(FUZZTIME) ./ecr/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeCollection$$' -fuzztime=$(FUZZTIME) ./rancher/
	$(GO) test -run='^$$' -fuzz='^FuzzScanEvent$$' -fuzztime=$(FUZZTIME) ./rancher/
	$(GO) test -run='^$$' -fuzz='^FuzzParseImage$$' -fuzztime=$(FUZZTIME) ./ecr/
	$(GO) test -run='^$$' -fuzz='^FuzzProxySecrets$$' -fuzztime=$(FUZZTIME) .

## bench: one updater, 50 environments x 40 registries against the stand-ins (in a process of their own), then the
## released binary over the same world for the memory figures; exits 1 when a request count is not the minimum or
## a target (3 s a pass, 40 MB peak RSS, 20 MB idle RSS) is missed. BENCHFLAGS=-baseline adds a sequential run.
bench:
	CGO_ENABLED=0 $(GO) run ./internal/bench $(BENCHFLAGS)

## deps-size: the released binary's size and the daemon's idle RSS in the basic world (1 environment, 3 registries),
## and what each dependency costs in binary bytes and resident pages; exits 1 when the targets (15 MB, 16 MB) are missed
deps-size:
	CGO_ENABLED=0 $(GO) run ./internal/bench -daemon -deps -tags '$(TAGS)'

## demo: the updater loop against built-in stand-ins, three passes
demo:
	$(GO) run . demo --passes 3

## image: the container image IMAGE_REPO:VERSION, as `make image-name` prints it: docker build when a Docker daemon
## answers, else buildah (scripts/image.sh). IMAGE_REPO defaults to ecr-updater/ecr-updater, the catalog's default
## name, and VERSION to `git describe`: a tagged tree, or VERSION=v1.0.0, gives the tag the catalog names, e.g.
## make image IMAGE_REPO=registry.example.com/ops/ecr-updater VERSION=v1.0.0
image:
	@if docker info >/dev/null 2>&1; then \
		echo "docker build -t $(IMAGE) ."; \
		docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) . ; \
	else \
		echo "no Docker daemon (docker info failed): building with buildah, scripts/image.sh"; \
		VERSION=$(VERSION) COMMIT=$(COMMIT) IMAGE=$(IMAGE) GO=$(GO) scripts/image.sh; \
	fi
	@echo "built $(IMAGE): push it with make image-push IMAGE_REPO=$(IMAGE_REPO) VERSION=$(VERSION), and answer the catalog's Image question with that name"

## image-push: push the image `make image` built (give the same IMAGE_REPO and VERSION) to its registry: docker push
## when a Docker daemon answers, else buildah push (scripts/image-push.sh); docker login or buildah login first
image-push:
	VERSION=$(VERSION) IMAGE=$(IMAGE) scripts/image-push.sh

## image-name: print the name `make image` gives the image (IMAGE_REPO:VERSION)
image-name:
	@echo $(IMAGE)

## image-check: build the image with buildah and check size, user and health check; run version, a demo pass
## and a once pass against stand-ins from it under chroot
image-check:
	VERSION=$(VERSION) COMMIT=$(COMMIT) GO=$(GO) scripts/image-check.sh

## release: cross-compile PLATFORMS into dist/ecr-updater_<version>_<os>_<arch>[.exe], with dist/SHA256SUMS
release:
	VERSION=$(VERSION) COMMIT=$(COMMIT) GO=$(GO) PLATFORMS="$(PLATFORMS)" scripts/release.sh

## clean: remove the binary and dist/
clean:
	rm -rf $(BINARY) dist
