#!/bin/sh
# Starts the UI server on config/docker.yaml, which it renders itself from
# the environment.
set -eu
exec ./ui-server --root /home/ui-server --config config --env docker start
