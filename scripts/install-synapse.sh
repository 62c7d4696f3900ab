#!/usr/bin/env bash
# Install a throwaway Synapse homeserver into its own virtualenv.
#
# Synapse lives apart from the bot's venv because its pins (Twisted, pydantic,
# cryptography, …) would fight the bot's. The demo and the e2e tests start it
# with `<venv>/bin/python -m synapse.app.homeserver` (see bot/devserver/).
#
# Usage: scripts/install-synapse.sh [VENV_DIR]   (default: .venv-synapse in the repo root)
# Idempotent: a venv that already imports a matching Synapse is left alone.
set -euo pipefail

# Tested with 1.163.2. Kept to one known-good band: the devserver writes config keys
# (rate limits, media) whose names and defaults move between Synapse releases.
SYNAPSE_SPEC="${TRAINBOT_SYNAPSE_SPEC:-matrix-synapse>=1.160,<1.170}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${1:-$REPO_ROOT/.venv-synapse}"

find_python() {
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
            echo "$candidate"
            return 0
        fi
    done
    echo "install-synapse: no python >= 3.10 found (set PYTHON=...)" >&2
    return 1
}

installed_version() {
    "$VENV_DIR/bin/python" -c 'from importlib.metadata import version; print(version("matrix-synapse"))'
}

is_installed() {
    [ -x "$VENV_DIR/bin/python" ] || return 1
    "$VENV_DIR/bin/python" - "$SYNAPSE_SPEC" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
from packaging.requirements import Requirement

requirement = Requirement(sys.argv[1])
sys.exit(0 if requirement.specifier.contains(version("matrix-synapse"), prereleases=True) else 1)
PY
}

if is_installed; then
    echo "install-synapse: Synapse $(installed_version) already in $VENV_DIR"
    exit 0
fi

if [ ! -x "$VENV_DIR/bin/python" ]; then
    PY="$(find_python)"
    echo "install-synapse: creating $VENV_DIR with $PY"
    "$PY" -m venv "$VENV_DIR"
fi

"$VENV_DIR/bin/python" -m pip install --quiet --upgrade pip
"$VENV_DIR/bin/python" -m pip install --quiet "$SYNAPSE_SPEC"

# Prove it imports, so a broken install fails here and not minutes later in a test.
"$VENV_DIR/bin/python" -c 'import synapse.app.homeserver' ||
    { echo "install-synapse: Synapse installed but does not import" >&2; exit 1; }
echo "install-synapse: installed Synapse $(installed_version) into $VENV_DIR"
