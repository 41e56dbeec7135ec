"""Operations per time step of a compiled training step (`rnn ops FILE`).

A training step is one compiled XLA program. Its cost on a CPU at the batch sizes of this
project is mostly the number of kernels launched per time step, not their arithmetic: a GRU-50
step multiplies matrices of a few thousand elements, tens of microseconds each. This module
compiles one training step exactly as `rnn train` does (`Trainer.chunk_fn`), reads the optimised
HLO text XLA produced, finds the two loops over time (the forward rollout, and the backward loop
that autodiff made of it), and counts the instructions that run at every iteration of each:
by opcode (fusions by their kind), the matrix products among them (a `dot`, or a fusion whose
computation contains one) and their floating-point operations.

What is counted: every instruction of the loop body except those that move no data
(`parameter`, `get-tuple-element`, `tuple`, `constant`, `bitcast`); a loop nested in the body
counts its own body times its trip count. The numbers are per iteration (one time step) and per
device (the batch is split over the CPU cores; each runs the same program on its share).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

FREE = frozenset({"parameter", "get-tuple-element", "tuple", "constant", "bitcast"})
_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+)\s*=\s*(.*)$")
_HEAD = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s*\(")
_SHAPE = re.compile(r"^[a-z]\w*\[([\d,]*)\]")


@dataclass
class Instruction:
    name: str
    shape: str  # the result shape as printed, e.g. "f32[64,50]{1,0}" or a tuple "(...)"
    opcode: str
    operands: list[str]
    attrs: str  # everything after the operand list


@dataclass
class LoopOps:
    """What one iteration of a loop over time runs (see the module docstring)."""

    direction: str  # "forward" or "backward"
    trip_count: int
    ops: int  # instructions that run per iteration
    dots: int  # matrix products per iteration (top-level dots and fusions around one)
    fusions: int  # fused kernels per iteration, those around a product included
    dot_flops: int  # floating-point operations of the products per iteration
    by_kind: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_hlo(text: str) -> dict[str, list[Instruction]]:
    """The computations of an HLO module's text: name -> its instructions in order."""
    comps: dict[str, list[Instruction]] = {}
    current: list[Instruction] | None = None
    for line in text.splitlines():
        if current is None:
            m = _HEAD.match(line)
            if m and line.rstrip().endswith("{"):
                current = comps.setdefault(m.group(1), [])
            continue
        if line.startswith("}"):
            current = None
            continue
        m = _INSTR.match(line)
        if m:
            current.append(_instruction(m.group(1), m.group(2)))
    return comps


def _instruction(name: str, rest: str) -> Instruction:
    """`SHAPE OPCODE(OPERANDS), ATTRS` -> its parts (a tuple shape is parenthesised and may hold
    spaces and `/*index=5*/` comments)."""
    if rest.startswith("("):
        end = _matching(rest, 0)
        shape, rest = rest[:end + 1], rest[end + 1:].lstrip()
    else:
        shape, _, rest = rest.partition(" ")
    paren = rest.find("(")
    opcode = rest[:paren].strip() if paren >= 0 else rest.strip()
    if paren < 0:
        return Instruction(name, shape, opcode, [], "")
    end = _matching(rest, paren)
    operands = re.findall(r"%([\w.\-]+)", rest[paren:end + 1])
    return Instruction(name, shape, opcode, operands, rest[end + 1:])


def _matching(s: str, i: int) -> int:
    """Index of the parenthesis closing the one at s[i]."""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return len(s) - 1


def _dims(shape: str) -> list[int] | None:
    m = _SHAPE.match(shape)
    if not m:
        return None
    return [int(d) for d in m.group(1).split(",") if d]


def _called(ins: Instruction, key: str) -> str | None:
    m = re.search(key + r"=%([\w.\-]+)", ins.attrs)
    return m.group(1) if m else None


def _trip_count(ins: Instruction) -> int | None:
    m = re.search(r'"known_trip_count":\{"n":"(\d+)"', ins.attrs)
    return int(m.group(1)) if m else None


def _dot_flops(ins: Instruction, shapes: Mapping[str, str]) -> int:
    """2 x (elements of the result) x (length of the contracted dimensions)."""
    out = _dims(ins.shape)
    lhs = _dims(shapes.get(ins.operands[0], "")) if ins.operands else None
    m = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", ins.attrs)
    if out is None or lhs is None or m is None:
        return 0
    k = math.prod(lhs[int(d)] for d in m.group(1).split(",") if d)
    return 2 * math.prod(out) * k


class _Counter:
    def __init__(self, comps: Mapping[str, list[Instruction]]) -> None:
        self.comps = comps
        self.shapes = {c: {i.name: i.shape for i in body} for c, body in comps.items()}

    def products(self, comp: str) -> tuple[int, int]:
        """(products, their flops) inside a fused computation (and what it calls)."""
        n = flops = 0
        for ins in self.comps.get(comp, []):
            if ins.opcode == "dot":
                n += 1
                flops += _dot_flops(ins, self.shapes[comp])
            for key in ("calls", "to_apply"):
                sub = _called(ins, key)
                if sub and sub != comp:
                    a, b = self.products(sub)
                    n, flops = n + a, flops + b
        return n, flops

    def count(self, comp: str, direction: str, trip: int) -> LoopOps:
        out = LoopOps(direction, trip, 0, 0, 0, 0, {})
        self._add(comp, out, 1)
        out.by_kind = dict(sorted(out.by_kind.items(), key=lambda kv: (-kv[1], kv[0])))
        return out

    def _add(self, comp: str, out: LoopOps, times: int) -> None:
        for ins in self.comps.get(comp, []):
            if ins.opcode in FREE:
                continue
            kind = ins.opcode
            if ins.opcode == "fusion":
                n, flops = self.products(_called(ins, "calls") or "")
                m = re.search(r"kind=(k\w+)", ins.attrs)
                kind = f"fusion:{m.group(1)[1:].lower() if m else '?'}" + (":dot" if n else "")
                out.fusions += times
                out.dots += times * n
                out.dot_flops += times * flops
            elif ins.opcode == "dot":
                out.dots += times
                out.dot_flops += times * _dot_flops(ins, self.shapes[comp])
            elif ins.opcode == "while":
                body = _called(ins, "body")
                if body:
                    self._add(body, out, times * (_trip_count(ins) or 1))
            out.ops += times
            out.by_kind[kind] = out.by_kind.get(kind, 0) + times


def time_loops(hlo_text: str, steps: int) -> list[LoopOps]:
    """The loops over time of an optimised HLO module (those whose trip count is `steps`,
    random-number loops excepted), each counted per iteration; a loop is "backward" when its
    instructions come from autodiff's transpose of the rollout."""
    comps = parse_hlo(hlo_text)
    counter = _Counter(comps)
    loops = []
    for body_list in comps.values():
        for ins in body_list:
            if ins.opcode != "while" or _trip_count(ins) != steps:
                continue
            body = _called(ins, "body")
            text = " ".join(i.attrs for i in comps.get(body or "", []))
            if not body or "threefry" in text:
                continue
            loops.append(counter.count(body, "backward" if "transpose(" in text else "forward", steps))
    return loops


def training_step_ops(trainer: Any, state: Any = None) -> dict[str, Any]:
    """Operations per time step of one compiled training step of `trainer` (a runtime.train.Trainer,
    best built with `train.steps_per_dispatch=1`) at `state` (default: the shapes of its initial state): {"steps", "devices", "batch_per_device",
    "forward": LoopOps json, "backward": ..., "loops": [every time loop]}. Compiles the program
    (from the persistent cache when it is there)."""
    import jax
    import jax.random as jr

    if state is not None:
        params, opt_state, stage = state.params, state.opt_state, state.stage
    else:  # shapes only: the initialisation itself is not run (nor compiled)
        params, opt_state = jax.eval_shape(trainer._init_fn, jr.split(trainer.k_init, trainer.replicates))
        stage = 0
        if trainer.mesh is not None:  # placed as Trainer.place puts the real state: replicated
            rep = jax.sharding.NamedSharding(trainer.mesh, jax.sharding.PartitionSpec())
            params, opt_state = jax.tree_util.tree_map(
                lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=rep), (params, opt_state))
    fn = trainer.chunk_fn(stage)
    lowered = fn.lower(params, opt_state, 0, trainer.k, trainer.k_train)
    text = lowered.compile().as_text()
    loops = time_loops(text, trainer.model.steps)
    devices = trainer.mesh.devices.size if trainer.mesh is not None else 1
    out: dict[str, Any] = {"steps": trainer.model.steps, "devices": devices,
                           "batch_per_device": trainer.batch_size // devices, "backend": jax.default_backend(),
                           "loops": [lp.to_json() for lp in loops]}
    for direction in ("forward", "backward"):
        mine = [lp for lp in loops if lp.direction == direction]
        if mine:
            out[direction] = mine[0].to_json()
    return out


def format_ops(name: str, ops: Mapping[str, Any]) -> str:
    """A few lines of text for `rnn ops`."""
    lines = [f"{name}: {ops['steps']} time steps, {ops['batch_per_device']} trials per device on "
             f"{ops['devices']} {ops['backend']} device{'s' if ops['devices'] != 1 else ''}; per time step:"]
    for direction in ("forward", "backward"):
        lp = ops.get(direction)
        if lp is None:
            lines.append(f"  {direction:8s}  (no loop over time found)")
            continue
        kinds = ", ".join(f"{k} {v}" for k, v in lp["by_kind"].items())
        lines.append(f"  {direction:8s}  {lp['ops']:3d} ops, {lp['dots']} products ({lp['dot_flops'] / 1e6:.2f} MFLOP), "
                     f"{lp['fusions']} fusions  [{kinds}]")
    return "\n".join(lines)


def ops_of_file(path: str, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """`training_step_ops` of a model file as `rnn train` would compile it (one step per dispatch)."""
    from .api import compile_model, load
    from .train import Trainer

    cm, graph = load(path, list(overrides) + ["train.steps_per_dispatch=1"])
    return training_step_ops(Trainer(compile_model(cm, graph)))


def run_ops(files: list[str], overrides: list[str], fmt: str) -> int:
    """`rnn ops`: print the operations per time step of each file's training step; a file with
    errors (or nothing to train) is reported as `rnn check` reports it, and the others still run.
    Exit status 1 when any file had errors."""
    import json
    import sys

    from rnnlang.dsl.errors import ModelError

    results, status = [], 0
    for path in files:
        try:
            ops = ops_of_file(path, overrides)
        except ModelError as e:
            if len(files) == 1:
                raise
            status = 1
            results.append({"file": path, "errors": [d.to_json() for d in e.diagnostics]})
            if fmt == "text":
                print(e.render(), file=sys.stderr)
            continue
        results.append({"file": path, **ops})
        if fmt == "text":
            print(format_ops(path, ops))
    if fmt == "json":
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return status
