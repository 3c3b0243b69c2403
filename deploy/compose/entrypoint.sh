#!/bin/sh
# First start: write a config whose default server is the bundled echo
# example and print its gateway key once (docker compose logs gateway).
# Later starts reuse the config in the volume.
set -eu
if [ ! -f "$ENKRYPT_CONFIG_PATH" ]; then
  mkdir -p "$(dirname "$ENKRYPT_CONFIG_PATH")"
  secure-mcp-gateway generate-config
fi
exec secure-mcp-gateway --http --listen 0.0.0.0:8000 --insecure-listen "$@"
