"""Settings: TOML + environment, secret files, clear errors naming the key."""

import re
import tomllib
from pathlib import Path
from typing import get_args, get_origin

import pytest

from bot.settings import Settings, SettingsError, load_settings
from bot.settings.doc import render_example

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "absent.toml")
    assert 8080 == settings.http.port
    assert "tiny" == settings.trainer.default_base
    assert [] == settings.secret_values()


def test_required_file_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such config file"):
        load_settings(tmp_path / "absent.toml", required=True)


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[http]\nport = 9000\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("TRAINBOT_HTTP__PORT", "9100")
    settings = load_settings(path)
    assert (9100, "0.0.0.0") == (settings.http.port, settings.http.host)


def test_wrong_type_names_the_key_and_expected_type(tmp_path: Path) -> None:
    path = write(tmp_path, '[http]\nport = "abc"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert "http.port: Input should be a valid integer" in str(info.value)
    assert "'abc'" in str(info.value)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[trainer]\nmax_concurent_jobs = 2\n")
    with pytest.raises(SettingsError, match=r"trainer.max_concurent_jobs: unknown setting"):
        load_settings(path)


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "[http\nport = 1\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(path)


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("hunter2-secret\n")
    (tmp_path / "tokens").write_text("token-one\n\ntoken-two\n")
    path = write(
        tmp_path,
        f'[matrix]\npassword_file = "{tmp_path / "pw"}"\n'
        f'[http]\ntokens_file = "{tmp_path / "tokens"}"\n',
    )
    settings = load_settings(path)
    assert settings.matrix.password is not None
    assert "hunter2-secret" == settings.matrix.password.get_secret_value()
    assert ["token-one", "token-two"] == [t.token.get_secret_value() for t in settings.http.tokens]
    assert "hunter2-secret" not in repr(settings)


def test_tokens_are_plain_strings_or_tables_with_scopes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[http]\ntokens = ["old-style", {token = "ci-token", name = "ci", scopes = ["train"]}]\n',
    )
    tokens = load_settings(path).http.tokens
    assert [("old-style", None, None), ("ci-token", "ci", ["train"])] == [
        (t.token.get_secret_value(), t.name, t.scopes) for t in tokens
    ]


def test_unknown_scopes_empty_scopes_and_twice_named_tokens_are_refused(tmp_path: Path) -> None:
    cases = {
        '[{token = "t", scopes = ["root"]}]': "http.tokens.0.scopes.0",
        '[{token = "t", scopes = []}]': "http.tokens.0.scopes",
        '[{token = "a", name = "ci"}, {token = "b", name = "ci"}]': "token names must be unique",
    }
    for tokens, says in cases.items():
        path = write(tmp_path, f"[http]\ntokens = {tokens}\n")
        with pytest.raises(SettingsError, match=re.escape(says)):
            load_settings(path)


def test_secret_and_secret_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("sk-file")
    path = write(tmp_path, f'[openai]\napi_key = "sk-x"\napi_key_file = "{tmp_path / "key"}"\n')
    with pytest.raises(SettingsError, match="set either api_key or api_key_file"):
        load_settings(path)


def test_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, '[openai]\napi_key_file = "/nonexistent/key"\n')
    with pytest.raises(SettingsError, match="cannot read api_key_file /nonexistent/key"):
        load_settings(path)


def test_a_malformed_secret_is_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, "[http]\ntokens = 12345678\n")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert "http.tokens" in str(info.value)
    assert "12345678" not in str(info.value)


def test_example_config_is_generated_from_the_declarations() -> None:
    # Fails when a setting is added, removed or redescribed without regenerating
    # config.example.toml (`trainbot check-config --example > config.example.toml`).
    committed = (REPO / "config.example.toml").read_text(encoding="utf-8")
    assert render_example() == committed


def test_every_setting_is_documented_in_the_example() -> None:
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    for section_name, section_field in Settings.model_fields.items():
        assert f"[{section_name}]" in text
        section = section_field.annotation
        if get_origin(section) is list:  # [[sources]], [[schedules]]: an array of tables
            section = get_args(section)[0]
        assert section is not None
        for key, field in section.model_fields.items():  # type: ignore[union-attr]
            assert field.description, f"{section_name}.{key} has no description"
            assert f"{key} = " in text, f"{section_name}.{key} missing from the example"


def test_example_config_is_valid() -> None:
    settings = load_settings(REPO / "config.example.toml", required=True)
    assert Settings() == settings


def test_the_readme_toml_examples_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each ```toml block of README.md that needs no secret file loads as it is shown.
    monkeypatch.setenv("NEWS_API_TOKEN", "Bearer from-the-env")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.DOTALL)
    checked = 0
    for block in blocks:
        if "_file" in block:
            continue
        Settings(**tomllib.loads(block))
        checked += 1
    assert checked >= 2  # the [[sources]] and [[schedules]] examples
