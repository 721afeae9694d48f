from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from planwatch.config import schema
from planwatch.config.fields import infer_engine
from planwatch.config.settings import CheckSettings, JobPatch, TargetSettings

CHECK = TypeAdapter(CheckSettings)
TARGET = TypeAdapter(TargetSettings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("> 1000", ("gt", 1000.0)),
        (">1000", ("gt", 1000.0)),
        ("<= 0.5", ("lte", 0.5)),
        (">= -3", ("gte", -3.0)),
        ("< 1e3", ("lt", 1000.0)),
        ("== 3", ("eq", 3.0)),
        ("= 3", ("eq", 3.0)),
        ("!= 0", ("ne", 0.0)),
        ("== OK", ("eq", "OK")),
        ("!= 'ready'", ("ne", "ready")),
        ("contains ERROR", ("contains", "ERROR")),
        ("contains  two words ", ("contains", "two words")),
        ("gt 5", ("gt", 5.0)),
    ],
)
def test_parse_threshold(text: str, expected: tuple[str, object]) -> None:
    assert schema.parse_threshold(text) == expected


@pytest.mark.parametrize("bad", ["1000", "> ", ">", "~ 5", "> lots", "between 1 5", ""])
def test_invalid_thresholds(bad: str) -> None:
    with pytest.raises(ValueError, match="threshold"):
        schema.parse_threshold(bad)


def _check(**fields: object) -> dict[str, object]:
    return {"name": "c", "sql": "select 1", "target": "db", **fields}


def test_threshold_field_keeps_the_string() -> None:
    check = CHECK.validate_python(_check(warning=" > 1000 ", critical="contains X"))
    assert (check.warning, check.critical) == ("> 1000", "contains X")


@pytest.mark.parametrize("bad", [1000, True, "1000"])
def test_threshold_field_rejects_non_thresholds(bad: object) -> None:
    with pytest.raises(ValueError, match="threshold"):
        CHECK.validate_python(_check(warning=bad))


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/5  *  * * 1-5", "@daily", "@hourly"])
def test_valid_cron(cron: str) -> None:
    assert JobPatch.model_validate({"cron": cron}).cron == " ".join(cron.split())


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * *", "*/5 * * * * *", "daily"])
def test_invalid_cron(cron: str) -> None:
    with pytest.raises(ValueError, match="cron"):
        JobPatch.model_validate({"cron": cron})


@pytest.mark.parametrize(
    ("dsn", "engine"),
    [
        ("postgresql://u:p@h/db", "postgresql"),
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("postgres://h/db", "postgresql"),
        ("host=h dbname=app user=u", "postgresql"),
        ("mysql+pymysql://u:p@h/db", "mysql"),
        ("mariadb+pymysql://u:p@h/db", "mariadb"),
        ("mssql+pymssql://u:p@h/db", "sqlserver"),
        ("sqlite:///tmp/x.db", "sqlite"),
        ("oracle+oracledb://u:p@h/db", "oracle"),
    ],
)
def test_engine_inferred_from_dsn(dsn: str, engine: str) -> None:
    assert infer_engine(dsn) == engine


@pytest.mark.parametrize(
    ("given", "engine"),
    [("postgres", "postgresql"), ("PostgreSQL", "postgresql"), ("mssql", "sqlserver"),
     ("mariadb", "mariadb"), ("oracle", "oracle")],
)  # fmt: skip
def test_engine_aliases(given: str, engine: str) -> None:
    target = TARGET.validate_python({"name": "t", "engine": given, "dsn": "x"})
    assert target.engine == engine


@pytest.mark.parametrize("name", ["prod-db-1", "orders.eu", "a", "shard:3", "X_Y"])
def test_valid_names(name: str) -> None:
    assert TARGET.validate_python({"name": name, "dsn": "host=h"}).name == name


@pytest.mark.parametrize("name", ["", "has space", "-lead", "a/b", "x" * 101])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        TARGET.validate_python({"name": name, "dsn": "host=h"})
