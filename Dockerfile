# syntax=docker/dockerfile:1
# One image, both binaries: /manager (the controllers) and /webhook-server (Meta's callback receiver).
# config/manager and config/webhook-server run it with command: ["/manager"] and ["/webhook-server"].
#
#   docker build -t ghcr.io/mmelink/operator:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/mmelink/operator:dev .

# The Go release go.mod asks for (go 1.26). The builder runs on the build machine's platform and
# cross-compiles (CGO is off), so a multi-platform build does not emulate the compiler.
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Never download another toolchain than the image's; go.mod and go.sum are used as committed (readonly),
# as in CI.
ENV GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0

# Dependencies first, in their own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
# Static binaries (CGO off), without local paths (-trimpath) or symbol tables (-s -w), as `make build`.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o /out/manager . && \
    GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o /out/webhook-server ./webhook-server/cmd

# No shell, no package manager, CA certificates included (the Graph API is https), a non-root user.
FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/manager /out/webhook-server /
# Numeric, so that the kubelet can enforce runAsNonRoot without looking the name up.
USER 65532:65532
ENTRYPOINT ["/manager"]
