#!/bin/sh
# The official image renders its config from environment variables here;
# the stand-in does not, and says so.
echo "temporalio/server stand-in: give an entrypoint that runs temporal-server with a config (see deploy/standins/README.md)" >&2
exit 2
