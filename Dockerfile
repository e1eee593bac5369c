# Static worker and starter binaries on a small image that runs as a
# non-root user. docker-compose.yml builds it once for every service.

FROM golang:1.26.8-bookworm AS build
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/ ./worker ./starter

FROM alpine:3.22.2 AS runtime
RUN adduser -D -H -u 10001 ordersaga
COPY --from=build /out/worker /out/starter /usr/local/bin/
USER 10001:10001
ENTRYPOINT ["worker"]
