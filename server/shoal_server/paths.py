"""The one path resolver: every path-like parameter from a client goes through this module.

Rules (RELIABILITY.md, file read / file write):

- only plain local paths: no URL scheme (``file://``, ``nfs://``, ``C:``...), no backslash, no NUL,
  no percent-encoded bytes (we never decode, so ``%2e%2e%2f`` is refused rather than guessed at),
  no ``..`` component, at most :data:`MAX_PATH_CHARS` characters;
- relative paths are taken relative to a data root (the first root where the path exists);
- the *real* path (symlinks followed) must lie inside a configured root; a symlink inside a root
  that points out is refused; every match of a glob and every file of a directory is checked the
  same way;
- only regular files are read (a FIFO or device inside a root would hang or flood the parser);
- listings are only of directories inside a root.

A path outside every root is refused before its existence is tested, so the refusal says nothing
about what exists outside the roots.
"""
from __future__ import annotations

import glob
import os
import re
import stat
from pathlib import Path
from typing import Iterable

from .config import NodeConfig
from .errors import InvalidParameter, NotFound, PathNotAllowed

__all__ = ["resolve_import_paths", "resolve_import_path", "resolve_export_path", "list_directory",
           "check_plain_path", "is_inside", "MAX_PATH_CHARS", "MAX_MATCHES"]

MAX_PATH_CHARS = 4096
MAX_MATCHES = 100_000
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_GLOB_CHARS = re.compile(r"[*?\[]")


def _refuse(raw: str, why: str, roots: Iterable[Path]) -> PathNotAllowed:
    shown = raw if len(raw) <= 200 else raw[:200] + "..."
    return PathNotAllowed(
        f"Path `{shown!s}` is not allowed: {why}. Give a plain path inside a data root "
        f"(roots: {', '.join(str(r) for r in roots)}).",
        {"path": shown, "reason": why})


def is_inside(path: str | Path, root: str | Path) -> bool:
    """True when ``path`` equals ``root`` or lies below it (both already real paths)."""
    path, root = str(path), str(root)
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def check_plain_path(raw: object, roots: list[Path]) -> str:
    """Refuse anything but a plain local path string; return it unchanged."""
    if not isinstance(raw, str):
        raise InvalidParameter(f"A path must be a string; got {type(raw).__name__}.",
                               {"problems": [{"parameter": "path", "message": "must be a string"}]})
    if raw == "":
        raise _refuse(raw, "it is empty", roots)
    if len(raw) > MAX_PATH_CHARS:
        raise _refuse(raw, f"it is longer than {MAX_PATH_CHARS} characters", roots)
    if "\x00" in raw:
        raise _refuse(raw.replace("\x00", "\\0"), "it contains a NUL character", roots)
    if any(ord(c) < 32 for c in raw):
        raise _refuse(raw.encode("unicode_escape").decode("ascii"), "it contains a control character", roots)
    if "\\" in raw:
        raise _refuse(raw, "it contains a backslash", roots)
    if _SCHEME.match(raw) or "://" in raw:
        raise _refuse(raw, "URL schemes are not accepted (only local paths)", roots)
    if _PERCENT.search(raw):
        raise _refuse(raw, "it contains percent-encoded characters (send the decoded path)", roots)
    if ".." in Path(raw).parts or ".." in raw.split("/"):
        raise _refuse(raw, "it contains a `..` component", roots)
    if raw.startswith("~"):
        raise _refuse(raw, "`~` is not expanded", roots)
    return raw


def _candidates(raw: str, roots: list[Path]) -> list[str]:
    """Absolute spellings of ``raw`` (one per root for a relative path), not yet real."""
    if os.path.isabs(raw):
        return [os.path.normpath(raw)]
    return [os.path.normpath(os.path.join(str(r), raw)) for r in roots]


def _root_of(real: str, roots: list[Path]) -> Path | None:
    for r in roots:
        if is_inside(real, r):
            return r
    return None


def _check_file(spelled: str, raw: str, roots: list[Path]) -> Path:
    real = os.path.realpath(spelled)
    if _root_of(real, roots) is None:
        raise _refuse(raw, "it resolves outside every data root", roots)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise NotFound(f"File `{raw}` does not exist in the data roots "
                       f"({', '.join(str(r) for r in roots)}); list_files shows what is there.",
                       {"path": raw}) from None
    except OSError as exc:
        raise _refuse(raw, f"it cannot be read ({exc.strerror})", roots) from None
    if stat.S_ISDIR(st.st_mode):
        return Path(real)
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(raw, "it is not a regular file", roots)
    return Path(real)


def _expand_dir(directory: Path, raw: str, roots: list[Path]) -> list[Path]:
    out = []
    for entry in sorted(os.listdir(directory)):
        if entry.startswith("."):
            continue
        p = _check_file(os.path.join(str(directory), entry), os.path.join(raw, entry), roots)
        if p.is_dir():
            continue  # a directory import reads the files directly inside it
        out.append(p)
    if not out:
        raise NotFound(f"Directory `{raw}` holds no files to import.", {"path": raw})
    return out


def resolve_import_path(config: NodeConfig, raw: object) -> list[Path]:
    """Resolve one client path (a file, a directory or a glob) into real file paths inside roots.

    Raises
    ------
    PathNotAllowed
        The path is not plain, or resolves (symlinks followed) outside every root.
    NotFound
        The path is inside a root but nothing is there.
    """
    roots = config.resolved_roots()
    raw = check_plain_path(raw, roots)
    cands = _candidates(raw, roots)
    # the spelled path (before symlinks) must already be inside a root
    cands = [c for c in cands if _root_of(c, roots) is not None]
    if not cands:
        raise _refuse(raw, "it is outside every data root", roots)
    if _GLOB_CHARS.search(raw):
        matches: list[Path] = []
        for c in cands:
            found = sorted(glob.glob(c))
            if len(found) > MAX_MATCHES:
                raise InvalidParameter(f"Pattern `{raw}` matches more than {MAX_MATCHES} files; narrow it.",
                                       {"problems": [{"parameter": "path", "message": "too many matches"}]})
            for m in found:
                p = _check_file(m, m, roots)
                if p.is_dir():
                    continue
                matches.append(p)
            if matches:
                break
        if not matches:
            raise NotFound(f"Pattern `{raw}` matches no file in the data roots.", {"path": raw})
        return matches
    last_missing: NotFound | None = None
    for c in cands:
        try:
            p = _check_file(c, raw, roots)
        except NotFound as exc:
            last_missing = exc
            continue
        return _expand_dir(p, raw, roots) if p.is_dir() else [p]
    assert last_missing is not None
    raise last_missing


def resolve_import_paths(config: NodeConfig, raws: Iterable[object]) -> list[Path]:
    """Resolve several client paths; the files in order, duplicates dropped."""
    out: list[Path] = []
    seen = set()
    for raw in raws:
        for p in resolve_import_path(config, raw):
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def resolve_export_path(config: NodeConfig, raw: object) -> Path:
    """Where an export may write: a new or existing regular file inside the export root.

    The caller writes a temporary file in the same directory and renames it over the target.
    """
    if not config.export_root:
        raise PathNotAllowed("Exports are disabled on this node; start it with --export-root DIR.",
                             {"reason": "no export root"})
    root = Path(os.path.realpath(config.export_root))
    raw = check_plain_path(raw, [root])
    spelled = os.path.normpath(raw if os.path.isabs(raw) else os.path.join(str(root), raw))
    if _GLOB_CHARS.search(raw):
        raise _refuse(raw, "patterns are not accepted for an export", [root])
    parent = os.path.realpath(os.path.dirname(spelled))
    if not is_inside(parent, root):
        raise _refuse(raw, "it is outside the export root", [root])
    target = os.path.join(parent, os.path.basename(spelled))
    if os.path.islink(target):
        raise _refuse(raw, "it is a symbolic link", [root])
    if os.path.exists(target) and not os.path.isfile(target):
        raise _refuse(raw, "it exists and is not a regular file", [root])
    if not os.path.isdir(parent):
        raise NotFound(f"Directory `{os.path.dirname(raw) or '.'}` does not exist in the export root.",
                       {"path": raw})
    return Path(target)


def list_directory(config: NodeConfig, raw: object | None) -> tuple[str, list[dict]]:
    """Entries of a directory inside a root (the roots themselves when ``raw`` is empty)."""
    roots = config.resolved_roots()
    if raw is None or raw == "":
        return "", [{"name": str(r), "path": str(r), "is_dir": True, "size": None} for r in roots]
    raw = check_plain_path(raw, roots)
    if _GLOB_CHARS.search(raw):
        raise _refuse(raw, "patterns are not accepted for a listing", roots)
    cands = [c for c in _candidates(raw, roots) if _root_of(c, roots) is not None]
    if not cands:
        raise _refuse(raw, "it is outside every data root", roots)
    real = None
    for c in cands:
        r = os.path.realpath(c)
        if _root_of(r, roots) is None:
            raise _refuse(raw, "it resolves outside every data root", roots)
        if os.path.isdir(r):
            real = r
            break
    if real is None:
        raise NotFound(f"Directory `{raw}` does not exist in the data roots.", {"path": raw})
    entries = []
    names = sorted(os.listdir(real))[:10_000]
    for name in names:
        if name.startswith("."):
            continue
        full = os.path.join(real, name)
        target = os.path.realpath(full)
        if _root_of(target, roots) is None:
            continue  # a symlink pointing out is not shown
        try:
            st = os.stat(target)
        except OSError:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if not is_dir and not stat.S_ISREG(st.st_mode):
            continue
        entries.append({"name": name, "path": full, "is_dir": is_dir, "size": None if is_dir else st.st_size})
    return real, entries
