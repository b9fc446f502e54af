#!/usr/bin/env bash
# Installs the programs that sealgate's tests use as real peers (Postfix,
# swaks, GnuPG, Chromium, a DKIM verifier), or says exactly how to.
set -euo pipefail

# command -> Debian package
declare -A need=(
  [/usr/sbin/postfix]=postfix
  [/usr/bin/swaks]=swaks
  [/usr/bin/gpg]=gnupg
  [/usr/bin/chromium]=chromium
  [/usr/bin/dkimverify]=python3-dkim
)
[ -x /usr/bin/node ] || [ -x /usr/local/bin/node ] || need[/usr/bin/node]=nodejs
command -v npm >/dev/null || need[/usr/bin/npm]=npm
# npm_packages installs the pinned npm packages (package-lock.json, with
# integrity hashes) that tests use: OpenPGP.js to check the vendored copy,
# axe-core for the accessibility checks. No package runs install scripts.
npm_packages() {
  if [ ! -f node_modules/axe-core/axe.min.js ] || [ ! -f node_modules/openpgp/package.json ] ||
     [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "Installing npm packages from package-lock.json" >&2
    npm ci --ignore-scripts --no-audit --no-fund >/dev/null
  fi
}

missing=()
for cmd in "${!need[@]}"; do
  [ -x "$cmd" ] || missing+=("${need[$cmd]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  npm_packages
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these Debian packages: ${missing[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "Installing test peers: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# postfix asks questions at install time; answer them for a local-only setup.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
npm_packages
