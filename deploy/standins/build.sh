#!/usr/bin/env bash
# make standins: builds, on this machine and without a registry, a local
# stand-in for every third-party image the Compose files name, under exactly
# the repository:tag they use (images.txt), so `docker compose up` finds
# them present and pulls nothing. Stand-ins are test fixtures: what each
# reproduces of the official image, and what not, is in README.md.
#
#   deploy/standins/build.sh            build the missing stand-ins
#   STANDINS_REBUILD=1 .../build.sh     build them all again
#   deploy/standins/build.sh base       only the two Debian bases
#   deploy/standins/build.sh IMAGE…     only these (as images.txt names them)
#
# How: debootstrap makes a Debian root file system from this machine's own
# apt sources (the mirror is read from the apt configuration), `docker
# import` turns it into debian:bookworm-slim; the same root with the
# packages the stand-ins need (redis, PostgreSQL, Prometheus and the Redis
# and PostgreSQL exporters, wget) becomes
# the base the stand-ins' Dockerfiles start FROM; the Temporal binaries come
# from .bin/ (make tools tools-postgres) and Go from this machine's GOROOT.
# Needs root (debootstrap, chroot), docker and debootstrap.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$HERE/../../scripts/lib.sh"

SUITE=bookworm # the tags name it: debian:bookworm-slim, golang:…-bookworm
BASE=ordersaga-standin/base:$SUITE
PACKAGES=ca-certificates,wget,redis-server,redis-tools,postgresql-15,prometheus,prometheus-redis-exporter,prometheus-postgres-exporter
WORK=${STANDINS_WORK:-$STATE/standins}

# mirror: the Debian mirror apt uses here for $SUITE, from sources.list or
# the deb822 .sources files; nothing is hard-wired.
mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i+1) == s) { print $i; exit } }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v s="$SUITE" '
			/^[[:space:]]*$/ { if (ok && uri != "") { print uri; exit } ok = 0; uri = ""; next }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
			END { if (ok && uri != "") print uri }' "$f"
	done
}

present() { docker image inspect "$1" >/dev/null 2>&1 && [ -z "${STANDINS_REBUILD:-}" ]; }

# rootfs DIR [PACKAGES]: a minimal Debian root in DIR, once for the same
# PACKAGES (.complete records them).
rootfs() {
	local dir=$1 include=${2:-} url
	[ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$include" ] && return 0
	url=$(mirror | head -n 1)
	[ -n "$url" ] || { warn "standins: no apt source for $SUITE in /etc/apt"; exit 1; }
	say "== debootstrap $SUITE from $url into $dir${include:+ (with $include)}"
	rm -rf "$dir"
	mkdir -p "$dir"
	[ -z "$include" ] || prepare_packages "$dir"
	debootstrap --variant=minbase ${include:+--include="$include"} "$SUITE" "$dir" "$url" >"$dir.log" 2>&1 ||
		{ tail -n 20 "$dir.log" >&2; exit 1; }
	# The images carry no package lists, caches or start-up policy.
	rm -f "$dir/usr/sbin/policy-rc.d"
	rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb
	printf '%s\n' "$include" >"$dir/.complete"
}

# import DIR IMAGE: DIR's files, as IMAGE.
import() {
	say "== docker import $2"
	tar --exclude=./.complete -C "$1" -c . | docker import --change 'CMD ["bash"]' - "$2" >/dev/null
}

# prepare_packages DIR: before the packages install, no service may start
# in the chroot, and Debian's postgresql must not create a system cluster
# (the stand-in's entrypoint makes its own, as the official image does).
prepare_packages() {
	mkdir -p "$1/etc/postgresql-common" "$1/usr/sbin"
	echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.conf"
	printf '#!/bin/sh\nexit 101\n' >"$1/usr/sbin/policy-rc.d"
	chmod 755 "$1/usr/sbin/policy-rc.d"
}

# base_current: the base image is there and holds every package of
# PACKAGES (a base made before one was added is made again).
base_current() {
	present "$BASE" || return 1
	# shellcheck disable=SC2086 # one argument per package
	docker run --rm --network none --entrypoint dpkg-query "$BASE" -W ${PACKAGES//,/ } >/dev/null 2>&1
}

base_images() {
	present debian:$SUITE-slim || { rootfs "$WORK/slim"; import "$WORK/slim" "debian:$SUITE-slim"; }
	base_current && return 0
	rootfs "$WORK/full" "$PACKAGES"
	import "$WORK/full" "$BASE"
}

# certs: the base's root CAs (Debian's ca-certificates).
certs() { docker run --rm --network none --entrypoint cat "$BASE" /etc/ssl/certs/ca-certificates.crt; }

# context NAME DIR: the build context of stand-in NAME in DIR: its directory,
# plus the binaries it carries.
context() {
	local name=$1 dir=$2
	cp -a "$HERE/$name/." "$dir/"
	case $name in
	temporal-cli)
		cp -L "$BIN/temporal" "$dir/temporal"
		certs >"$dir/ca-certificates.crt"
		;;
	temporal-server) cp -L "$BIN/temporal-server" "$dir/" ;;
	temporal-admin-tools) cp -L "$BIN/temporal" "$BIN/temporal-sql-tool" "$dir/" ;;
	temporal-ui) cp -L "$BIN/temporal-ui-server" "$dir/ui-server" ;;
	golang)
		cp -a "$("$GO" env GOROOT)" "$dir/go"
		certs >"$dir/ca-certificates.crt"
		;;
	esac
}

standin() { # IMAGE NAME
	local image=$1 name=$2 dir
	present "$image" && return 0
	dir=$(mktemp -d "$WORK/context.XXXXXX")
	context "$name" "$dir"
	say "== docker build $image (deploy/standins/$name)"
	DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$BASE" -t "$image" "$dir" >/dev/null 2>"$dir.err" ||
		{ cat "$dir.err" >&2; rm -rf "$dir" "$dir.err"; exit 1; }
	rm -rf "$dir" "$dir.err"
}

# wanted IMAGE ARGS...: IMAGE is to be built (no ARGS: every image).
wanted() {
	local image=$1
	shift
	[ $# -eq 0 ] && return 0
	case " $* " in *" $image "*) return 0 ;; esac
	return 1
}

main() {
	[ "$(id -u)" = 0 ] || { warn "standins: debootstrap needs root"; exit 1; }
	"$ROOT/scripts/deps.sh" compose
	mkdir -p "$WORK"
	base_images
	[ "${1:-}" != base ] || return 0
	[ $# -gt 0 ] || GO="$GO" "$ROOT/scripts/tools.sh" temporal temporal-server temporal-sql-tool temporal-ui-server
	local image name
	while read -r image name; do
		case $image in '' | '#'*) continue ;; esac
		[ -d "$HERE/$name" ] && wanted "$image" "$@" && standin "$image" "$name"
	done <"$HERE/images.txt"
	say "== stand-ins ready: $(grep -cE '^[^#[:space:]]' "$HERE/images.txt") images named, Grafana and Jaeger file-checked only"
}

main "$@"
