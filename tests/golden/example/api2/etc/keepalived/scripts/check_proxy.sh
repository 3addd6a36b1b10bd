#!/bin/bash
# hakit: liveness check of the local proxy, run by keepalived's vrrp_script (track_script).
# Usage: check_proxy.sh HOST PORT PATH TIMEOUT_SECONDS
# Exit 0 when GET http://HOST:PORT/PATH answers 200 within the timeout, 1 otherwise.
# Pure bash (/dev/tcp): no curl needed on the load balancer. A stopped (SIGSTOP) proxy still
# accepts TCP connections in the kernel backlog, so the check waits for the status line, not the connect.
set -u

host=${1:-127.0.0.1}
port=${2:-8405}
path=${3:-/healthz}
timeout_s=${4:-1}

{ exec 3<>"/dev/tcp/${host}/${port}"; } 2>/dev/null || exit 1
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: hakit-check\r\nConnection: close\r\n\r\n' "$path" >&3 || exit 1
IFS= read -r -t "$timeout_s" status_line <&3 || exit 1
exec 3>&-

case "$status_line" in
    "HTTP/"*" 200"*) exit 0 ;;
    *) exit 1 ;;
esac
