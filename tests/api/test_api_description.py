"""The API description: one declaration per operation, committed copy in sync, OpenAPI valid."""
import json
import re

from shoal_server.api.description import (TYPES, build_description, description_path, dumps_description,
                                          validate_params)
from shoal_server.api.handlers import HANDLERS
from shoal_server.api.operations import OPERATIONS, OPERATIONS_BY_NAME
from shoal_server.api.server import openapi_document
from shoal_server.errors import ERROR_CATALOG

REQUIRED = {"import_file", "upload_file", "parse_setup", "upload_frame", "list_frames", "get_frame",
            "frame_rows", "download_frame", "delete_frame", "list_jobs", "get_job", "cancel_job",
            "cluster_status", "metadata", "openapi", "shutdown"}


def test_committed_description_matches_the_declarations():
    committed = description_path().read_text(encoding="utf-8")
    current = dumps_description(build_description(OPERATIONS))
    assert committed == current, ("api/description.json is stale: run "
                                  "`python -m shoal_server.api.description` and regenerate the clients")


def test_every_operation_is_declared_once_with_a_handler():
    names = [op.name for op in OPERATIONS]
    assert len(names) == len(set(names))
    assert REQUIRED <= set(names)
    assert set(HANDLERS) == set(names)
    routes = [(op.method, op.path) for op in OPERATIONS]
    assert len(routes) == len(set(routes))


def test_declarations_are_well_formed():
    for op in OPERATIONS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", op.name), op.name
        assert op.summary and op.result, op.name
        assert op.path.startswith("/api/v1/"), op.name
        for code in op.errors:
            assert code in ERROR_CATALOG, (op.name, code)
        path_params = set(re.findall(r"{(\w+)}", op.path))
        for p in op.params:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", p.name), p.name
            assert p.name not in ("lambda", "function", "in", "if", "repeat", "next", "break")
            assert all(t in TYPES for t in p.type.split("|")), (op.name, p.name, p.type)
            assert p.help, (op.name, p.name)
            assert p.level in ("basic", "advanced", "expert")
            assert (p.location == "path") == (p.name in path_params), (op.name, p.name)
            if p.location == "body":
                assert op.body == "json", op.name
            # defaults must satisfy their own declaration
            if p.default is not None:
                filler = {q.name: ("x_1" if "key" in q.type or q.type == "string" else {} if q.type == "dict" else ["a"])
                          for q in op.params if q.required and q.name != p.name}
                validate_params(op, {p.name: p.default} | filler)


def test_metadata_lists_the_error_catalog():
    desc = build_description(OPERATIONS)
    codes = {e["code"]: e for e in desc["errors"]}
    assert set(codes) == set(ERROR_CATALOG)
    for code, klass in ERROR_CATALOG.items():
        assert codes[code]["http_status"] == klass.http_status and codes[code]["help"]
    json.dumps(desc)


def test_openapi_document_is_valid_openapi_3():
    from openapi_spec_validator import validate

    doc = openapi_document(with_auth=True)
    validate(doc)
    ids = {item["operationId"] for methods in doc["paths"].values() for item in methods.values()}
    assert ids == set(OPERATIONS_BY_NAME)
