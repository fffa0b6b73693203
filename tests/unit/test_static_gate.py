"""R13: no code in the server or the Python client deserializes or evaluates what it receives."""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / "server" / "shoal_server", ROOT / "pyclient" / "shoal"]
FORBIDDEN_MODULES = {"pickle", "cPickle", "cloudpickle", "dill", "marshal", "shelve", "jsonpickle"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_ATTRS = {"recv_pyobj", "send_pyobj", "loads_pyobj"}


def _sources():
    for pkg in PACKAGES:
        yield from sorted(pkg.rglob("*.py"))


def _findings(path: pathlib.Path, root: pathlib.Path = ROOT):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    yield f"{rel}:{node.lineno} imports {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
                yield f"{rel}:{node.lineno} imports from {node.module}"
        elif isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id in FORBIDDEN_CALLS:
                yield f"{rel}:{node.lineno} calls {fn.id}()"
            if isinstance(fn, ast.Attribute) and fn.attr in FORBIDDEN_ATTRS:
                yield f"{rel}:{node.lineno} calls .{fn.attr}()"
            for kw in node.keywords:
                if kw.arg in ("shell", "allow_pickle") and isinstance(kw.value, ast.Constant) and kw.value.value:
                    yield f"{rel}:{node.lineno} passes {kw.arg}=True"


def test_sources_exist():
    assert len(list(_sources())) > 20


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_deserialization_or_evaluation(path):
    assert list(_findings(path)) == []


def test_the_gate_itself_catches_each_pattern(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nfrom marshal import loads\neval('1')\nsock.recv_pyobj()\n"
                   "np.load(f, allow_pickle=True)\nsubprocess.run('x', shell=True)\n")
    assert len(list(_findings(bad, tmp_path))) == 6
