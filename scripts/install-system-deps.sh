#!/usr/bin/env bash
# Repo tooling: install the Debian/Ubuntu packages hakit's validation, labs and tests use. Idempotent; run as root.
set -euo pipefail
# What to install, by what you want to do (the default, `all`, is what `make test` and CI need):
#   render  render and validate configs with the real daemons (`make demo`, `hakit render`)
#   lab     render + failover labs and `hakit deploy` labs (load client, sshd, throwaway certificates)
#   db      the database servers the backup and dual-primary MariaDB tests run
usage() { echo "usage: $0 [render|lab|db|all]..." >&2; exit 2; }
render=(
  make python3 python3-venv ca-certificates
  haproxy keepalived nginx-light libnginx-mod-stream iproute2 procps graphviz
)
lab=(wrk openssl openssh-server openssh-client systemd)
db=(mariadb-server mariadb-client postgresql postgresql-client)
packages=()
for group in "${@:-all}"; do
  case "$group" in
    render) packages+=("${render[@]}") ;;
    lab) packages+=("${render[@]}" "${lab[@]}") ;;
    db) packages+=(make python3 python3-venv ca-certificates "${db[@]}") ;;
    all) packages+=("${render[@]}" "${lab[@]}" "${db[@]}") ;;
    *) usage ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system deps: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Package install must not start the daemons: the tests start their own, on their own ports.
log=$(mktemp)
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
  saved=$(mktemp)
  cp -p "$policy" "$saved"  # the admin's own policy comes back afterwards
fi
restore() {
  rm -f "$log"
  if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
# dpkg is chatty even with -qq: keep its output for a failure only.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "system deps: apt-get failed installing ${missing[*]}" >&2
  exit 1
fi
echo "system deps: installed ${missing[*]}"
