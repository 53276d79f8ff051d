#!/usr/bin/env bash
# The browser tests' parts: Debian's Chromium and playwright-core (npm, pinned by
# tests/browser/package-lock.json), which drives it. Node.js and npm are on the machine.
set -euo pipefail
cd "$(dirname "$0")/../../.."
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
command -v npm >/dev/null || { echo "npm is required (Node.js 18+)" >&2; exit 1; }
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
