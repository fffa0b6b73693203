"""The grammar: a closed op table, validated before any work; bounds on size and depth."""
import pytest

from shoal_server.errors import InvalidParameter
from shoal_server.munging import evaluate, parse
from shoal_server.munging.evaluate import OP_IMPL
from shoal_server.munging.expr import MAX_DEPTH, MAX_NODES, OPS, Node


def test_every_declared_op_is_implemented():
    assert set(OPS) == set(OP_IMPL)


def test_unknown_op_is_refused_naming_it_and_listing_the_allowed_ones():
    with pytest.raises(InvalidParameter) as e:
        parse({"op": "__import__", "args": ["os"]})
    assert "`__import__`" in e.value.message and "allowed operations: abs," in e.value.message
    assert "group_by" in e.value.details["allowed"] and e.value.details["op"] == "__import__"


def test_unknown_op_deep_in_the_tree_is_refused_before_any_work(node):
    expr = {"op": "+", "args": [{"op": "frame", "key": "does_not_exist"}, {"op": "exec", "args": []}]}
    with pytest.raises(InvalidParameter) as e:
        evaluate(node, expr)
    assert "`exec`" in e.value.message and e.value.details["path"] == "expr.args[1]"


def test_symbolic_aliases_resolve():
    n = parse({"op": ">=", "args": [1, 2]})
    assert isinstance(n, Node) and n.op == "ge" and n.args == [1, 2]


@pytest.mark.parametrize("expr, needle", [
    ({"op": "abs", "args": [1, 2]}, "takes 1 argument(s); got 2"),
    ({"op": "abs", "args": [1], "digits": 2}, "has no parameter `digits`"),
    ({"op": "frame"}, "needs parameter `key`"),
    ({"args": [1]}, "has no `op`"),
    ({"op": 5}, "must be a string"),
    ({"op": "abs", "args": 3}, "must be a list"),
])
def test_malformed_nodes_are_refused(expr, needle):
    with pytest.raises(InvalidParameter) as e:
        parse(expr)
    assert needle in e.value.message


def test_depth_and_size_bounds():
    deep = 1
    for _ in range(MAX_DEPTH + 2):
        deep = {"op": "neg", "args": [deep]}
    with pytest.raises(InvalidParameter, match="nested deeper"):
        parse(deep)
    wide = {"op": "cbind", "args": [{"op": "frame", "key": "a"}] * (MAX_NODES + 1)}
    with pytest.raises(InvalidParameter, match="more than"):
        parse(wide)


def test_scalar_expressions_evaluate_without_frames(node):
    assert evaluate(node, {"op": "+", "args": [2, 3]}) == {"kind": "scalar", "value": 5}
    assert evaluate(node, {"op": "/", "args": [1, 0]}) == {"kind": "scalar", "value": "Inf"}
    assert evaluate(node, {"op": "&", "args": [None, False]}) == {"kind": "scalar", "value": False}
    assert evaluate(node, {"op": "|", "args": [None, False]}) == {"kind": "scalar", "value": None}
    assert evaluate(node, {"op": "==", "args": ["a", "a"]})["value"] is True


def test_invalid_dest_key_is_refused(node):
    with pytest.raises(InvalidParameter):
        evaluate(node, {"op": "+", "args": [1, 1]}, dest_key="bad key!")


def test_every_op_is_described_with_help():
    from shoal_server.munging.expr import describe
    d = describe()
    assert [e["op"] for e in d] == sorted(OPS)
    assert all(e["help"].endswith(".") or e["help"].endswith(")") for e in d)
    assert next(e for e in d if e["op"] == "group_by")["required"] == ["by"]
