#!/usr/bin/env bash
# The whole suite as two pytest processes at once: tests/ray beside everything else.
#
# The Ray tests spend most of their four minutes waiting for Ray to start controller and
# worker processes (a CI run's load average stayed near 1.3 on two cores), so they run
# beside the rest instead of after it. Each process has its own Ray heads, homeserver and
# temporary folders; nothing is shared but the machine. Both outputs are shown (the Ray
# one after the rest) and the exit status fails when either fails.
set -uo pipefail
BIN=${1:-.venv/bin}
ray_log=$(mktemp)
trap 'rm -f "$ray_log"' EXIT

"$BIN/pytest" tests/ray >"$ray_log" 2>&1 &
ray_pid=$!
"$BIN/pytest" --ignore=tests/ray
rest=$?
wait "$ray_pid"
ray=$?
echo "---- tests/ray (run beside the rest) ----"
cat "$ray_log"
echo "pytest exit status: rest $rest, tests/ray $ray"
[ "$rest" -eq 0 ] && [ "$ray" -eq 0 ]
