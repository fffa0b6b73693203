"""The one path resolver: confinement to data roots (RELIABILITY.md traversal corpus)."""
import os

import pytest

from shoal_server.config import NodeConfig
from shoal_server.errors import NotFound, PathNotAllowed
from shoal_server.paths import list_directory, resolve_export_path, resolve_import_path, resolve_import_paths


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_text("x\n1\n")
    (root / "b.csv").write_text("x\n2\n")
    (root / "sub" / "c.csv").write_text("x\n3\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary.csv"
    canary.write_text("secret\n")
    (root / "link_out.csv").symlink_to(canary)
    (root / "dir_out").symlink_to(outside)
    (root / "link_in.csv").symlink_to(root / "a.csv")
    os.mkfifo(root / "fifo.csv")
    return NodeConfig(data_roots=[str(root)]), root, outside, canary


def traversal_corpus(root, outside):
    return [
        "../../etc/passwd", "/etc/passwd", "../outside/canary.csv", str(outside / "canary.csv"),
        "%2e%2e%2fetc%2fpasswd", "%252e%252e%252fetc", "..%2fetc%2fpasswd", "..\\..\\etc\\passwd",
        "sub\\..\\..\\x", "a.csv\x00.txt", "a" * 5000, "x/" * 3000, "link_out.csv", "dir_out/canary.csv",
        "file:///etc/passwd", "nfs://host/share/x.csv", "hdfs://x/y", "s3://bucket/key", "http://127.0.0.1/x",
        "C:/Windows/win.ini", "~/x.csv", "sub/../../outside/canary.csv", f"{root}/../outside/canary.csv",
        "../*", "/etc/*", "dir_out/*", "*/../../*", "/", "fifo.csv", "", "sub/\x01x",
    ]


def test_traversal_corpus_is_refused(tree):
    cfg, root, outside, canary = tree
    for raw in traversal_corpus(root, outside):
        with pytest.raises((PathNotAllowed, NotFound)) as info:
            resolve_import_path(cfg, raw)
        if raw not in ("",):
            # nothing outside the root is ever reported as "not found" (no existence oracle)
            assert isinstance(info.value, PathNotAllowed), raw
    assert canary.read_text() == "secret\n"


def test_plain_paths_inside_the_root_resolve(tree):
    cfg, root, _o, _c = tree
    assert resolve_import_path(cfg, "a.csv") == [root / "a.csv"]
    assert resolve_import_path(cfg, str(root / "sub" / "c.csv")) == [root / "sub" / "c.csv"]
    assert resolve_import_path(cfg, "link_in.csv") == [root / "a.csv"]
    assert resolve_import_path(cfg, "./sub/c.csv") == [root / "sub" / "c.csv"]


def test_glob_and_directory_expand_to_files_inside_the_root(tree):
    cfg, root, _o, _c = tree
    assert resolve_import_path(cfg, "sub") == [root / "sub" / "c.csv"]
    got = resolve_import_paths(cfg, ["[ab].csv", "a.csv"])
    assert got == [root / "a.csv", root / "b.csv"]


def test_a_glob_that_reaches_a_symlink_out_is_refused(tree):
    cfg, _r, _o, _c = tree
    with pytest.raises(PathNotAllowed):
        resolve_import_path(cfg, "*.csv")  # link_out.csv matches


def test_missing_file_inside_root_is_not_found(tree):
    cfg, _r, _o, _c = tree
    with pytest.raises(NotFound):
        resolve_import_path(cfg, "nope.csv")


def test_listing_only_inside_roots_and_hides_links_out(tree):
    cfg, root, _o, _c = tree
    real, entries = list_directory(cfg, str(root))
    names = {e["name"] for e in entries}
    assert {"a.csv", "b.csv", "sub", "link_in.csv"} <= names
    assert "link_out.csv" not in names and "dir_out" not in names and "fifo.csv" not in names
    for bad in ("/", "..", "/etc", "dir_out", "%2e%2e"):
        with pytest.raises(PathNotAllowed):
            list_directory(cfg, bad)
    _p, roots = list_directory(cfg, "")
    assert [e["path"] for e in roots] == [str(root)]


def test_export_paths_stay_in_the_export_root(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    (tmp_path / "victim").write_text("keep")
    (exp / "link").symlink_to(tmp_path / "victim")
    cfg = NodeConfig(export_root=str(exp))
    assert resolve_export_path(cfg, "out.csv") == exp / "out.csv"
    for bad in ("../victim", str(tmp_path / "victim"), "link", "file:///tmp/x", "a\x00b", "*.csv"):
        with pytest.raises(PathNotAllowed):
            resolve_export_path(cfg, bad)
    with pytest.raises(PathNotAllowed):
        resolve_export_path(NodeConfig(), "out.csv")
    assert (tmp_path / "victim").read_text() == "keep"
