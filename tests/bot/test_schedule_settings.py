"""[[schedules]] in the config: what is accepted, and the errors for what is not."""

from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_a_schedule_table_with_its_defaults(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[[schedules]]\nmodel = "stories"\ndataset = "tales"\npolicy = "new_data"\n'
        'every = "0.3s"\nhyperparameters = {max_steps = 200}\n',
    )
    [s] = settings.schedules
    assert ("stories", "tales", "new_data", None) == (s.model, s.dataset, s.policy, s.cron)
    assert (0.3, 100, 10.0, "local") == (
        s.interval_s,
        s.min_new_records,
        s.metric_threshold_pct,
        s.backend,
    )
    assert {"max_steps": 200.0} == s.hyperparameters


def test_cron_policy_needs_a_cron_line(tmp_path: Path) -> None:
    message = refused(tmp_path, '[[schedules]]\nmodel = "m"\ndataset = "d"\npolicy = "cron"\n')
    assert "schedule for 'm': policy cron needs a cron line" in message


def test_a_cron_line_that_is_not_crontab(tmp_path: Path) -> None:
    message = refused(
        tmp_path, '[[schedules]]\nmodel = "m"\ndataset = "d"\npolicy = "cron"\ncron = "3am"\n'
    )
    assert "cron '3am' is not a crontab expression" in message


def test_every_must_be_a_duration(tmp_path: Path) -> None:
    message = refused(
        tmp_path, '[[schedules]]\nmodel = "m"\ndataset = "d"\npolicy = "llm"\nevery = "often"\n'
    )
    assert "'often' is not a duration: use e.g. 90s, 15m, 2h or 1d" in message
    zero = refused(
        tmp_path, '[[schedules]]\nmodel = "m"\ndataset = "d"\npolicy = "llm"\nevery = "0s"\n'
    )
    assert "a duration must be more than 0 seconds" in zero


def test_unknown_policy_and_bad_numbers(tmp_path: Path) -> None:
    base = '[[schedules]]\nmodel = "m"\ndataset = "d"\n'
    assert "schedules.0.policy" in refused(tmp_path, base + 'policy = "sometimes"\n')
    assert "min_new_records" in refused(
        tmp_path, base + 'policy = "new_data"\nmin_new_records = 0\n'
    )
    assert "metric_threshold_pct" in refused(
        tmp_path, base + 'policy = "metric"\nmetric_threshold_pct = -5\n'
    )


def test_one_schedule_per_model(tmp_path: Path) -> None:
    table = '[[schedules]]\nmodel = "m"\ndataset = "d"\npolicy = "new_data"\n'
    assert "schedule model names must be unique: m appear twice" in refused(tmp_path, table * 2)
