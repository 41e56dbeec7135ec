"""Checkpoints: safetensors files (tensors and string metadata only, nothing executed on load),
written to a temporary file and renamed, stamped with the fingerprint of the model they belong
to. A pytree is stored leaf by leaf under its path ("params/net/W_rec"); loading rebuilds it into
the structure of a template made by the same model, so a checkpoint of a different model or a
truncated file is refused with a message."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from rnnlang.dsl.model import CheckedModel

FORMAT = "rnnlang-checkpoint-1"


class CheckpointError(Exception):
    """A checkpoint that cannot be used: missing, corrupt, or of another model."""


def fingerprint(cm: CheckedModel) -> str:
    """A hash of what determines the parameters' meaning: node kinds, the parameters the file
    gives them (resolved, so a file's contents count; defaults are left out so that a new default
    in a later rnnlang does not orphan old runs), edges and sites. Training settings and the loss
    are not part of it: they may change on resume."""
    h = hashlib.sha256()
    for name, node in cm.nodes.items():
        h.update(f"node {name} {node.kind}\n".encode())
        for key in sorted(kw.name for kw in node.decl.params):
            h.update(f"  {key}=".encode())
            _hash_value(h, node.params[key])
    for e in sorted(cm.edges, key=lambda e: e.index):
        h.update(f"edge {e.source} -> {e.target}\n".encode())
    for s in cm.sites.values():
        h.update(f"site {s.name} {s.kind} {s.node}.{s.site}\n".encode())
    return h.hexdigest()[:32]


def _hash_value(h: "hashlib._Hash", value: Any) -> None:
    if isinstance(value, np.ndarray):
        h.update(f"array{value.shape}{value.dtype}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for k in sorted(value):
            h.update(f"{k}:".encode())
            _hash_value(h, value[k])
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for v in value:
            _hash_value(h, v)
        h.update(b"]")
    else:
        h.update(repr(value).encode())
    h.update(b";")


def _path_str(path: tuple) -> str:
    parts = []
    for p in path:
        for attr in ("key", "name", "idx"):
            if hasattr(p, attr):
                parts.append(str(getattr(p, attr)))
                break
        else:
            parts.append(str(p))
    return "/".join(parts)


def flatten(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """A pytree as {"prefix/path": array}."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {f"{prefix}/{_path_str(path)}": np.asarray(leaf) for path, leaf in leaves}


def unflatten(flat: Mapping[str, np.ndarray], template: Any, prefix: str) -> Any:
    """Rebuild `template`'s structure from a flat dict; every leaf must be present with its shape."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for path, leaf in leaves:
        key = f"{prefix}/{_path_str(path)}"
        if key not in flat:
            raise CheckpointError(f"the checkpoint has no `{key}`: it was written by a different model")
        value = flat[key]
        if tuple(value.shape) != tuple(np.shape(leaf)):
            raise CheckpointError(f"`{key}` has shape {tuple(value.shape)} in the checkpoint but the model needs {tuple(np.shape(leaf))}")
        out.append(value)
    return jax.tree_util.tree_unflatten(treedef, [leaf for leaf in out])


def save(path: str | os.PathLike, trees: Mapping[str, Any], meta: Mapping[str, Any], fp: str) -> Path:
    """Write {name: pytree} and JSON-able metadata atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, np.ndarray] = {}
    for name, tree in trees.items():
        tensors.update(flatten(tree, name))
    metadata = {"format": FORMAT, "fingerprint": fp, "meta": json.dumps(meta, sort_keys=True)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(path: str | os.PathLike, templates: Mapping[str, Any], fp: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint into the structures of `templates`; refuse another model's or a damaged file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        flat = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e}); it may be truncated or corrupt") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an rnnlang checkpoint")
    if metadata.get("fingerprint") != fp:
        raise CheckpointError(f"{path}: this checkpoint belongs to a different model (fingerprint "
                              f"{metadata.get('fingerprint')} != {fp}); the model's nodes, parameters or edges changed")
    trees = {name: unflatten(flat, tmpl, name) for name, tmpl in templates.items()}
    try:
        meta = json.loads(metadata.get("meta", "{}"))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: its metadata is corrupt") from None
    return trees, meta
