# syntax=docker/dockerfile:1
# Multi-stage build: a static esgate on a distroless base that has CA roots
# (for Elastic Cloud) and runs as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/esgate ./cmd/esgate \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/estestserver ./test/cmd/estestserver \
 && mkdir -p /out/shared

# The project's Elasticsearch-compatible test server, for deploy/compose.
# /shared is owned by nonroot so that a named volume mounted there is too.
FROM gcr.io/distroless/static-debian12:nonroot AS testserver
COPY --from=build /out/estestserver /usr/local/bin/estestserver
COPY --from=build --chown=nonroot:nonroot /out/shared /shared
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/estestserver"]

# esgate (the default target: last in the file).
FROM gcr.io/distroless/static-debian12:nonroot AS esgate
COPY --from=build /out/esgate /usr/local/bin/esgate
COPY --from=build --chown=nonroot:nonroot /out/shared /shared
USER nonroot:nonroot
# In a pod, Logstash reaches esgate on localhost: the default listen and
# status addresses are loopback, so nothing is exposed. (A deployment that
# binds status_listen to the pod IP for kubelet probes or scraping says so
# in its own manifest.) Mount credentials and the CA as files (Secrets).
# The image has no shell or curl: esgate probes itself.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/esgate", "probe", "--quiet"]
ENTRYPOINT ["/usr/local/bin/esgate"]
CMD ["serve", "--config", "/etc/esgate/esgate.yml"]
