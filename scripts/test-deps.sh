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
missing=()
for cmd in "${!need[@]}"; do
  [ -x "$cmd" ] || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
