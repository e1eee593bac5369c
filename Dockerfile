# Static worker and starter binaries on Debian slim, run as a non-root user.
# docker-compose.yml builds it once (service "worker") as ordersaga:dev and
# every other service runs that image. No BuildKit-only syntax: the classic
# builder builds it too.
FROM golang:1.26.8-bookworm AS build
# download (default): modules from the module proxy, in a layer of their
# own; vendor: from ./vendor (`go mod vendor` first), for a build that
# reaches no network (GO_MODULES in docker-compose.yml, docs/running.md).
ARG GO_MODULES=download
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN if [ "$GO_MODULES" = download ]; then go mod download; fi
COPY . .
RUN case "$GO_MODULES" in \
      download) mod=readonly ;; \
      vendor) mod=vendor ;; \
      *) echo "GO_MODULES=$GO_MODULES: want download or vendor" >&2; exit 2 ;; \
    esac && \
    go build -mod="$mod" -trimpath -ldflags="-s -w" -o /out/ ./worker ./starter

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ordersaga
# Root CAs for TLS to a remote Temporal or Redis (slim has none).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/worker /out/starter /usr/local/bin/
USER 10001:10001
ENTRYPOINT ["worker"]
