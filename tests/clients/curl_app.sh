#!/bin/sh
# A third-party-style script: hard-coded https gateway URLs, curl. Knows nothing of flux-mock.
set -eu
answer=$(curl -sS --fail -X POST https://gateway.pixazo.ai/flux-1-schnell/v1/getData \
  -H "Ocp-Apim-Subscription-Key: app-key" -H "Content-Type: application/json" -d '{"prompt": "a lighthouse"}')
url=$(printf '%s' "$answer" | sed -n 's/.*"output":"\([^"]*\)".*/\1/p')
curl -sS --fail -o /dev/null -w "IMAGE $url %{size_download}\n" "$url"
