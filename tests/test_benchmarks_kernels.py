"""benchmarks/kernels.py: kernels are assigned to the time loops as `rnn ops` finds them, grouped,
and reported; one real profile of a small program reads XLA's kernels back."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("rnnlang_bench_kernels", ROOT / "benchmarks" / "kernels.py")
kernels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kernels)

HLO = """HloModule m

%body (param: (s32[], f32[4,3])) -> (s32[], f32[4,3]) {
  %param = (s32[], f32[4,3]{1,0}) parameter(0)
  %i = s32[] get-tuple-element(%param), index=0
  %x = f32[4,3]{1,0} get-tuple-element(%param), index=1
  %d = f32[3,3]{1,0} dot(%x, %x), lhs_contracting_dims={0}, rhs_contracting_dims={0}, metadata={op_name="jit(f)/transpose(jvp())/dot"}
  %c = f32[4,3]{1,0} copy(%x)
  ROOT %t = (s32[], f32[4,3]{1,0}) tuple(%i, %c)
}

%fwd (param.2: (s32[], f32[4,3])) -> (s32[], f32[4,3]) {
  %param.2 = (s32[], f32[4,3]{1,0}) parameter(0)
  %j = s32[] get-tuple-element(%param.2), index=0
  %y = f32[4,3]{1,0} get-tuple-element(%param.2), index=1
  %e = f32[4,3]{1,0} exponential(%y)
  ROOT %u = (s32[], f32[4,3]{1,0}) tuple(%j, %e)
}

%cond (param.1: (s32[], f32[4,3])) -> pred[] {
  %param.1 = (s32[], f32[4,3]{1,0}) parameter(0)
  ROOT %k = pred[] constant(true)
}

ENTRY %main (a: f32[4,3]) -> f32[4,3] {
  %a = f32[4,3]{1,0} parameter(0)
  %z = s32[] constant(0)
  %t0 = (s32[], f32[4,3]{1,0}) tuple(%z, %a)
  %w1 = (s32[], f32[4,3]{1,0}) while(%t0), condition=%cond, body=%fwd, backend_config={"known_trip_count":{"n":"7"}}
  %w0 = (s32[], f32[4,3]{1,0}) while(%w1), condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"7"}}
  %n = f32[4,3]{1,0} negate(%a)
  ROOT %r = f32[4,3]{1,0} get-tuple-element(%w0), index=1
}
"""


def test_kernels_are_assigned_to_the_loops_as_rnn_ops_finds_them():
    owner, shapes = kernels.kernel_owners(HLO, 7)
    assert owner["d"] == owner["c"] == "backward" and owner["w0"] == "backward loop"
    assert owner["e"] == "forward" and owner["w1"] == "forward loop"
    assert "n" not in owner and shapes["d"] == "f32[3,3]{1,0}"
    assert kernels.kernel_owners(HLO, 8)[0] == {}  # another number of steps: not a time loop


def test_durations_are_grouped_without_the_runtime_spans():
    owner, _ = kernels.kernel_owners(HLO, 7)
    got = kernels.group({"ThunkExecutor::Execute": 50.0, "w0": 9.0, "d": 4.0, "c": 1.0, "e": 2.0, "n": 0.5,
                         "Rendezvous": 0.25, "Wait: pending_threads=1/2": 0.25, "end: d": 3.0}, owner)
    assert got == {"backward loop": 9.0, "backward": 5.0, "forward": 2.0, "outside the loops": 0.5, "waits": 0.5}


def test_report_reads_the_measurements():
    prog = lambda scale: {"groups": {"forward loop": 10 * scale, "backward loop": 20 * scale},  # noqa: E731
                          "kernels": {"dot.1": {"ms": 3.0 * scale, "where": "backward", "shape": "f32[50,150]{1,0}"}}}
    text = kernels.report({"workload": "R", "overrides": [], "rounds": 3, "k": 5,
                           "programs": {"rnnlang": prog(1.1), "handwritten": prog(1.0)}}, top=5)
    assert "| backward loop | 22.00 | 20.00 | +2.00 |" in text
    assert "| 3.300 | backward | dot.1 | f32[50,150]{1,0} |" in text


def test_a_profile_reads_the_kernels_of_a_compiled_loop():
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x: jax.lax.fori_loop(0, 50, lambda i, y: jnp.tanh(y @ y), x))
    x = jnp.eye(64) * 0.5
    jax.block_until_ready(f(x))
    got = kernels.profile_once(lambda: jax.block_until_ready(f(x)), devices=1, steps_per_call=1)
    loops = {n: ms for n, ms in got.items() if n.startswith("while")}
    assert loops and all(ms > 0 for ms in loops.values())
