"""[[sources]] settings: schedules, secret headers from env or file, clear refusals."""

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

SOURCE = """
[[sources]]
name = "news"
url = "https://example.org/api/articles"
select = "data.items[*].text"
dataset = "news"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    return str(caught.value)


def test_a_source_with_every_and_one_with_cron(tmp_path: Path) -> None:
    second = SOURCE.replace('"news"', '"weather"', 1)
    path = write(tmp_path, SOURCE + 'every = "15m"\n' + second + 'cron = "0 3 * * *"\n')
    news, weather = load_settings(path).sources
    assert (900.0, None, "GET", 30.0) == (news.interval_s, news.cron, news.method, news.timeout_s)
    assert (None, "0 3 * * *") == (weather.interval_s, weather.cron)
    assert 0.2 == load_settings(write(tmp_path, SOURCE + 'every = "0.2s"\n')).sources[0].interval_s


def test_secret_headers_come_from_the_environment_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWS_TOKEN", "Bearer from-the-env-123")
    (tmp_path / "key").write_text("key-from-a-file-456\n")
    text = SOURCE + 'every = "1h"\n[sources.secret_headers]\nAuthorization = "env:NEWS_TOKEN"\n'
    text += f'X-Api-Key = "file:{tmp_path / "key"}"\n'
    settings = load_settings(write(tmp_path, text))
    headers = settings.sources[0].secret_headers
    assert "Bearer from-the-env-123" == headers["Authorization"].get_secret_value()
    assert "key-from-a-file-456" == headers["X-Api-Key"].get_secret_value()
    assert {"Bearer from-the-env-123", "key-from-a-file-456"} <= set(settings.secret_values())
    assert "from-the-env" not in repr(settings) and "from-a-file" not in repr(settings)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            '"env:NEWS_TOKEN_UNSET"',
            "secret_headers.Authorization: environment variable NEWS_TOKEN_UNSET is not set",
        ),
        (
            '"Bearer literal-secret-789"',
            "secret_headers.Authorization: use env:VARIABLE or file:/path, not a literal secret",
        ),
        (
            '"file:/nonexistent/token"',
            "cannot read source 'news' secret_headers.Authorization_file /nonexistent/token",
        ),
    ],
)
def test_a_secret_header_that_cannot_be_resolved_is_refused_without_echoing_it(
    tmp_path: Path, header: str, message: str
) -> None:
    text = SOURCE + f'every = "1h"\n[sources.secret_headers]\nAuthorization = {header}\n'
    refused = refusal(tmp_path, text)
    assert message in refused
    assert "literal-secret" not in refused


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("", "source 'news' needs exactly one of every or cron"),
        ('every = "1h"\ncron = "0 3 * * *"\n', "source 'news' needs exactly one of every or cron"),
        ('every = "soon"\n', "'soon' is not a duration: use e.g. 90s, 15m, 2h or 1d"),
        ('every = "0s"\n', "a duration must be more than 0 seconds"),
        ('cron = "every day"\n', "cron 'every day' is not a crontab expression"),
        ('cron = "61 * * * *"\n', "cron '61 * * * *' is not a crontab expression"),
    ],
)
def test_exactly_one_valid_schedule_is_needed(tmp_path: Path, when: str, message: str) -> None:
    assert message in refusal(tmp_path, SOURCE + when)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('url = "https://example.org/api/articles"', 'url = "ftp://example.org/x"'),
            "sources.0.url: String should match pattern",
        ),
        (('name = "news"', 'name = "my news"'), "sources.0.name: String should match pattern"),
        (('dataset = "news"', 'dataset = "a/b"'), "sources.0.dataset: String should match pattern"),
        (('select = "data', 'selct = "data'), "sources.0.selct: unknown setting"),
        (
            ('dataset = "news"', 'dataset = "news"\nmethod = "PUT"'),
            "sources.0.method: Input should be 'GET' or 'POST'",
        ),
        (
            ('dataset = "news"', 'dataset = "news"\ntimeout_s = 0'),
            "sources.0.timeout_s: Input should be greater than 0",
        ),
    ],
)
def test_wrong_keys_are_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert message in refusal(tmp_path, SOURCE.replace(*change) + 'every = "1h"\n')


def test_source_names_are_unique(tmp_path: Path) -> None:
    text = SOURCE + 'every = "1h"\n' + SOURCE + 'every = "2h"\n'
    assert "source names must be unique: news appear twice" in refusal(tmp_path, text)


def test_a_malformed_selector_is_refused_at_start(tmp_path: Path) -> None:
    message = refusal(
        tmp_path, SOURCE.replace("data.items[*].text", "data..items[") + 'every = "1h"\n'
    )
    assert "sources.0.select" in message
