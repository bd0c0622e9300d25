"""Settings from INGESTD_* variables."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from ingestd.settings import Settings, SettingsError, env_name, from_env


def test_defaults_match_the_contract() -> None:
    settings = from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database_url is None
    assert settings.durability == "memory"
    assert settings.tokens == {}


def test_variables_are_read() -> None:
    settings = from_env(
        {
            "INGESTD_HOST": "0.0.0.0",
            "INGESTD_PORT": "9000",
            "INGESTD_DATABASE_URL": "postgresql://x/y",
            "INGESTD_DATA_DIR": "/tmp/d",
            "INGESTD_TOKENS": "k1:ingest k2:read",
            "INGESTD_BATCH_MAX_EVENTS": "100",
            "INGESTD_LOG_FORMAT": "JSON",
        }
    )
    assert (settings.host, settings.port, settings.batch_max_events) == ("0.0.0.0", 9000, 100)
    assert settings.data_dir == Path("/tmp/d")
    assert len(settings.tokens) == 2
    assert settings.log_format == "json"


def test_file_variants_hold_secrets(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("k3:ingest,read,admin\n")
    assert len(from_env({"INGESTD_TOKENS_FILE": str(path)}).tokens) == 1
    with pytest.raises(SettingsError, match="INGESTD_TOKENS_FILE: cannot read"):
        from_env({"INGESTD_TOKENS_FILE": str(tmp_path / "missing")})
    with pytest.raises(SettingsError, match="not both"):
        from_env({"INGESTD_TOKENS_FILE": str(path), "INGESTD_TOKENS": "a:read"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INGESTD_PORT": "http"}, "INGESTD_PORT must be a whole number"),
        ({"INGESTD_BATCH_MAX_EVENTS": "0"}, "INGESTD_BATCH_MAX_EVENTS must be at least 1"),
        ({"INGESTD_TOKENS": "k:write"}, "INGESTD_TOKENS: unknown scope"),
        ({"INGESTD_ALLOW_OPEN": "maybe"}, "INGESTD_ALLOW_OPEN must be"),
        ({"INGESTD_LOG_FORMAT": "xml"}, "INGESTD_LOG_FORMAT must be text or json"),
        ({"INGESTD_SHUTDOWN_BUDGET_S": "-1"}, "INGESTD_SHUTDOWN_BUDGET_S must not be negative"),
    ],
)
def test_bad_values_fail_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        from_env(env)


def test_an_open_non_loopback_bind_is_refused_unless_allowed() -> None:
    with pytest.raises(SettingsError, match="INGESTD_TOKENS"):
        Settings(host="0.0.0.0").check()
    Settings(host="0.0.0.0", allow_open=True).check()
    Settings(host="::1").check()
    Settings(host="localhost").check()
    from_env({"INGESTD_HOST": "0.0.0.0", "INGESTD_TOKENS": "k:ingest"}).check()


def test_unknown_durability_is_refused() -> None:
    with pytest.raises(SettingsError, match="INGESTD_DURABILITY"):
        Settings(durability="disk").check()


def test_the_pool_must_leave_reads_a_connection_besides_the_writers() -> None:
    from_env({"INGESTD_WRITER_CONNECTIONS": "3", "INGESTD_DB_POOL_SIZE": "4"}).check()
    with pytest.raises(SettingsError, match=r"INGESTD_DB_POOL_SIZE \(3\) must be larger"):
        from_env({"INGESTD_WRITER_CONNECTIONS": "3", "INGESTD_DB_POOL_SIZE": "3"}).check()


def test_the_live_tail_limits_are_read() -> None:
    settings = from_env(
        {"INGESTD_TAIL_MAX_SUBSCRIBERS": "20", "INGESTD_TAIL_MAX_BUFFER_BYTES": "1048576"}
    )
    assert (settings.tail_max_subscribers, settings.tail_max_buffer_bytes) == (20, 1048576)
    with pytest.raises(SettingsError, match="INGESTD_TAIL_MAX_SUBSCRIBERS must be at least 1"):
        from_env({"INGESTD_TAIL_MAX_SUBSCRIBERS": "0"})


def test_every_setting_is_read_from_its_variable_and_documented() -> None:
    """A field added to Settings is read from INGESTD_<NAME> with no second list to keep, and
    docs/configuration.md names it."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    defaults = Settings()
    for field in fields(Settings):
        name = env_name(field.name)
        assert name in doc, f"{name} is not in docs/configuration.md"
        value = getattr(defaults, field.name)
        if isinstance(value, bool):
            assert getattr(from_env({name: "0" if value else "1"}), field.name) is (not value)
        elif isinstance(value, int | float):
            changed = from_env({name: str(value + 7)})
            assert getattr(changed, field.name) == value + 7, name
