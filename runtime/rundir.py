"""The run directory: everything a training run leaves behind, so it can be resumed, evaluated
and plotted later, and so it describes itself.

    runs/<model>-<timestamp>/
      model.rnn          the model source as trained
      settings.json      the source's path, command-line overrides, the resolved settings
      versions.json      Python, jax, optax, numpy, rnnlang
      metrics.jsonl      one JSON object per training batch and per validation
      checkpoints/last.safetensors   the latest checkpoint (atomically replaced)
      final.safetensors  the trained model
      diagram.svg, plots/            written at the end of training
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from rnnlang.dsl.errors import UsageError


def atomic_write(path: Path, text: str) -> None:
    """Write text to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("rnnlang", "jax", "jaxlib", "optax", "numpy", "lark", "networkx", "matplotlib", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


class RunDir:
    """A run directory on disk."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # files
    @property
    def source(self) -> Path:
        return self.path / "model.rnn"

    @property
    def settings(self) -> Path:
        return self.path / "settings.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def last_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.safetensors"

    @property
    def final(self) -> Path:
        return self.path / "final.safetensors"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    # creating and opening
    @classmethod
    def create(cls, model_name: str, source_path: str, source: str, overrides: Iterable[str],
               resolved: Mapping[str, Any], out: str | None = None) -> "RunDir":
        """Make a new run directory (refusing to reuse one that holds a run) and write the
        source, settings and versions into it."""
        if out is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = Path("runs") / f"{model_name}-{stamp}"
            path, i = base, 1
            while path.exists():
                i += 1
                path = base.with_name(f"{base.name}-{i}")
        else:
            path = Path(out)
            if (path / "settings.json").exists():
                raise UsageError(f"{path}: already holds a run; resume it with `rnn train --resume {path}` or choose another --out")
            if path.exists() and not path.is_dir():
                raise UsageError(f"{path}: exists and is not a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{path}: cannot create the run directory: {e.strerror or e}") from None
        run = cls(path)
        atomic_write(run.source, source)
        atomic_write(path / "versions.json", json.dumps(versions(), indent=2) + "\n")
        atomic_write(run.settings, json.dumps({"source_path": str(Path(source_path).resolve()), "overrides": list(overrides),
                                               "resolved": resolved}, indent=2, default=str) + "\n")
        return run

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDir":
        run = cls(path)
        if not run.path.is_dir():
            raise UsageError(f"{path}: no such run directory")
        if not run.settings.is_file() or not run.source.is_file():
            raise UsageError(f"{path}: not a run directory (no settings.json or model.rnn)")
        return run

    def read_settings(self) -> dict[str, Any]:
        try:
            return json.loads(self.settings.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{self.settings}: unreadable ({e})") from None

    # metrics
    def append_metrics(self, records: Iterable[Mapping[str, Any]]) -> None:
        with open(self.metrics, "a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, allow_nan=True) + "\n")
            f.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.exists():
            return []
        out = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a kill: everything after it is gone too
        return out

    def truncate_metrics(self, batch: int) -> None:
        """Keep only the records of batches up to `batch` (before resuming from there)."""
        keep = [r for r in self.read_metrics() if r.get("batch", 0) <= batch and not (r["phase"] == "train" and r["batch"] > batch)]
        atomic_write(self.metrics, "".join(json.dumps(r) + "\n" for r in keep))
