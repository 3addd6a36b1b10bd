#!/bin/bash
# hakit: keepalived notify script. Records every VRRP state change and runs site hooks.
# Usage (keepalived appends the last four): vrrp_notify.sh STATE_DIR HOOK_DIR TYPE NAME STATE PRIORITY
#   TYPE      INSTANCE or GROUP
#   STATE     MASTER, BACKUP, FAULT, STOP, DELETED or MASTER_RX_LOWER_PRI
# Effects: STATE_DIR/NAME holds the current state (written atomically; MASTER_RX_LOWER_PRI is only
# logged), one syslog line (tag hakit-vrrp), then every executable in HOOK_DIR runs with
# TYPE NAME STATE PRIORITY (e.g. a cloud hook that moves an elastic IP). Always exits 0: a failing
# hook must not stop keepalived from changing state.
set -u

state_dir=${1:?state dir}
hook_dir=${2:?hook dir}
kind=${3:-INSTANCE}
name=${4:-unknown}
state=${5:-UNKNOWN}
priority=${6:-0}

case "$name" in
    */* | .* | "") name=invalid ;;
esac

if [ "$state" != "MASTER_RX_LOWER_PRI" ]; then
    mkdir -p "$state_dir" 2>/dev/null
    tmp="$state_dir/.$name.$$"
    if printf '%s %s %s\n' "$state" "$priority" "$(date +%s)" >"$tmp" 2>/dev/null; then
        mv -f "$tmp" "$state_dir/$name"
    fi
fi

if command -v logger >/dev/null 2>&1; then
    logger -t hakit-vrrp "$kind $name -> $state (priority $priority)" 2>/dev/null
fi

if [ -d "$hook_dir" ]; then
    for hook in "$hook_dir"/*; do
        if [ -f "$hook" ] && [ -x "$hook" ]; then
            "$hook" "$kind" "$name" "$state" "$priority" || logger -t hakit-vrrp "hook $hook failed" 2>/dev/null
        fi
    done
fi
exit 0
