"""The run directory: everything a training run leaves behind, so it can be resumed, evaluated
and plotted later, and so it describes itself.

    runs/<model>-<timestamp>/
      model.rnn          the model source as trained
      settings.json      the source's path, command-line overrides, the resolved settings
      versions.json      Python, jax, optax, numpy, rnnlang
      metrics.jsonl      one JSON object per training batch and per validation; append-only
      checkpoints/last.safetensors   the latest checkpoint (atomically replaced)
      checkpoints/batch-<N>.safetensors   the most recent `keep_checkpoints` checkpoints, by batch
      final.safetensors  the trained model
      diagram.svg, plots/            written at the end of training
      .lock              locked (fcntl) while a trainer writes the run

Everything read back from a run is validated: a damaged settings.json or model.rnn is a message,
a damaged metrics line costs only itself. See docs/runs.md."""

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
from rnnlang.dsl.parser import read_source

from .files import RunLock, atomic_write, clean_stale_temps

PHASES = ("train", "validate")
RESUME = "resume"  # a marker record: the run went on from this batch; later records before it are void


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
        self.lock = RunLock(self.path)
        self.damaged_lines: list[int] = []  # line numbers skipped by the last read_metrics
        self.made: list[Path] = []  # the directories `create` made, deepest first

    # how a notebook shows a run (runtime/notebook.py): its metrics table and figures
    def _repr_html_(self) -> str:
        from .notebook import run_html

        return run_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from .notebook import run_text

        printer.text(run_text(self))

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

    def batch_checkpoint(self, batch: int) -> Path:
        """The checkpoint kept at training batch `batch` (train.keep_checkpoints)."""
        return self.path / "checkpoints" / f"batch-{int(batch):010d}.safetensors"

    def kept_checkpoints(self) -> dict[int, Path]:
        """The checkpoints kept by batch, in batch order."""
        found = {}
        for p in (self.path / "checkpoints").glob("batch-*.safetensors"):
            digits = p.name[len("batch-"):-len(".safetensors")]
            if digits.isdigit():
                found[int(digits)] = p
        return dict(sorted(found.items()))

    def checkpoint_named(self, name: str) -> Path:
        """A checkpoint as `--checkpoint` names it: `final`, `last`, `init`, or a batch number
        (`500` or `batch-500`) among the kept ones. An unknown name is a UsageError listing
        what the run has."""
        key = name.strip().lower()
        fixed = {"final": self.final, "last": self.last_checkpoint, "init": self.init}
        kept = self.kept_checkpoints()
        if key in fixed and fixed[key].exists():
            return fixed[key]
        digits = key[len("batch-"):] if key.startswith("batch-") else key
        if digits.isdigit() and int(digits) in kept:
            return kept[int(digits)]
        have = [k for k, v in fixed.items() if v.exists()] + [str(b) for b in kept]
        hint = ("; keep more with `train { keep_checkpoints = N }`" if digits.isdigit() else "")
        raise UsageError(f"{self.path}: has no checkpoint {name!r}; it has: {', '.join(have) or 'none'}{hint}")

    @property
    def final(self) -> Path:
        return self.path / "final.safetensors"

    @property
    def init(self) -> Path:
        """The parameters training started from (kept for analysis)."""
        return self.path / "init.safetensors"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    # creating and opening
    @classmethod
    def create(cls, model_name: str, source_path: str, source: str, overrides: Iterable[str],
               resolved: Mapping[str, Any], out: str | None = None) -> "RunDir":
        """Make a new run directory (refusing to reuse one that holds a run or that another
        trainer is writing), lock it and write the source, settings and versions into it. The
        lock stays held until `close()`."""
        if out is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = Path("runs") / f"{model_name}-{stamp}"
            path, i = base, 1
            parents = [p for p in path.parents if not p.exists()]  # deepest first
            while True:  # a new name even when two trainers start in the same second
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.mkdir()
                    break
                except FileExistsError:
                    i += 1
                    path = base.with_name(f"{base.name}-{i}")
                except OSError as e:
                    raise UsageError(f"{path}: cannot create the run directory: {e.strerror or e}") from None
            made = [path, *parents]
        else:
            path = Path(out)
            if path.exists() and not path.is_dir():
                raise UsageError(f"{path}: exists and is not a directory")
            made = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UsageError(f"{path}: cannot create the run directory: {e.strerror or e}") from None
        run = cls(path)
        run.made = made
        try:
            run.lock.acquire()
            if run.settings.exists():
                run.close()
                raise UsageError(f"{path}: already holds a run; resume it with `rnn train --resume {path}` or choose another --out")
            atomic_write(run.source, source)
            atomic_write(path / "versions.json", json.dumps(versions(), indent=2) + "\n")
            atomic_write(run.settings, json.dumps({"source_path": str(Path(source_path).resolve()), "overrides": list(overrides),
                                                   "resolved": resolved}, indent=2, default=str) + "\n")
        except OSError as e:
            run.discard()
            raise UsageError(f"{path}: cannot write the run directory: {e.strerror or e}") from None
        return run

    def discard(self) -> None:
        """Undo `create` after an error that came before any checkpoint (nothing of value in
        it): remove the files it wrote, and the directory if `create` made it. Releases the lock."""
        made = self.made
        files = (self.source, self.path / "versions.json", self.settings, self.metrics, self.init)
        for p in files + ((self.lock.path,) if made else ()):
            try:
                p.unlink()
            except OSError:
                pass
        for d in (self.path, self.path / "checkpoints"):
            try:
                clean_stale_temps(d)
            except OSError:
                pass
        self.close()
        for d in [self.path / "checkpoints", *made]:
            try:
                d.rmdir()  # only if empty
            except OSError:
                pass

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDir":
        run = cls(path)
        if not run.path.is_dir():
            raise UsageError(f"{path}: no such run directory")
        if not run.settings.is_file() or not run.source.is_file():
            raise UsageError(f"{path}: not a run directory (no settings.json or model.rnn)")
        return run

    def open_for_writing(self) -> "RunDir":
        """Lock the run (refused while another trainer holds it), remove temporary files a
        killed trainer left, and end metrics.jsonl with a newline so appends start a line."""
        self.lock.acquire()
        try:
            for d in (self.path, self.path / "checkpoints"):
                if d.is_dir():
                    os.unlink(tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=d)[1])  # writable?
                clean_stale_temps(d)
            if self.metrics.exists():
                with open(self.metrics, "rb+") as f:
                    f.seek(0, os.SEEK_END)
                    if f.tell():
                        f.seek(-1, os.SEEK_END)
                        if f.read(1) != b"\n":
                            f.write(b"\n")
        except OSError as e:
            self.close()
            raise UsageError(f"{self.path}: cannot write the run directory: {e.strerror or e}") from None
        return self

    def close(self) -> None:
        """Release the lock (if held)."""
        self.lock.release()

    def read_source(self) -> str:
        """The model source saved in the run (a message if it is missing, binary or not UTF-8)."""
        return read_source(self.source)

    def read_settings(self) -> dict[str, Any]:
        """settings.json, checked: a JSON object with `source_path` (a string) and `overrides`
        (a list of strings)."""
        try:
            data = json.loads(self.settings.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as e:
            raise UsageError(f"{self.settings}: unreadable ({e}); the run's settings are damaged") from None
        if not isinstance(data, dict):
            raise UsageError(f"{self.settings}: damaged: expected a JSON object")
        if not isinstance(data.get("source_path"), str):
            raise UsageError(f"{self.settings}: damaged: `source_path` must be a string")
        overrides = data.get("overrides", [])
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise UsageError(f"{self.settings}: damaged: `overrides` must be a list of strings")
        if not isinstance(data.get("resolved", {}), dict):
            raise UsageError(f"{self.settings}: damaged: `resolved` must be an object")
        return data

    # metrics
    def append_metrics(self, records: Iterable[Mapping[str, Any]]) -> None:
        with open(self.metrics, "a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, allow_nan=True) + "\n")
            f.flush()

    def read_metrics(self) -> list[dict[str, Any]]:
        """The run's records in order, as one run: a line that is not a valid record (cut short
        by a kill, a flipped bit) is skipped and its number kept in `damaged_lines`; a resume
        marker voids the earlier records of batches after the batch it resumed from."""
        self.damaged_lines = []
        if not self.metrics.exists():
            return []
        try:
            data = self.metrics.read_bytes()
        except OSError as e:
            raise UsageError(f"{self.metrics}: cannot read: {e.strerror or e}") from None
        out: list[dict[str, Any]] = []
        for i, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                r = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError):
                r = None
            if not _valid_record(r):
                self.damaged_lines.append(i)
                continue
            if r["phase"] == RESUME:
                out = [x for x in out if x["batch"] <= r["batch"]]
            else:
                out.append(r)
        return out

    def mark_resume(self, batch: int) -> None:
        """Note in metrics.jsonl that the run goes on from `batch` (the file is only appended to)."""
        self.append_metrics([{"phase": RESUME, "batch": batch}])


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _numbers(x: Any) -> bool:
    return isinstance(x, list) and all(_number(v) for v in x)


def _valid_record(r: Any) -> bool:
    """A metrics record as the trainer writes it (types checked, so readers can rely on them)."""
    if not isinstance(r, dict) or not isinstance(r.get("batch"), int) or isinstance(r["batch"], bool) or r["batch"] < 0:
        return False
    if r.get("phase") == RESUME:
        return True
    if r.get("phase") not in PHASES or r["batch"] < 1 or not _number(r.get("loss")):
        return False
    if "stage" in r and (not isinstance(r["stage"], int) or isinstance(r["stage"], bool)):
        return False
    for key in ("terms", "metrics"):
        if key in r and not (isinstance(r[key], dict) and all(_number(v) for v in r[key].values())):
            return False
    reps = r.get("replicates")
    if reps is not None:
        if not isinstance(reps, dict) or not _numbers(reps.get("loss")):
            return False
        for key in ("terms", "metrics"):
            if key in reps and not (isinstance(reps[key], dict) and all(_numbers(v) for v in reps[key].values())):
                return False
    return True
