"""Checkpoints: safetensors files (tensors and string metadata only, nothing executed on load),
written to a temporary file and renamed, stamped with the fingerprint of the model they belong
to and a SHA-256 checksum of their metadata and tensors. A pytree is stored leaf by leaf under
its path ("params/net/W_rec"); loading rebuilds it into the structure of a template made by the
same model, so a checkpoint of a different model, a truncated, damaged or altered file, a tensor
of the wrong dtype or shape or with NaN where the model has numbers is refused with a message."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from rnnlang.dsl.model import CheckedModel

from .files import replacing

FORMAT = "rnnlang-checkpoint-2"  # with a SHA-256 checksum of metadata and tensors
OLD_FORMATS = ("rnnlang-checkpoint-1",)  # read (without a checksum) so that older runs still load


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


def unflatten(flat: Mapping[str, np.ndarray], template: Any, prefix: str, where: str | os.PathLike = "the checkpoint") -> Any:
    """Rebuild `template`'s structure from a flat dict; every leaf must be present with the
    template's shape and dtype, and finite wherever the template is."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    out = []
    for path, leaf in leaves:
        key = f"{prefix}/{_path_str(path)}"
        if key not in flat:
            raise CheckpointError(f"{where}: has no `{key}`: it was written by a different model")
        value = flat[key]
        want = np.asarray(leaf)
        if tuple(value.shape) != want.shape:
            raise CheckpointError(f"{where}: `{key}` has shape {tuple(value.shape)} but the model needs {want.shape}")
        if value.dtype != want.dtype:
            raise CheckpointError(f"{where}: `{key}` is {value.dtype} but the model needs {want.dtype}")
        if np.issubdtype(value.dtype, np.inexact) and np.isfinite(want).all() and not np.isfinite(value).all():
            raise CheckpointError(f"{where}: `{key}` holds NaN or infinite values; it cannot be used")
        out.append(value)
    return jax.tree_util.tree_unflatten(treedef, out)


def checksum(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> str:
    """SHA-256 over the metadata (every key but the checksum itself) and every tensor's name,
    dtype, shape and bytes, in name order: any flipped bit in a checkpoint changes it."""
    h = hashlib.sha256()
    for k in sorted(metadata):
        if k != "sha256":
            h.update(f"meta {k}={metadata[k]}\n".encode())
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"tensor {name} {a.dtype.str} {a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(path: str | os.PathLike, trees: Mapping[str, Any], meta: Mapping[str, Any], fp: str) -> Path:
    """Write {name: pytree} and JSON-able metadata atomically (temp file in the same directory,
    then rename), with the checksum of both."""
    path = Path(path)
    tensors: dict[str, np.ndarray] = {}
    for name, tree in trees.items():
        tensors.update(flatten(tree, name))
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    metadata = {"format": FORMAT, "fingerprint": fp, "meta": json.dumps(meta, sort_keys=True)}
    metadata["sha256"] = checksum(tensors, metadata)
    with replacing(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)
    return path


def read(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """A checkpoint's tensors and metadata, its checksum verified (a file of the first format,
    written before checksums, is read without one)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            flat = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e}); it may be truncated or corrupt") from None
    fmt = metadata.get("format")
    if fmt not in (FORMAT, *OLD_FORMATS):
        raise CheckpointError(f"{path}: not an rnnlang checkpoint (format {fmt!r})")
    allowed = {"format", "fingerprint", "meta"} | ({"sha256"} if fmt == FORMAT else set())
    unknown = sorted(set(metadata) - allowed)
    if unknown:
        raise CheckpointError(f"{path}: unexpected metadata {', '.join(map(repr, unknown))}; the file was altered")
    if fmt == FORMAT and metadata.get("sha256") != checksum(flat, metadata):
        raise CheckpointError(f"{path}: checksum mismatch: the file was damaged or altered after it was written")
    return flat, metadata


def load(path: str | os.PathLike, templates: Mapping[str, Any], fp: str,
         trees_only: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint into the structures of `templates`; refuse another model's, a damaged
    or an altered file: a wrong checksum, a tensor missing, extra, of another dtype or shape, a
    non-finite value where the model's own state is finite, metadata that is not a JSON object.
    `trees_only`: read only the trees named by `templates` (e.g. the parameters, not the optimizer
    state); tensors of the file's other trees are then not extra (the checksum still covers them)."""
    path = Path(path)
    flat, metadata = read(path)
    if metadata.get("fingerprint") != fp:
        raise CheckpointError(f"{path}: this checkpoint belongs to a different model (fingerprint "
                              f"{metadata.get('fingerprint')} != {fp}); the model's nodes, parameters or edges changed")
    trees = {name: unflatten(flat, tmpl, name, path) for name, tmpl in templates.items()}
    expected = {k for name, tmpl in templates.items() for k in flatten(tmpl, name)}
    extra = sorted(k for k in set(flat) - expected if not trees_only or k.split("/", 1)[0] in templates)
    if extra:
        raise CheckpointError(f"{path}: holds tensors the model does not have ({', '.join(extra[:3])}); it was written by a different model or altered")
    try:
        meta = json.loads(metadata.get("meta", "{}"))
    except (json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path}: its metadata is corrupt") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: its metadata is corrupt (not a JSON object)")
    return trees, meta
