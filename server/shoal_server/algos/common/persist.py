"""Saving and loading models: a versioned, data-only zip (JSON + ``.npy`` arrays; never pickle).

Layout of a ``.shoal`` model file (a zip archive):

- ``model.json``: ``{"format": "shoal-model", "format_version", "shoal_version", "key", "algo",
  "params", "spec", "output", "created_ms", "arrays": [names]}``
- ``arrays/<name>.npy``: one numpy array per name, written and read with ``allow_pickle=False``
  (so only plain numeric dtypes are accepted).

A loader of version ``N`` reads every version ``<= N``: :data:`UPGRADES` maps a version to the
function that turns its document into the next version's; they run in order. A file of a newer
version than this Shoal knows is refused with a clear message. Sizes are bounded (the archive's
member count and uncompressed sizes) so a hostile file cannot exhaust memory.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Callable

import numpy as np

from ... import __version__
from ...errors import InvalidParameter
from .model import MODEL_FORMAT_VERSION, Model

__all__ = ["save_model", "load_model_file", "model_to_bytes", "model_from_bytes", "UPGRADES"]

#: version -> function(doc) -> doc of version + 1
UPGRADES: dict[int, Callable[[dict], dict]] = {}

_MAX_MEMBERS = 10000
_MAX_BYTES = 4 << 30


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        v = float(x)
        return v if np.isfinite(v) else None
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def model_to_bytes(model: Model) -> bytes:
    doc = {"format": "shoal-model", "format_version": MODEL_FORMAT_VERSION, "shoal_version": __version__,
           "key": model.key, "algo": model.algo, "params": _jsonable(model.params), "spec": _jsonable(model.spec),
           "output": _jsonable(model.output), "created_ms": int(model.created_ms), "arrays": sorted(model.arrays)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_entry("model.json"), json.dumps(doc, allow_nan=False, sort_keys=True))
        for name in sorted(model.arrays):
            arr = np.asarray(model.arrays[name])
            if arr.dtype.kind not in "biuf":
                raise InvalidParameter(f"Model array `{name}` has dtype {arr.dtype}; only numbers can be saved.", {})
            ab = io.BytesIO()
            np.save(ab, arr, allow_pickle=False)
            zf.writestr(_entry(f"arrays/{name}.npy"), ab.getvalue())
    return buf.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed time stamp: the same model always saves to the same bytes."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def save_model(model: Model, path: str) -> str:
    """Write ``model`` to ``path`` (atomically: a temporary file renamed into place)."""
    data = model_to_bytes(model)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def model_from_bytes(data: bytes) -> Model:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise InvalidParameter(f"Not a Shoal model file (not a zip archive): {e}.", {}) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > _MAX_MEMBERS or sum(i.file_size for i in infos) > _MAX_BYTES:
            raise InvalidParameter("The model file is too large or has too many members.", {})
        try:
            doc = json.loads(zf.read("model.json").decode("utf-8"))
        except KeyError:
            raise InvalidParameter("Not a Shoal model file: model.json is missing.", {}) from None
        if not isinstance(doc, dict) or doc.get("format") != "shoal-model":
            raise InvalidParameter("Not a Shoal model file: wrong format marker.", {})
        version = doc.get("format_version")
        if not isinstance(version, int) or version < 0:
            raise InvalidParameter(f"The model file has an invalid format_version {version!r}.", {})
        if version > MODEL_FORMAT_VERSION:
            raise InvalidParameter(f"The model file has format version {version}, newer than this Shoal "
                                   f"({__version__}) reads (up to {MODEL_FORMAT_VERSION}); upgrade Shoal.",
                                   {"format_version": version})
        names = doc.get("arrays") or []
        arrays = {}
        for name in names:
            if not isinstance(name, str) or "/" in name or name.startswith("."):
                raise InvalidParameter(f"Bad array name {name!r} in the model file.", {})
            with zf.open(f"arrays/{name}.npy") as f:
                arrays[name] = np.load(io.BytesIO(f.read()), allow_pickle=False)
    while version < MODEL_FORMAT_VERSION:
        up = UPGRADES.get(version)
        if up is None:
            raise InvalidParameter(f"This Shoal cannot upgrade model format version {version}.", {})
        doc = up(dict(doc, arrays=arrays))
        arrays = doc.pop("arrays")
        version += 1
        doc["format_version"] = version
    return Model(key=str(doc["key"]), algo=str(doc["algo"]), params=doc["params"], spec=doc["spec"],
                 output=doc["output"], arrays=arrays, created_ms=int(doc.get("created_ms") or 0),
                 format_version=MODEL_FORMAT_VERSION)


def load_model_file(path: str) -> Model:
    with open(path, "rb") as f:
        return model_from_bytes(f.read())
