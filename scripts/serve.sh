#!/usr/bin/env bash
# Installs what the server needs, builds it, and runs it on 127.0.0.1:8080 with ./data.
#   MODELHUB_DATA    data folder (default: ./data)
#   MODELHUB_LISTEN  host:port to listen on (default: 127.0.0.1:8080)
#   MODELHUB_PUBLIC_URL  base URL clients use (default: http://$MODELHUB_LISTEN)
# Extra arguments are passed to `modelhub serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Only what the server needs: no test peers, no unit tests or fuzz targets (scripts/test.sh adds those).
bash scripts/install-deps.sh --server
[[ -f build/build.ninja ]] || export MODELHUB_TESTS=OFF
MODELHUB_TARGETS=modelhub bash scripts/build.sh

DATA="${MODELHUB_DATA:-./data}"
LISTEN="${MODELHUB_LISTEN:-127.0.0.1:8080}"
PUBLIC_URL="${MODELHUB_PUBLIC_URL:-http://$LISTEN}"
mkdir -p "$DATA"

cat >&2 <<MSG

modelhub: serving $DATA at $PUBLIC_URL
Create a user and a token first (works while the server runs), e.g. in another terminal:
  build/bin/modelhub admin --data $DATA user create alice --admin
  build/bin/modelhub admin --data $DATA token create alice --role write --name laptop   # prints the token
Then point the clients at it (pip install -U huggingface_hub gives the hf CLI):
  export HF_ENDPOINT=$PUBLIC_URL HF_TOKEN=<token>
  hf auth whoami

MSG
exec build/bin/modelhub serve --data "$DATA" --listen "$LISTEN" --public-url "$PUBLIC_URL" "$@"
