"""`trainbot demo` as a person runs it: a real process, a real Synapse, a trained model."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from nio.crypto import ENCRYPTION_ENABLED

from bot.dev.homeserver import default_synapse_python

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def demo_command(work_dir: Path, *extra: str) -> list[str]:
    """`trainbot demo` on the micro preset, run from this checkout."""
    base = ["--base", "micro", "--work-dir", str(work_dir)]
    return [sys.executable, "-m", "bot", "demo", *base, *extra]


def require_synapse() -> None:
    """Skip without a local Synapse; in CI (where `make test` installs it) fail instead."""
    python = default_synapse_python()
    if python.exists():
        return
    reason = f"Synapse not installed at {python} (run scripts/install-synapse.sh)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def scripted(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One scripted run; its work dir is reused by the next test like a second `make demo`."""
    require_synapse()
    work_dir = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        demo_command(work_dir, "--script", "--timeout", "120"),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return result, work_dir


def test_the_script_trains_the_demo_dataset_and_generates(
    scripted: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, _ = scripted
    assert 0 == result.returncode, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout

    assert "Demo login:  user @demo:localhost  password " in out
    assert re.search(r"Homeserver:  http://127\.0\.0\.1:\d+", out)
    assert "Dataset demo@v1: 300 generated stories." in out
    help_reply = out.split("demo: !help\n", 1)[1]
    assert "!train <dataset>" in help_reply and "!generate" in help_reply
    assert "✎ trainbot: Training demo" in out  # the progress message, edited in place
    assert re.search(r"trainbot: demo: ✅ Job \w+ succeeded: model demo@v1 is ready", out)
    generated = out.split("demo: !generate", 1)[1].split("\n")[1]
    assert generated.startswith("trainbot: Once upon a time")
    assert len(generated) > len("trainbot: Once upon a time") + 10
    assert "— demo@v1, " in out


def test_demo_json_says_where_the_demo_is(
    scripted: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, work_dir = scripted
    saved = json.loads((work_dir / "demo.json").read_text())

    assert f"Homeserver:  {saved['homeserver']}  (server name {saved['server_name']})" in (
        result.stdout
    )
    room = f"Room:        {saved['room_id']}  (#trainbot-demo:localhost"
    # Encrypted, as Element makes a new room, wherever the e2e extra is installed.
    assert room + (", end-to-end encrypted)" if ENCRYPTION_ENABLED else ")") in result.stdout
    assert "@demo:localhost" == saved["demo_user_id"]
    assert f"Bot:         {saved['bot_user_id']}; logs in " in result.stdout
    assert f"HTTP API:    {saved['http_url']}  (Bearer {saved['http_token']})" in result.stdout
    assert 0o600 == (work_dir / "demo.json").stat().st_mode & 0o777


def test_a_second_run_logs_in_again_and_the_console_talks_to_the_bot(
    scripted: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, work_dir = scripted
    demo = subprocess.Popen(
        demo_command(work_dir),
        cwd=REPO_ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines = _lines_of(demo)
    try:
        assert "Dataset demo@v1: 300 stories (kept from last run)." in _until(lines, "kept from")
        shown = _until(lines, "Type a message")
        assert "Demo login:  user @demo:localhost" in shown
        assert "trainbot: " not in shown  # the room's history is not replayed
        assert demo.stdin is not None
        demo.stdin.write("!models\n")
        demo.stdin.flush()
        assert "demo@v1 *" in _until(lines, "demo@v1 *")
        demo.stdin.write("/quit\n")
        demo.stdin.flush()
        assert 0 == demo.wait(timeout=60), _rest(lines)
    finally:
        if demo.poll() is None:
            demo.kill()


def _lines_of(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    return lines


def _rest(lines: queue.Queue[str]) -> str:
    """Whatever output is left (for a failure message)."""
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    return "".join(rest)


def _until(lines: queue.Queue[str], text: str, within_s: float = 60.0) -> str:
    """Read output up to a line containing `text`; return what was read."""
    deadline = time.monotonic() + within_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"no line with {text!r} within {within_s:.0f}s:\n{''.join(seen)}")
