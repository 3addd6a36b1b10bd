#!/bin/bash
# hakit: health check of the local MariaDB for keepalived (vrrp_script of a dual-primary pair's write VIP).
# Usage: mariadb_check.sh OPTION_FILE [TIMEOUT_SECONDS]
# Exit 0 when the server answers within the timeout and accepts writes (read_only OFF), 1 otherwise.
# Setting read_only=ON on a node is therefore the way to drain the VIP off it for maintenance.
# Runs as root (keepalived script_user) and logs in over the unix socket named in OPTION_FILE's [client].
set -u

option_file=${1:?usage: mariadb_check.sh OPTION_FILE [TIMEOUT_SECONDS]}
timeout_s=${2:-2}

answer=$(timeout "$timeout_s" mariadb --defaults-file="$option_file" --user=root --connect-timeout="$timeout_s" \
    --batch --skip-column-names --execute='SELECT @@global.read_only' 2>/dev/null) || exit 1
[ "$answer" = "0" ] || exit 1
exit 0
