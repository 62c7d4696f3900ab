"""`trainbot dataset stats|validate` as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def trainbot(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_stats_of_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, [json.dumps({"text": f"story number {i} ends"}) for i in range(12)])
    result = trainbot("dataset", "stats", str(path), "--json")
    assert 0 == result.returncode, result.stderr
    out = json.loads(result.stdout)
    assert (True, 12, 12) == (
        out["report"]["ok"],
        out["report"]["examples"],
        out["stats"]["examples"],
    )
    assert out["stats"]["estimated_seconds"] > 0


def test_bad_rows_are_listed_and_refused(tmp_path: Path) -> None:
    good = [json.dumps({"text": "fine"}) for _ in range(12)]
    path = write(tmp_path, [*good, "{broken", json.dumps({"text": 5})])
    result = trainbot("dataset", "validate", str(path))
    assert 2 == result.returncode
    assert "line 13: not valid JSON" in result.stdout
    assert "line 14:" in result.stdout and "refused" in result.stdout


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = trainbot("dataset", "stats", str(tmp_path / "nope.jsonl"))
    assert 1 == result.returncode
    assert "cannot read" in result.stderr and "No such file" in result.stderr
