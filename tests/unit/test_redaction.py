"""One redaction for every syntax a password or token comes in (recorded driver messages of
engines that cannot run here included); tests/integration/test_redaction_drivers.py provokes
the real drivers."""

from __future__ import annotations

import pytest

from planwatch.redaction import MASK, is_secret_key, redact


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        # URLs: SQLAlchemy, libpq, MySQL / MariaDB, SQL Server, apprise
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql+psycopg://u:pw@h:5433/db", "postgresql+psycopg://u:***@h:5433/db"),
        ("mysql+pymysql://root:p%40ss@h/db?charset=utf8", "mysql+pymysql://root:***@h/db?charset=utf8"),
        ("mariadb://mon:pw@db1:3306/shop?unix_socket=/run/m.sock",
         "mariadb://mon:***@db1:3306/shop?unix_socket=/run/m.sock"),
        ("mssql+pymssql://sa:Pa55;w0rd@sql1:1433/shop", "mssql+pymssql://sa:***@sql1:1433/shop"),
        ("postgresql://u:pa@ss/word@h/db", "postgresql://u:***@h/db"),
        ("postgresql://:pw@h/db", "postgresql://:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgresql://h/db?user=u&password=pw&sslmode=require",
         "postgresql://h/db?user=u&password=***&sslmode=require"),
        ("postgresql:///db?password=pw", "postgresql:///db?password=***"),
        ("postgresql://h/db?sslpassword=k&sslkey=/k.pem", "postgresql://h/db?sslpassword=***&sslkey=/k.pem"),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
        ("mailtos://alerts:app-pw@smtp.example.com", "mailtos://alerts:***@smtp.example.com"),
        # up to the last @: a password may hold a raw one, so masking too much is the safe side
        ("mailtos://alerts:app-pw@smtp.example.com?to=dba@example.com",
         "mailtos://alerts:***@example.com"),
        ("ntfy://user:pw@ntfy.example.com/topic; slack://T000/B000/XXXX",
         "ntfy://user:***@ntfy.example.com/topic; slack://T000/B000/XXXX"),
        ("GET https://api.example.com/v1?api_key=abc&access_token=t&x=1",
         "GET https://api.example.com/v1?api_key=***&access_token=***&x=1"),
        # libpq key=value
        ("host=h user=u password=secret dbname=db", "host=h user=u password=*** dbname=db"),
        ("host=h password='a b\\' c' dbname=db", "host=h password=*** dbname=db"),
        ("host=h password = spaced dbname=db", "host=h password = *** dbname=db"),
        ("host=h sslpassword=k", "host=h sslpassword=***"),
        ("host=h dbname=db", "host=h dbname=db"),
        # SQL Server / ODBC connection strings
        ("Server=h;User Id=u;Password=x;", "Server=h;User Id=u;Password=***;"),
        ("PWD='a b';UID=x", "PWD=***;UID=x"),
        ("Driver={ODBC Driver 18};Server=h;UID=u;PWD={p;w}}x};",
         "Driver={ODBC Driver 18};Server=h;UID=u;PWD=***;"),
        # command lines, reprs, headers
        ("mysqldump --password=s3 -h db1", "mysqldump --password=*** -h db1"),
        ("{'host': 'db1', 'password': 'pw', 'port': 3306}",
         "{'host': 'db1', 'password': ***, 'port': 3306}"),
        ("{'dsn': 'host=h password='pw' dbname=db'}", "{'dsn': 'host=h password=*** dbname=db'}"),
        # one inside another, also when the inner quote ends the outer value
        ("{'credentials': \"user=u password='pw'\"}", "{'credentials': ***}"),
        ("{'credentials': 'user=u password='pw' x'}", "{'credentials': *** x'}"),
        ('{"user": "u", "passwd": "pw"}', '{"user": "u", "passwd": ***}'),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("X-Api-Key: abc", "X-Api-Key: ***"),
        # what must stay readable
        ("Access denied for user 'mon'@'10.0.0.1' (using password: YES)",
         "Access denied for user 'mon'@'10.0.0.1' (using password: YES)"),
        ('FATAL:  password authentication failed for user "app"',
         'FATAL:  password authentication failed for user "app"'),
        ("fe_sendauth: no password supplied", "fe_sendauth: no password supplied"),
        ("DETAIL:  Key (dedup_key)=(regression:db1:42) already exists.",
         "DETAIL:  Key (dedup_key)=(regression:db1:42) already exists."),
        ("t: invalid DSN: expected mssql://user:password@host:1433/database",
         "t: invalid DSN: expected mssql://user:***@host:1433/database"),
        ("matcher 'x' is not KEY=VALUE", "matcher 'x' is not KEY=VALUE"),
        ("nothing to hide", "nothing to hide"),
    ],
)  # fmt: skip
def test_every_syntax_is_redacted(text: str, redacted: str) -> None:
    assert redact(text) == redacted
    assert redact(redacted) == redacted  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "host=db1 password=s3cret dbname=shop",
        "host=db1 password='s3cret' dbname=shop",
        "postgresql://app:s3cret@db1/shop",
        "the password is s3cret",
        "the password is s3cr%40t",  # URL-encoded, as a URL DSN carries it
    ],
)
def test_a_known_password_is_masked_in_any_syntax(text: str) -> None:
    assert "s3cr" not in redact(text, "s3cret", "s3cr@t")
    assert "s3cret" not in redact(text.replace("the password is s3cret", ""))


def test_without_a_known_password_only_syntax_counts() -> None:
    assert redact("the password is s3cret", None, "") == "the password is s3cret"


# Messages recorded from pymssql 2.3 / FreeTDS against SQL Server 2022 (not runnable here),
# with a DSN's password put where a careless layer could echo it.
SQLSERVER_MESSAGES = [
    "(18456, b\"Login failed for user 'planwatch'.DB-Lib error message 20018, severity 14:\\n"
    "General SQL Server error: Check messages from the SQL Server\\nDB-Lib error message 20002, "
    "severity 9:\\nAdaptive Server connection failed (sql1)\\n\")",
    "(20009, b'DB-Lib error message 20009, severity 9:\\nUnable to connect: Adaptive Server is "
    "unavailable or does not exist (sql1)\\nNet-Lib error during Connection refused (111)\\n')",
    "Cannot open database \"shop\" requested by the login. The login failed. "
    "(mssql://planwatch:Sq1-Pa55@sql1:1433/shop)",
    "connect(server='sql1', user='planwatch', password='Sq1-Pa55', port=1433)",
    "Server=sql1,1433;Database=shop;User Id=planwatch;Password=Sq1-Pa55;Encrypt=yes",
    "Driver={ODBC Driver 18 for SQL Server};Server=sql1;UID=planwatch;PWD={Sq1-Pa55};",
]


@pytest.mark.parametrize("message", SQLSERVER_MESSAGES)
def test_sqlserver_messages(message: str) -> None:
    assert "Sq1-Pa55" not in redact(message)
    assert "Sq1-Pa55" not in redact(message, "Sq1-Pa55")


def test_secret_field_names() -> None:
    secret = ["dsn", "password", "db_password", "api_key", "X-Api-Key", "token", "secret",
              "key", "PLANWATCH_SECRET_KEY", "authorization", "Set-Cookie", "pass"]
    plain = ["dedup_key", "checks_passed", "target", "query_id", "passes", "keys"]
    assert all(map(is_secret_key, secret))
    assert not any(map(is_secret_key, plain))
    assert MASK == "***"  # the same mask as SQLAlchemy's hide_password
