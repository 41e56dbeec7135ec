"""The layout of a compiled training step, as a hand-written data-parallel loop has it: each
device differentiates its own share of the batch (no size-1 batch axis on the products), the
weight gradients accumulate in the time loop as (in, out) (the products read the weights
transposed once before the loop), and the loss reads the rollout's (T, B, n) values in place
(no copy into (B, T, n)). Each of these was measured to cost 2-10% of a step when lost
(benchmarks/RESULTS.md)."""

from __future__ import annotations

import re

import jax
import pytest

from rnnlang.runtime.api import compile_model, load
from rnnlang.runtime.opcount import _called, _trip_count, parse_hlo
from rnnlang.runtime.train import Trainer

H, STEPS, BATCH, N_IN = 24, 40, 32, 2

TINY_GRU = f"""
model tiny {{ dt = 10  duration = {STEPS * 10}  seed = 3 }}
node task = perceptual_discrimination()
node net = gru(hidden = {H}, out = 2)
task.input -> net.input
net.output -> task.response
loss {{
  mse = squared_error(net.output, task.target, mask = task.mask)
  activity = 1e-3 * penalty(net.hidden)
}}
train {{ batches = 2  batch_size = {BATCH}  steps_per_dispatch = 1 }}
"""


@pytest.fixture(scope="module")
def step_hlo(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("layout") / "tiny_gru.rnn"
    path.write_text(TINY_GRU)
    cm, graph = load(path)
    tr = Trainer(compile_model(cm, graph))
    st = tr.init_state()
    return tr.chunk_fn(0).lower(st.params, st.opt_state, 0, tr.k, tr.k_train).compile().as_text()


def _dot_shapes(text: str) -> set[str]:
    return set(re.findall(r"= (f32\[[0-9,]*\])\S* dot\(", text))


def _backward_loop(text: str) -> str:
    """The shapes and opcodes of the backward time loop's instructions, nested ones included."""
    comps = parse_hlo(text)

    def lines(comp: str) -> list[str]:
        out = []
        for ins in comps.get(comp, []):
            out.append(f"{ins.name} = {ins.shape} {ins.opcode}(")
            for key in ("calls", "to_apply", "body"):
                sub = _called(ins, key)
                if sub and sub != comp:
                    out += lines(sub)
        return out

    for body in comps.values():
        for ins in body:
            if ins.opcode == "while" and _trip_count(ins) == STEPS:
                loop = lines(_called(ins, "body") or "")
                if any("transpose(" in i.attrs for i in comps[_called(ins, "body")]):
                    return "\n".join(loop)
    raise AssertionError("no backward time loop in the program")


def test_the_batch_is_split_over_the_devices(step_hlo):
    assert len(jax.devices()) == 2  # as tests/conftest.py sets up the CPU
    local = BATCH // 2
    assert f"f32[{STEPS},{local},{H}]" in step_hlo  # the hidden states of this device's trials, time-major
    # no size-1 batch axis in front of each device's share: the weight gradients are plain matrices
    loop = _backward_loop(step_hlo)
    assert f"f32[{H},{3 * H}]" in loop
    assert not re.search(rf"f32\[1,({H},{3 * H}|{3 * H},{H})\]", loop)


def test_weight_gradients_accumulate_as_in_by_out(step_hlo):
    dots = _dot_shapes(_backward_loop(step_hlo))
    assert f"f32[{H},{3 * H}]" in dots  # d weight_hh^T = h^T g, per time step
    assert f"f32[{3 * H},{H}]" not in dots
    assert f"f32[{3 * H},{N_IN}]" not in dots


def test_the_loss_reads_the_rollout_time_major(step_hlo):
    local = BATCH // 2
    assert not re.search(rf"f32\[(1,)?{local},{STEPS},{H}\]", step_hlo)  # no (B, T, n) copy of the hidden states
