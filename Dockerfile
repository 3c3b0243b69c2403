# The gateway image for hosting --http mode (Kubernetes, docker run).
#
#   docker build -t secure-mcp-gateway .
#   docker run --read-only --tmpfs /tmp -v gateway-state:/var/lib/secure-mcp-gateway \
#     -p 8000:8000 secure-mcp-gateway
#
# Build: a static binary (CGO_ENABLED=0, no libc), trimmed paths.
# Runtime: distroless static: CA certificates and tzdata, no shell, no
# package manager, user 65532 (nonroot). Nothing is written outside
# /var/lib/secure-mcp-gateway (the config's directory: tool pins, discovery
# cache, OAuth tokens) and /tmp, so the root filesystem can be read-only.
#
# Stdio upstreams run as child processes of the gateway: this image runs the
# bundled examples and remote (URL) upstreams only. For npx/uvx upstreams
# build with a runtime that has them, e.g.
#   docker build --build-arg RUNTIME_IMAGE=node:22-bookworm-slim .
# (USER is numeric, so any base works.)
#
# HEALTHCHECK: the image has no curl or wget; the binary's own probe
# command asks /readyz (exit 0 on 2xx). Kubernetes probes /healthz and
# /readyz over HTTP itself (see deploy/helm).

ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/secure-mcp-gateway . \
    && mkdir -p /out/state /out/tmp

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/secure-mcp-gateway /usr/local/bin/secure-mcp-gateway
# The state directory (and /tmp) exist and belong to the runtime user even
# where no volume is mounted on them.
COPY --from=build --chown=65532:65532 --chmod=0700 /out/state /var/lib/secure-mcp-gateway
COPY --from=build --chown=65532:65532 --chmod=1777 /out/tmp /tmp
USER 65532:65532
ENV HOME=/var/lib/secure-mcp-gateway \
    ENKRYPT_CONFIG_PATH=/var/lib/secure-mcp-gateway/enkrypt_mcp_config.json
WORKDIR /var/lib/secure-mcp-gateway
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/secure-mcp-gateway", "probe", "--timeout", "3s", "http://127.0.0.1:8000/readyz"]
ENTRYPOINT ["/usr/local/bin/secure-mcp-gateway"]
CMD ["--http", "--listen", "0.0.0.0:8000", "--insecure-listen"]
