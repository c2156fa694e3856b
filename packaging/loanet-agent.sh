#!/bin/sh
# /usr/bin/loanet-agent: the packaged edge agent on its own Node runtime.
#
#   sudo loanet-agent enrol --server https://SERVER --code XXXX-XXXX
#   loanet-agent --help
#
# `enrol` writes the board's configuration where the service reads it,
# /var/lib/loanet-agent/agent.json, with the state folder beside it (an
# explicit --config or --state-dir wins: the agent takes the last one given).
# Run as root, the file keeps the owner of that folder (the agent's user
# `loanet`), so the service can read it and nobody else can.
#
# Paths are found from this script's own place, so a tree unpacked with
# `dpkg -x` into any folder runs in place (the package's test does that);
# installed, the prefix is empty.
set -e
self=$(readlink -f "$0")
prefix=${self%/usr/bin/loanet-agent}
[ "$prefix" != "$self" ] || prefix=
lib="$prefix/usr/lib/loanet-agent"
state="$prefix/var/lib/loanet-agent"
# The flags and environment the service runs with (loanet-agent.service ExecStart and Environment).
node_flags="--max-semi-space-size=1 --max-opt=2"
export MALLOC_ARENA_MAX=2

if [ "${1:-}" = enrol ]; then
  shift
  exec "$lib/node" $node_flags "$lib/main.mjs" enrol --config "$state/agent.json" --state-dir "$state" "$@"
fi
if [ "$#" -eq 0 ]; then
  # The agent in the foreground, as the service runs it (stop the service first: one agent per site).
  set -- --config "$state/agent.json" --enrol-file "$state/enrol.txt"
fi
exec "$lib/node" $node_flags "$lib/main.mjs" "$@"
