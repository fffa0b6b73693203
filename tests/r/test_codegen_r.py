"""The R emitter (tools/codegen/r.py): output is committed, marked generated, and complete."""
from __future__ import annotations

import copy
import fnmatch
import json

import pytest

from tools.codegen import header_line, load_description, r as r_emitter

from .conftest import ROOT

pytestmark = pytest.mark.r


@pytest.fixture(scope="module")
def desc():
    return load_description(root=ROOT)


def test_generated_r_files_are_up_to_date(desc):
    out = r_emitter.emit(desc, ROOT)
    stale = [rel for rel, text in out.items()
             if not (ROOT / rel).exists() or (ROOT / rel).read_text(encoding="utf-8") != text]
    assert not stale, f"regenerate with `python -m tools.codegen`: {stale}"
    owned = {p.relative_to(ROOT).as_posix() for g in r_emitter.OWNED_GLOBS for p in ROOT.glob(g)}
    assert owned == set(out), f"stale generated files: {sorted(owned - set(out))}"


def test_every_generated_file_says_so_on_its_first_line(desc):
    for rel, text in r_emitter.emit(desc, ROOT).items():
        first = text.splitlines()[0]
        assert first == header_line("%" if rel.endswith(".Rd") else "#"), rel
        assert any(fnmatch.fnmatch(rel, g) for g in r_emitter.OWNED_GLOBS), rel


def test_one_exported_function_and_one_help_page_per_operation(desc):
    out = r_emitter.emit(desc, ROOT)
    code = out["rclient/R/generated-api.R"]
    for op in desc["operations"]:
        fn = f"shoal_{op['name']}"
        assert f"\n{fn} <- function(" in code, fn
        rd = out[f"rclient/man/generated-{fn}.Rd"]
        assert f"\\name{{{fn}}}" in rd
        for p in op["params"]:
            assert f"\\item{{{p['name']}}}" in rd, (fn, p["name"])


def test_output_depends_only_on_the_description(desc):
    a = r_emitter.emit(copy.deepcopy(desc), ROOT)
    b = r_emitter.emit(json.loads(json.dumps(desc)), ROOT / "elsewhere")
    assert a == b
    changed = copy.deepcopy(desc)
    changed["operations"][0]["summary"] = "A different summary."
    assert r_emitter.emit(changed, ROOT)["rclient/R/generated-api.R"] != a["rclient/R/generated-api.R"]


def test_parameters_named_like_r_keywords_are_refused(desc):
    bad = copy.deepcopy(desc)
    bad["operations"][0]["params"] = [{"name": "function", "type": "string", "required": False,
                                       "default": None, "help": "x", "level": "basic", "in": "query"}]
    with pytest.raises(ValueError, match="reserved in R"):
        r_emitter.emit(bad, ROOT)


def test_unknown_raw_body_types_are_refused(desc):
    bad = copy.deepcopy(desc)
    bad["operations"][0].update(body="raw", body_types=["application/x-unknown"])
    with pytest.raises(ValueError, match="BODY_ARGUMENTS"):
        r_emitter.emit(bad, ROOT)
