"""Validation at the edge: types, ranges, unknown parameters, all problems in one error."""
import pytest

from shoal_server.api.description import validate_params
from shoal_server.api.operations import OPERATIONS_BY_NAME as OPS
from shoal_server.errors import InvalidParameter


def problems(op, raw, text=()):
    with pytest.raises(InvalidParameter) as info:
        validate_params(OPS[op], raw, text)
    return info.value


def test_defaults_are_filled_and_text_is_converted():
    got = validate_params(OPS["frame_rows"], {"key": "f", "offset": "-5", "limit": "3"}, {"key", "offset", "limit"})
    assert got == {"key": "f", "offset": -5, "limit": 3}
    got = validate_params(OPS["get_frame"], {"key": "f", "rollups": "false"}, {"key", "rollups"})
    assert got["rollups"] is False and got["histogram"] is False and got["chunk_summary"] is False


def test_all_problems_come_back_together():
    err = problems("frame_rows", {"key": "f", "offset": "x", "limit": "100000", "limt": "1"},
                   {"key", "offset", "limit", "limt"})
    probs = {p["parameter"]: p["message"] for p in err.details["problems"]}
    assert set(probs) == {"offset", "limit", "limt"}
    assert probs["limit"] == "Parameter `limit` of `frame_rows` must be an integer in [0, 10000]; got \"100000\""
    assert "did you mean `limit`?" in probs["limt"]
    assert err.message.startswith("3 problems with the parameters of `frame_rows`:")
    assert err.http_status == 400 and err.code == "invalid_parameter"


def test_json_types_are_strict():
    err = problems("import_file", {"path": 5, "destination_frame": "../x", "header": "yes",
                                   "col_types": {"a": "complex"}, "sep": ",,", "max_runtime_secs": -1})
    names = {p["parameter"] for p in err.details["problems"]}
    assert names == {"path", "destination_frame", "header", "col_types", "sep", "max_runtime_secs"}


def test_missing_required_parameter_is_named():
    err = problems("import_file", {})
    assert err.details["problems"][0]["parameter"] == "path"
    assert "is required" in err.details["problems"][0]["message"]


def test_unions_and_single_string_lists():
    got = validate_params(OPS["import_file"], {"path": "a.csv", "header": True, "na_strings": {"a": ["-"]},
                                               "col_types": ["int", "factor"], "skipped_columns": ["b"]})
    assert got["path"] == ["a.csv"] and got["header"] is True
    got = validate_params(OPS["import_file"], {"path": ["a.csv"], "header": -1, "max_runtime_secs": 5})
    assert got["header"] == -1 and got["max_runtime_secs"] == 5.0
    got = validate_params(OPS["upload_file"], {"col_names": '["a","b"]', "header": "1"}, {"col_names", "header"})
    assert got["col_names"] == ["a", "b"] and got["header"] is True


def test_booleans_are_not_integers_and_nan_is_not_a_number():
    problems("frame_rows", {"key": "f", "limit": True})
    problems("import_file", {"path": ["a"], "max_runtime_secs": float("nan")})
    problems("upload_file", {"max_runtime_secs": "nan"}, {"max_runtime_secs"})
