"""`rnn ops`: the operations per time step of a compiled training step, counted from XLA's
optimised HLO (rnnlang.runtime.opcount). The products and their flops are checked against the
formulas of the ctrnn's step; the HLO reader on a hand-written module."""

from __future__ import annotations

import json

import pytest

from rnnlang.runtime.api import compile_model, load
from rnnlang.runtime.cli import main
from rnnlang.runtime.opcount import parse_hlo, time_loops, training_step_ops
from rnnlang.runtime.train import Trainer

N, STEPS, BATCH = 8, 20, 16

TINY = f"""
model tiny {{ dt = 10  duration = {STEPS * 10}  tau = 100  seed = 3 }}
node task = perceptual_discrimination()
node net = ctrnn(hidden = {N}, out = 2)
task.input -> net.input
net.output -> task.response
loss {{ mse = squared_error(net.output, task.target, mask = task.mask) }}
train {{ batches = 4  batch_size = {BATCH}  steps_per_dispatch = 1 }}
"""

HLO = """HloModule m

%fused_dot (p0: f32[4,3], p1: f32[3,5]) -> f32[4,5] {
  %p0 = f32[4,3]{1,0} parameter(0)
  %p1 = f32[3,5]{1,0} parameter(1)
  ROOT %dot.1 = f32[4,5]{1,0} dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

%body (param: (s32[], f32[4,3], /*index=2*/f32[3,5])) -> (s32[], f32[4,3], /*index=2*/f32[3,5]) {
  %param = (s32[], f32[4,3]{1,0}, /*index=2*/f32[3,5]{1,0}) parameter(0)
  %i = s32[] get-tuple-element(%param), index=0
  %x = f32[4,3]{1,0} get-tuple-element(%param), index=1
  %w = f32[3,5]{1,0} get-tuple-element(%param), index=2
  %f = f32[4,5]{1,0} fusion(%x, %w), kind=kCustom, calls=%fused_dot, metadata={op_name="jit(f)/transpose(jvp())/dot"}
  %d = f32[3,3]{1,0} dot(%x, %x), lhs_contracting_dims={0}, rhs_contracting_dims={0}
  %c = f32[4,3]{1,0} copy(%x)
  ROOT %t = (s32[], f32[4,3]{1,0}, /*index=2*/f32[3,5]{1,0}) tuple(%i, %c, %w)
}

%cond (param.1: (s32[], f32[4,3], /*index=2*/f32[3,5])) -> pred[] {
  %param.1 = (s32[], f32[4,3]{1,0}, /*index=2*/f32[3,5]{1,0}) parameter(0)
  ROOT %k = pred[] constant(true)
}

ENTRY %main (a: f32[4,3], b: f32[3,5]) -> f32[4,3] {
  %a = f32[4,3]{1,0} parameter(0)
  %b = f32[3,5]{1,0} parameter(1)
  %z = s32[] constant(0)
  %t0 = (s32[], f32[4,3]{1,0}, /*index=2*/f32[3,5]{1,0}) tuple(%z, %a, %b)
  %w0 = (s32[], f32[4,3]{1,0}, /*index=2*/f32[3,5]{1,0}) while(%t0), condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"7"}}
  ROOT %r = f32[4,3]{1,0} get-tuple-element(%w0), index=1
}
"""


def test_reads_a_handwritten_module():
    comps = parse_hlo(HLO)
    assert set(comps) == {"fused_dot", "body", "cond", "main"}
    w0 = next(i for i in comps["main"] if i.name == "w0")
    assert w0.opcode == "while" and w0.operands == ["t0"] and w0.shape.startswith("(s32[]")
    assert time_loops(HLO, 8) == []  # no loop of 8 iterations
    (loop,) = time_loops(HLO, 7)
    assert loop.direction == "backward"  # its instructions come from a transpose
    # fusion around a dot + a dot + a copy; parameters, get-tuple-element and tuple are free
    assert loop.ops == 3 and loop.dots == 2 and loop.fusions == 1
    assert loop.by_kind == {"copy": 1, "dot": 1, "fusion:custom:dot": 1}
    assert loop.dot_flops == 2 * 4 * 5 * 3 + 2 * 3 * 3 * 4


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("ops") / "tiny.rnn"
    p.write_text(TINY)
    return p


@pytest.fixture(scope="module")
def tiny_ops(tiny_path):
    cm, graph = load(tiny_path)
    return training_step_ops(Trainer(compile_model(cm, graph)))


def test_counts_the_ctrnn_products_per_time_step(tiny_ops):
    ops = tiny_ops
    assert ops["steps"] == STEPS and ops["devices"] == 2 and ops["batch_per_device"] == BATCH // 2
    b, n_in, n_out = BATCH // 2, 2, 2  # perceptual discrimination: 2 input and 2 output channels
    fwd, bwd = ops["forward"], ops["backward"]
    # forward: f(s) W_rec^T, u W_in^T, f(s') W_out^T
    assert fwd["dots"] == 3
    assert fwd["dot_flops"] == 2 * b * (N * N + n_in * N + N * n_out)
    # backward: the cotangents through W_rec and W_out, and the three weight gradients (the input
    # is data: no cotangent for it)
    assert bwd["dots"] == 5
    assert bwd["dot_flops"] == 2 * b * (2 * N * N + N * n_in + 2 * N * n_out)
    for lp in (fwd, bwd):
        assert lp["ops"] == sum(lp["by_kind"].values()) >= lp["dots"]
        assert lp["trip_count"] == STEPS


def test_counts_are_stable_and_reported_by_the_command(tiny_path, tiny_ops, capsys):
    cm, graph = load(tiny_path)
    trainer = Trainer(compile_model(cm, graph))
    at_state = training_step_ops(trainer, trainer.init_state())  # the benchmark worker's way: a real state
    assert at_state["forward"] == tiny_ops["forward"] and at_state["backward"] == tiny_ops["backward"]
    assert main(["ops", str(tiny_path), "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["forward"] == tiny_ops["forward"] and again["backward"] == tiny_ops["backward"]
    assert main(["ops", str(tiny_path)]) == 0
    text = capsys.readouterr().out
    assert f"{STEPS} time steps, {BATCH // 2} trials per device" in text
    assert f"forward   {tiny_ops['forward']['ops']:3d} ops, 3 products" in text


def test_a_model_without_a_task_is_refused_with_its_position(write_model, capsys):
    p = write_model("model m { dt = 10  duration = 100 }\nnode net = ctrnn(hidden = 4, out = 1)\n")
    assert main(["ops", str(p)]) == 1
    err = capsys.readouterr().err
    assert "error: there is no task to train on" in err and f"{p}:1:1" in err
