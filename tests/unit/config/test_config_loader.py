from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta
from pathlib import Path

import pytest

from planwatch.config import loader
from planwatch.config.settings import Settings
from planwatch.errors import ConfigError

LoadText = Callable[..., Settings]
Problems = Callable[..., dict[str, str]]

TARGET = """
targets:
  - name: db
    dsn: postgresql://app@localhost/app
"""


# -- which file ---------------------------------------------------------------------------


def test_explicit_path_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        loader.load(missing, environ={})
    assert caught.value.problems == [(str(missing), "configuration file does not exist")]


def test_path_from_planwatch_config(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text("http: {port: 9999}\n")
    assert loader.load(environ={"PLANWATCH_CONFIG": str(path)}).http.port == 9999


def test_planwatch_config_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PLANWATCH_CONFIG"):
        loader.load(environ={"PLANWATCH_CONFIG": str(tmp_path / "nope.yaml")})


def test_explicit_path_wins_over_env(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("http: {port: 1111}\n")
    env = {"PLANWATCH_CONFIG": str(tmp_path / "missing.yaml")}
    assert loader.load(tmp_path / "a.yaml", environ=env).http.port == 1111


def test_planwatch_yaml_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert loader.load(environ={}).http.port == 8080  # no file: all defaults
    (tmp_path / "planwatch.yaml").write_text("http: {port: 7070}\n")
    assert loader.load(environ={}).http.port == 7070


def test_empty_file_is_all_defaults(load_text: LoadText) -> None:
    assert load_text("# nothing here\n") == loader.load_mapping({}, environ={})


# -- YAML -------------------------------------------------------------------------------


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "planwatch.yaml"
    path.write_text("http:\n  port: 8080\n  host: [unclosed\nlogging: {}\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path, environ={})
    ((where, message),) = caught.value.problems
    assert where.startswith(f"{path}:")
    line, column = (int(n) for n in where.rsplit(":", 2)[1:])
    assert line >= 3 and column >= 1
    assert message.startswith("YAML syntax error")


def test_yaml_error_does_not_echo_the_line(tmp_path: Path) -> None:
    path = tmp_path / "planwatch.yaml"
    path.write_text("targets:\n  - dsn: postgresql://u:hunter2@h/db\n   name: : x\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path, environ={})
    assert "hunter2" not in str(caught.value)


def test_duplicate_key_is_an_error(problems: Problems) -> None:
    found = problems("http:\n  port: 1\n  port: 2\n")
    ((where, message),) = found.items()
    assert where.endswith(":3:3")
    assert "duplicate key 'port'" in message


def test_anchors_merge_keys_and_x_keys(load_text: LoadText) -> None:
    settings = load_text(
        """
        x-target: &target {engine: postgresql, tags: [prod], connect_timeout: 5s}
        targets:
          - <<: *target
            name: a
            dsn: host=a
          - <<: *target
            name: b
            dsn: host=b
            tags: [staging]
        """
    )
    assert [t.tags for t in settings.targets] == [("prod",), ("staging",)]
    assert settings.target("b").connect_timeout == timedelta(seconds=5)


def test_top_level_must_be_a_mapping(problems: Problems) -> None:
    assert list(problems("- a\n- b\n").values()) == [
        "the configuration must be a mapping of sections"
    ]


def test_times_of_day_are_not_base_60_numbers(load_text: LoadText) -> None:
    settings = load_text("scheduling:\n  daily_summary: {at: 7:30}\n")
    assert settings.scheduling.jobs["daily_summary"].at == time(7, 30)


def test_unquoted_bang_threshold_hints_at_quoting(problems: Problems) -> None:
    (message,) = problems("checks:\n  - critical: != 0\n").values()
    assert "quote" in message


# -- environment overrides -------------------------------------------------------------------


def test_env_overrides_nested_and_list_index(load_text: LoadText) -> None:
    settings = load_text(
        TARGET,
        PLANWATCH_STORAGE__URL="postgresql://store/pw",
        PLANWATCH_HTTP__PORT="9090",
        PLANWATCH_HTTP__PUBLIC_READ="true",
        PLANWATCH_TARGETS__0__DSN="host=other dbname=app",
        PLANWATCH_TARGETS__0__TAGS="[eu, prod]",
        PLANWATCH_SCHEDULING__COLLECTION__INTERVAL="1m",
        PLANWATCH_ANALYSIS__REGRESSION__MIN_RATIO="3",
        PLANWATCH_LOGGING__LEVEL="DEBUG",
    )
    assert settings.storage_url.reveal() == "postgresql://store/pw"
    assert (settings.http.port, settings.http.public_read) == (9090, True)
    assert settings.target("db").dsn.reveal() == "host=other dbname=app"
    assert settings.target("db").tags == ("eu", "prod")
    assert settings.scheduling.jobs["collection"].interval == timedelta(minutes=1)
    assert settings.analysis.regression.min_ratio == 3.0
    assert settings.logging.level == "debug"


def test_env_appends_a_list_item(load_text: LoadText) -> None:
    settings = load_text(
        TARGET,
        PLANWATCH_TARGETS__1__NAME="second",
        PLANWATCH_TARGETS__1__DSN="sqlite:///second.db",
    )
    assert [t.name for t in settings.targets] == ["db", "second"]
    assert settings.target("second").engine == "sqlite"


def test_env_string_fields_stay_strings(load_text: LoadText) -> None:
    settings = load_text("", PLANWATCH_HTTP__TOKEN="0123", PLANWATCH_WORKER__NAME="true")
    assert settings.http.token is not None and settings.http.token.reveal() == "0123"
    assert settings.worker_name == "true"


def test_env_override_problems(problems: Problems) -> None:
    found = problems(
        TARGET,
        PLANWATCH_TARGETS__5__DSN="x",
        PLANWATCH_HTTP__PORT="ninety",
    )
    assert found == {
        "targets[5].dsn": "index 5 is past the end of targets (1 items) "
        "(from environment variable PLANWATCH_TARGETS__5__DSN)",
        "http.port": "Input should be a valid integer, unable to parse string as an integer "
        "(from environment variable PLANWATCH_HTTP__PORT)",
    }


def test_variables_that_name_no_setting_are_ignored_and_listed(load_text: LoadText) -> None:
    """Kubernetes injects service links for a Service named planwatch; typos are not fatal
    either (SPEC §11): each is named once, with a hint when one is close."""
    service_links = {
        "PLANWATCH_SERVICE_HOST": "10.96.0.12", "PLANWATCH_SERVICE_PORT": "8080",
        "PLANWATCH_SERVICE_PORT_HTTP": "8080", "PLANWATCH_PORT": "tcp://10.96.0.12:8080",
        "PLANWATCH_PORT_8080_TCP": "tcp://10.96.0.12:8080",
        "PLANWATCH_PORT_8080_TCP_PROTO": "tcp", "PLANWATCH_PORT_8080_TCP_PORT": "8080",
        "PLANWATCH_PORT_8080_TCP_ADDR": "10.96.0.12",
    }
    settings = load_text(
        TARGET, **service_links, PLANWATCH_HTTP__PROT="1", PLANWATCH_TARGETS__X__DSN="x",
        PLANWATCH_TOKEN="abc", PLANWATCH_LOG_LEVEL="debug", PLANWATCH_HTTP__PORT="9090",
    )
    assert settings.http.port == 9090
    names = sorted([*service_links, "PLANWATCH_HTTP__PROT", "PLANWATCH_TARGETS__X__DSN",
                    "PLANWATCH_TOKEN", "PLANWATCH_LOG_LEVEL"])
    hinted = {"PLANWATCH_HTTP__PROT": "PLANWATCH_HTTP__PROT (did you mean PLANWATCH_HTTP__PORT?)"}
    assert settings.ignored_env == tuple(hinted.get(n, n) for n in names)
    assert settings == load_text(TARGET, PLANWATCH_HTTP__PORT="9090")  # nothing else changed
    assert settings.digest == load_text(TARGET, PLANWATCH_HTTP__PORT="9090").digest


def test_reserved_and_foreign_variables_are_ignored_silently(load_text: LoadText) -> None:
    settings = load_text(
        TARGET,
        PLANWATCH_CONFIG="/elsewhere.yaml",
        PLANWATCH_SECRET_KEY_FILE="/nonexistent",
        PLANWATCH_PG_BINDIR="/usr/lib/postgresql/15/bin",
        PLANWATCH_CHROMIUM="/usr/bin/chromium",
        HOME="/root",
        PLANWATCHER="x",
    )
    assert settings.ignored_env == ()


# -- secrets from files (_FILE) --------------------------------------------------------------


def test_every_setting_can_come_from_a_file(load_text: LoadText, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n", encoding="utf-8")  # `echo` adds a line break
    dsn = tmp_path / "dsn"
    dsn.write_text("postgresql://app:pw@db/app", encoding="utf-8")
    settings = load_text(TARGET, PLANWATCH_HTTP__TOKEN_FILE=str(token),
                         PLANWATCH_TARGETS__0__DSN_FILE=str(dsn))
    assert settings.http.token is not None and settings.http.token.reveal() == "s3cr3t-token"
    assert settings.target("db").dsn.reveal() == "postgresql://app:pw@db/app"
    assert settings.ignored_env == ()


def test_interpolated_variable_falls_back_to_its_file(load_text: LoadText, tmp_path: Path) -> None:
    secret = tmp_path / "pgpassword"
    secret.write_text("from-file\n", encoding="utf-8")
    text = "targets:\n  - {name: db, dsn: 'postgresql://app:${PGPASSWORD}@h/app'}\n"
    settings = load_text(text, PGPASSWORD_FILE=str(secret))
    assert settings.target("db").dsn.reveal() == "postgresql://app:from-file@h/app"
    settings = load_text(text, PGPASSWORD="from-env", PGPASSWORD_FILE=str(secret))
    assert settings.target("db").dsn.reveal() == "postgresql://app:from-env@h/app"


def test_file_variable_problems_name_the_file_never_a_value(
    problems: Problems, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    found = problems(
        TARGET + "storage: {url: 'sqlite:///${STORE_FILE_VAR}'}\n",
        PLANWATCH_HTTP__TOKEN="inline-secret", PLANWATCH_HTTP__TOKEN_FILE=str(missing),
        PLANWATCH_TARGETS__0__DSN_FILE=str(missing), STORE_FILE_VAR_FILE=str(missing),
    )
    assert found == {
        "http.token": "set PLANWATCH_HTTP__TOKEN or PLANWATCH_HTTP__TOKEN_FILE, not both",
        "targets[0].dsn": f"cannot read {missing} (from environment variable "
        "PLANWATCH_TARGETS__0__DSN_FILE): No such file or directory",
        "storage.url": f"cannot read {missing} (from environment variable STORE_FILE_VAR_FILE): "
        "No such file or directory",
    }
    assert "inline-secret" not in repr(found)


# -- interpolation ---------------------------------------------------------------------


def test_interpolation(load_text: LoadText) -> None:
    settings = load_text(
        """
        targets:
          - name: db
            dsn: postgresql://app:${PGPASSWORD}@${PGHOST:-localhost}/app
            environment: ${ENVIRONMENT:-}
        http:
          port: ${PORT:-8181}
        worker:
          name: literal-$${NOT_A_VAR}
        """,
        PGPASSWORD="s3cret",
    )
    assert settings.target("db").dsn.reveal() == "postgresql://app:s3cret@localhost/app"
    assert settings.target("db").environment == ""
    assert settings.http.port == 8181
    assert settings.worker_name == "literal-${NOT_A_VAR}"


def test_env_value_wins_over_default(load_text: LoadText) -> None:
    settings = load_text("http: {port: '${PORT:-8181}'}\n", PORT="9191")
    assert settings.http.port == 9191


def test_missing_variable_is_reported_at_its_path(problems: Problems) -> None:
    found = problems(
        """
        targets:
          - name: db
            dsn: postgresql://app:${DB_PASS}@localhost/app
        http:
          port: ${PORT}
          host: ${HOST
        """
    )
    assert found == {
        "targets[0].dsn": "environment variable DB_PASS is not set",
        "http.port": "environment variable PORT is not set",
        "http.host": "malformed ${...} reference; use ${VAR} or ${VAR:-default}",
    }


# -- many problems at once ----------------------------------------------------------------


def test_every_problem_is_reported_at_once(problems: Problems) -> None:
    found = problems(
        """
        targets:
          - name: a
            dsn: postgresql://a/db
          - name: b
            dsn: postgresql://b/db
            connect_timeout: 10 parsecs
          - name: a
            dsn: postgresql://c/db
        checks:
          - name: k
            target: zz
            sql: select 1
            warning: "> 5"
          - name: k2
            targets: [a, nope]
            sql: select 1
            operator: gt
            expected: 5
            interval: 1m
            cron: "0 * * * *"
        alerting:
          channels:
            - {name: ops, url: "json://x"}
          escalation:
            channels: [ops, opz]
        scheduling:
          colection: {interval: 1m}
          analysis: {interval: 0s}
        http:
          port: 70000
        """
    )
    assert found == {
        "alerting.escalation.channels[1]": "unknown channel 'opz': not defined in "
        "alerting.channels; did you mean 'ops'?",
        "checks[0].target": "unknown target 'zz': not defined in targets",
        "checks[1]": "give only one of 'interval', 'cron' (found interval, cron)",
        "checks[1].targets[1]": "unknown target 'nope': not defined in targets",
        "http.port": "Input should be less than or equal to 65535",
        "scheduling.analysis.interval": "must be longer than zero",
        "scheduling.colection": "unknown key; did you mean 'collection'?",
        "targets[1].connect_timeout": "invalid duration '10 parsecs'; use e.g. 30s, 5m, 2h, "
        "1d, 1h30m, ISO-8601 PT5M, or a number of seconds",
        "targets[2].name": "duplicate target name 'a' (also targets[0])",
    }


def test_error_text_lists_locations(problems: Problems, load_text: LoadText) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text("http: {port: x}\nlogging: {format: xml}\n")
    text = str(caught.value)
    assert "2 problem(s)" in text
    assert "  http.port: " in text
    assert "  logging.format: Input should be 'json' or 'console'" in text
