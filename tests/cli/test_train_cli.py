"""`trainbot train` and `trainbot generate` as a user runs them (Ctrl-C and the refusal in
real subprocesses)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

TRAIN = [sys.executable, "-m", "bot", "train"]
FAST = ["--base", "micro", "--block-size", "64", "--learning-rate", "3e-3", "--eval-every", "10"]


def write_stories(path: Path, examples: int = 200) -> Path:
    """A small learnable JSONL text dataset."""
    rng = random.Random(0)
    animals = ("cat", "dog", "fox", "owl")
    lines = []
    for _ in range(examples):
        a, b = rng.sample(animals, 2)
        lines.append(json.dumps({"text": f"the {a} sees the {b}. the {b} sees the {a}."}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_json_output_ends_with_the_completed_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process (as tests/trainer/test_merge_cli.py does): the worker forks from the
    # session's forkserver and `generate` uses the torch the trainer tests already
    # imported, instead of two new interpreters importing torch. The Ctrl-C test below
    # runs the real `python -m bot` process (exit code, stdout through a pipe).
    data = write_stories(tmp_path / "stories.jsonl")
    out = tmp_path / "model"

    code = main(["train", str(data), *FAST, "--max-steps", "20", "--out", str(out), "--json"])
    printed = capsys.readouterr()

    assert 0 == code, printed.err
    lines = [json.loads(line) for line in printed.out.splitlines()]
    # Log lines (device and precision, packing) are informational; the milestones follow.
    events = [e for e in lines if e["event"] != "log"]
    last = events[-1]
    assert last["event"] == "completed"
    assert last["model_dir"] == str(out)
    assert last["steps"] == 20
    assert last["eval_loss"] < 0.5 * events[1]["eval_loss"]
    assert last["initial_perplexity"] > last["perplexity"] > 1
    assert last["tokens_per_s"] > 0
    assert [e["event"] for e in events[:2]] == ["started", "eval"]
    assert (out / "model.safetensors").is_file()

    code = main(["generate", str(out), "the cat", "--seed", "1", "--max-tokens", "8"])
    printed = capsys.readouterr()
    assert 0 == code, printed.err
    assert printed.out.strip()


def test_a_refused_dataset_prints_the_report_and_exits_2(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "only one"}\n{"txt": "wrong field"}\n')

    done = subprocess.run(
        [*TRAIN, str(data), "--out", str(tmp_path / "m"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert "line 2" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_ctrl_c_pauses_and_the_printed_command_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_stories(tmp_path / "stories.jsonl")
    out = tmp_path / "model"
    # Enough steps that the pause (asked for at step 1) lands well before the end.
    command = [*TRAIN, str(data), *FAST, "--max-steps", "40", "--out", str(out), "--json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if json.loads(line)["event"] == "progress":
            process.send_signal(signal.SIGINT)
            break
    rest, stderr = process.communicate(timeout=120)

    assert process.returncode == 130
    stopped = json.loads(rest.splitlines()[-1])
    assert stopped["event"] == "stopped" and stopped["reason"] == "pause"
    resume_line = stderr.strip().splitlines()[-1].strip()
    assert resume_line.startswith("trainbot train") and "--resume" in resume_line
    assert not out.exists()

    # The printed command, run in this process (a second interpreter would import torch
    # again); the Ctrl-C above needed the real process.
    args = resume_line.split()[1:]
    code = main([*args, "--json"])
    resumed = capsys.readouterr()

    assert code == 0, resumed.err
    lines = [json.loads(line) for line in resumed.out.splitlines()]
    events = [e for e in lines if e["event"] != "log"]
    assert events[0]["resumed_from_step"] == stopped["step"]
    assert events[-1]["event"] == "completed" and events[-1]["steps"] == 40
