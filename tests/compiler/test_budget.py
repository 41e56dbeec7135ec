"""The memory estimate (compiler/budget.py): its parts against their formulas, the refusal with a
position, and `rnn check` allocating nothing of a network's size."""

from __future__ import annotations

import tracemalloc

import pytest

from rnnlang.compiler import budget
from rnnlang.compiler.lower import compile_model
from rnnlang.dsl import ModelError, load_source

MODEL = """model {{ dt = 10  steps = {T} }}
node task = perceptual_discrimination()
node net = ctrnn(hidden = {N}, out = 2)
task.input -> net.input
net.output -> task.response
loss {{ mse = squared_error(net.output, task.target, mask = task.mask) }}
train {{ batch_size = {B}  replicates = {R} }}
"""


def compiled(N=10, T=20, B=16, R=1):
    cm, graph = load_source(MODEL.format(N=N, T=T, B=B, R=R), "m.rnn")
    return compile_model(cm, graph)


def test_estimate_parts_follow_their_formulas():
    N, T, B, R = 10, 20, 16, 3
    est = budget.estimate(compiled(N, T, B, R))
    n_in, n_out = 2, 2  # perceptual discrimination: 2 stimulus channels; 2 outputs
    P = N * n_in + N * N + n_out * N + N + n_out + N  # W_in, W_rec, W_out, b_rec, b_out, init_state
    assert est.parameters == 4 * P
    assert est.training_state == 4 * R * P * (2 + budget.OPTIMIZER_SLOTS)
    channels = n_in + n_out + n_out  # input, target, mask
    assert est.trials == 4 * B * T * channels
    state, recorded = N, n_out  # the ctrnn's state; the loss reads net.output
    assert est.activations == 4 * R * B * T * (state + recorded) * budget.ACTIVATION_FACTOR
    assert est.total == est.training_state + est.trials + est.activations + est.validation


def test_refusal_points_at_the_network_that_is_too_large():
    model = compiled(N=3000)
    with pytest.raises(ModelError) as info:
        budget.check(model, max_memory=100_000_000)
    (d,) = info.value.errors
    assert (d.span.line, d.span.col) == (3, 18)  # `hidden = 3000`
    assert d.message.startswith("the model needs about ") and "more than the limit set by --max-memory (100.0 MB)" in d.message
    assert "`net` has 9,018," in d.hint


def test_refusal_points_at_the_batch_when_activations_dominate():
    model = compiled(N=8, T=1000, B=100_000)
    with pytest.raises(ModelError) as info:
        budget.check(model, max_memory=1_000_000_000)
    (d,) = info.value.errors
    assert d.span.line == 7 and "batch_size = 100000" in d.hint


def test_accepted_within_the_limit():
    est = budget.check(compiled(), max_memory=1_000_000_000)
    assert 0 < est.total < 1_000_000_000


def test_checking_a_large_network_allocates_nothing_of_its_size():
    """hidden = 20,000 once allocated a 1.6 GB hidden x hidden mask in `rnn check`."""
    from rnnlang.runtime.cli import _summary
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "big.rnn"
        path.write_text(MODEL.format(N=20_000, T=20, B=16, R=1))
        tracemalloc.start()
        try:
            with pytest.raises(ModelError) as info:  # 400 M parameters: refused under 1 GB
                _summary(str(path), [], max_memory=1_000_000_000)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert "parameters, gradients and optimizer state 6.4 GB" in info.value.errors[0].message
    assert peak < 200e6, peak


@pytest.mark.parametrize("text, value", [("8G", 8 * 10**9), ("512M", 512 * 10**6), ("2GiB", 2 << 30), ("1000", 1000),
                                         ("1.5 GB", 1_500_000_000)])
def test_parse_size(text, value):
    assert budget.parse_size(text) == value


@pytest.mark.parametrize("text", ["lots", "-1G", "0", "nan", "inf"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        budget.parse_size(text)
