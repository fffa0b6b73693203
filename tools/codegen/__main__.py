"""Regenerate every client wrapper from the committed API description.

Usage::

    python -m tools.codegen            # rewrite the generated files
    python -m tools.codegen --check    # exit 1 and print a diff if regenerating would change anything
    python -m tools.codegen --description other.json --root /path/to/checkout

Plugin interface
----------------
Each language is a module ``tools/codegen/<language>.py`` listed in ``EMITTERS`` below. A module
that is missing is skipped (so the R emitter can land later). A module provides:

``emit(description: dict, root: pathlib.Path) -> dict[str, str]``
    Pure function: from the parsed ``description.json`` return ``{relative path: file text}``, paths
    relative to ``root`` with ``/`` separators. It must not write files nor read anything but the
    description (output depends only on the description, so ``--check`` is meaningful). Every
    generated file starts with :func:`tools.codegen.header_line` (in the language's comment syntax).

``OWNED_GLOBS: tuple[str, ...]`` (optional)
    Globs (relative to ``root``) of the files this emitter owns. A file matching them that ``emit``
    did not return is stale: ``--check`` reports it and a normal run deletes it.

The core (``tools/codegen/__init__.py``) offers the shared helpers: ``load_description``,
``camel_case``, ``py_identifier``, ``wrap``, ``header_line``.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from pathlib import Path

from . import ROOT, load_description

#: language → module name inside tools.codegen, in the order they run.
EMITTERS = {"python": "python", "r": "r"}


def _emitters() -> list[tuple[str, object]]:
    found = []
    for lang, mod in EMITTERS.items():
        if not (Path(__file__).with_name(f"{mod}.py")).exists():
            continue
        found.append((lang, importlib.import_module(f"{__package__}.{mod}")))
    return found


def generate(root: Path, description_path: Path | None = None) -> tuple[dict[Path, str], set[Path]]:
    """All generated files (absolute path → text) and the stale files to delete."""
    desc = load_description(description_path, root=root)
    files: dict[Path, str] = {}
    stale: set[Path] = set()
    for lang, module in _emitters():
        out = module.emit(desc, root)
        produced = {(root / rel).resolve(): text for rel, text in out.items()}
        files.update(produced)
        for pattern in getattr(module, "OWNED_GLOBS", ()):
            for p in root.glob(pattern):
                if p.resolve() not in produced and p.is_file():
                    stale.add(p.resolve())
    return files, stale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.codegen", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="Do not write; exit 1 and print a diff if the generated files are out of date.")
    ap.add_argument("--root", type=Path, default=ROOT, help="Repository root (default: this checkout).")
    ap.add_argument("--description", type=Path, default=None,
                    help="API description to read (default: server/shoal_server/api/description.json).")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    files, stale = generate(root, args.description)

    changed = []
    for path, text in sorted(files.items()):
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != text:
            changed.append((path, old, text))
    if args.check:
        for path, old, text in changed:
            rel = path.relative_to(root).as_posix()
            sys.stdout.writelines(difflib.unified_diff(
                (old or "").splitlines(keepends=True), text.splitlines(keepends=True),
                fromfile=f"a/{rel}", tofile=f"b/{rel}"))
        for path in sorted(stale):
            print(f"stale generated file: {path.relative_to(root).as_posix()}")
        if changed or stale:
            print(f"\n{len(changed)} generated file(s) out of date, {len(stale)} stale; "
                  "run `python -m tools.codegen`.", file=sys.stderr)
            return 1
        return 0
    for path, _old, text in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(root).as_posix()}")
    for path in sorted(stale):
        path.unlink()
        print(f"removed stale {path.relative_to(root).as_posix()}")
    if not changed and not stale:
        print("generated files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
