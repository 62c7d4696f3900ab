#!/usr/bin/env bash
# The whole suite as two pytest processes at once: tests/ray and tests/cli beside the rest.
#
# The Ray tests spend much of their time waiting for Ray to start processes, so they run
# beside the rest instead of after it. With tests/ray alone beside it (2026-12-02 CI run:
# 297 s against 556 s) the rest ran its last four minutes by itself; the CLI tests (about
# 170 s, each a service or a training process of its own) go with tests/ray to even the
# two out. Each process has its own Ray heads, homeserver and temporary folders; nothing
# is shared but the machine. Both outputs are shown (the second after the rest) and the
# exit status fails when either fails.
set -uo pipefail
BIN=${1:-.venv/bin}
ray_log=$(mktemp)
trap 'rm -f "$ray_log"' EXIT

"$BIN/pytest" tests/ray tests/cli >"$ray_log" 2>&1 &
ray_pid=$!
"$BIN/pytest" --ignore=tests/ray --ignore=tests/cli
rest=$?
wait "$ray_pid"
ray=$?
echo "---- tests/ray and tests/cli (run beside the rest) ----"
cat "$ray_log"
echo "pytest exit status: rest $rest, tests/ray and tests/cli $ray"
[ "$rest" -eq 0 ] && [ "$ray" -eq 0 ]
