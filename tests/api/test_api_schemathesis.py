"""Fuzz the HTTP API from its own OpenAPI document (schemathesis): no 5xx, responses match the schema.

Bounded: a few examples per operation so the whole run stays well under a minute. ``shutdown`` is
left out (it would stop the node under test).
"""
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402


@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory):
    from nodeproc import NodeProcess

    n = NodeProcess(tmp_path_factory.mktemp("fuzz"))
    (n.data_root / "a.csv").write_text("x,y\n1,a\n2,b\n")
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_node):
    return schemathesis.openapi.from_url(fuzz_node.url + "/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.exclude(operation_id="shutdown").parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_openapi_document(case, fuzz_node):
    excluded = []
    if case.operation.definition.raw.get("operationId") in ("upload_frame", "evaluate"):
        # any bytes are "schema-valid" for a binary body, but only SHOALCOL bytes are a valid upload;
        # any object is "schema-valid" for `expr`, but only expressions over known primitives evaluate
        from schemathesis.specs.openapi.checks import positive_data_acceptance

        excluded.append(positive_data_acceptance)
    case.call_and_validate(timeout=10, excluded_checks=excluded)
    assert fuzz_node.alive()
