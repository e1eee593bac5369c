#!/bin/sh
# The stand-in's entrypoint, written to the official redis image's contract:
# options or a .conf file as the first argument mean redis-server; a
# redis-server started as root owns its working directory and drops to the
# user redis; anything else runs as given.
set -e
case "${1:-}" in -* | *.conf) set -- redis-server "$@" ;; esac
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "${1:-}" = redis-server ]; then umask 0077; fi
exec "$@"
