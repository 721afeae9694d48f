"""The API fuzzed with schemathesis against its own OpenAPI document, on a real worker.

Every generated request (valid and invalid parameters, with the token so the write endpoints
are reached too) must get a documented status with a body matching the schema: no 500s.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from integration.web import liveworker
from planwatch.devtools.pgcluster import PgCluster
from planwatch.web import openapi

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "fuzz-token"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[liveworker.LiveWorker]:
    """A real worker over seeded storage, on each storage backend."""
    url = None
    if request.param == "postgresql":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        db = f"fuzz_{uuid.uuid4().hex[:10]}"
        cluster.psql(f"CREATE DATABASE {db}")
        request.addfinalizer(lambda: cluster.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        url = cluster.url(db)
    with liveworker.running(tmp_path_factory.mktemp("fuzz"), TOKEN, url) as worker:
        yield worker
        log = worker.log.read_text()
    assert "Traceback" not in log, log[-3000:]


# The document the server serves (the test below also checks they are the same).
schema = schemathesis.openapi.from_dict(openapi.document())


@schema.parametrize()
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_and_never_fails(case: schemathesis.Case, live: liveworker.LiveWorker,
                                      ) -> None:
    case.call_and_validate(base_url=f"{live.base_url}/api/v1",
                           headers={"Authorization": f"Bearer {TOKEN}"})


def test_the_served_document_is_the_fuzzed_one(live: liveworker.LiveWorker) -> None:
    import httpx

    assert httpx.get(f"{live.base_url}/api/v1/openapi.json").json() == openapi.document()
