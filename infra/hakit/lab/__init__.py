"""The failover lab: one inventory cluster in network namespaces, real daemons, drills under bounded load.

Modules: `netns` (topology), `procs` (start/stop by PID), `backend` and `load` (the stdlib HTTP server and
client run inside the namespaces), `vip` (who holds the VIP, and when it moved), `plan` / `from_inventory`
(what to run, from hakit's rendered configs), `runtime` (a running lab), `drills`, `session` (CLI helpers).
"""
