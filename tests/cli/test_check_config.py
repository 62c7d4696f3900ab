"""`trainbot check-config` as a user runs it: a real subprocess."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def trainbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )


def test_example_config_is_valid() -> None:
    result = trainbot("check-config", "--config", "config.example.toml")
    assert 0 == result.returncode, result.stderr
    assert '"port": 8080' in result.stdout


def test_bad_port_exits_non_zero_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[http]\nport = "abc"\n')
    result = trainbot("check-config", "--config", str(bad))
    assert 1 == result.returncode
    assert "http.port" in result.stderr


def test_secrets_are_masked(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "TRAINBOT_OPENAI__API_KEY": "sk-do-not-print-me"}
    result = trainbot("check-config", env=env)
    assert 0 == result.returncode, result.stderr
    assert "sk-do-not-print-me" not in result.stdout + result.stderr
    assert '"api_key": "**********"' in result.stdout


def test_every_subcommand_has_help() -> None:
    from bot.cli import build_parser

    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in subparsers.items():
        assert sub.description or sub.format_help(), name
        result = trainbot(name, "--help")
        assert 0 == result.returncode, (name, result.stderr)
