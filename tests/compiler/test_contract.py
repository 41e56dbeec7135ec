"""One contract over every entry of the node registry (a new kind is tested by being declared):

- the signature table and the implementation table name the same kinds;
- each kind builds from its defaults inside a minimal model (`minimal_model`);
- its step, run under jit + vmap + scan, equals a Python loop over trials and steps;
- it is deterministic per key (initial parameters, trials);
- the arrays its ports carry have the sizes the checker's plan declares;
- for every bounded or enumerated parameter, a value just outside is refused by the checker with
  the parameter's position (file:line:col), before any compiler code runs.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from rnnlang.compiler.lower import compile_model
from rnnlang.compiler.nodes import IMPLS
from rnnlang.dsl import load_source
from rnnlang.dsl.errors import ModelError
from rnnlang.dsl.library import REGISTRY
from rnnlang.dsl.vocab import NodeKind, Param
from rnnlang.runtime.tasks import train_batch

KINDS = sorted(REGISTRY)
B, T = 2, 4
FILE = "contract.rnn"

# values for parameters without a default (everything else stays at its default)
REQUIRED = {
    "ctrnn": {"hidden": "3", "out": "2"},
    "gru": {"hidden": "3", "out": "2"},
    "lstm": {"hidden": "3", "out": "2"},
    "clamp": {"units": "[0, 2]", "values": "[0.5, -0.5]"},
    "add_input": {"units": "[1]"},
    "ablate": {"mask": "[[1, 0, 1], [0, 1, 1], [1, 1, 0]]"},
}
# where an intervention is placed, by the first tag it applies to
PLACES = {"force": "arm.force", "units": "net.hidden", "weights": "net.W_rec", "signal": "net.input"}
DECLARED_TASK = """node x = task {
  inputs = [cue, ring[3]]
  outputs = [left, right]
  c ~ uniform(0, 1)
  epoch all for 40 { cue = c  ring = 1  left = c  right = 1 - c }
}"""


def _call(kind: str, extra: dict[str, str]) -> str:
    args = {**REQUIRED.get(kind, {}), **extra}
    return f"{kind}(" + ", ".join(f"{k} = {v}" for k, v in args.items()) + ")"


def minimal_model(kind: str, extra: dict[str, str] | None = None) -> str:
    """A small model in which the node `x` (or the site `s`) is of `kind`, with `extra` parameters."""
    extra = extra or {}
    k = REGISTRY[kind]
    dt = 0.01 if k.family == "mechanics" else 10  # a plant integrates seconds
    head = f"model contract {{ dt = {dt}  steps = {T}  tau = 100 }}\n"
    loss = "loss { mse = squared_error(net.output, task.target, mask = task.mask) }\n"
    cognitive = ("node task = perceptual_discrimination()\nnode net = ctrnn(hidden = 3, out = 2)\n"
                 "task.input -> net.input\nnet.output -> task.response\n")
    if k.family == "network":
        return head + cognitive + f"node x = {_call(kind, extra)}\ntask.input -> x.input\n" + loss
    if k.family == "mechanics":
        return head + cognitive + f"node x = {_call(kind, extra)}\nnet.output -> x.force\n" + loss
    if k.family == "channel":
        return head + cognitive + f"node x = {_call(kind, extra)}\nnet.output -> x.input\n" + loss
    if k.family == "intervention":
        place = PLACES[k.applies_to[0]]
        arm = "node arm = point_mass()\nnet.output -> arm.force\n" if place.startswith("arm") else ""
        body = " { value = -0.5 * x + t }" if kind == "custom" else ""  # a custom intervention's own value
        return head + cognitive + arm + f"site s at {place}: {_call(kind, extra)}{body}\n" + loss
    # tasks: the task is `x`; a reach task drives a plant, a cognitive one scores the network
    decl = DECLARED_TASK if k.specialise is not None else f"node x = {_call(kind, extra)}"
    ports = k.ports_for({}) if k.specialise is None else ()
    if any(p.role == "init" for p in ports):
        return (head + decl + "\nnode net = ctrnn(hidden = 3, out = 2)\nnode arm = point_mass()\n"
                "x.target -> net.input\nnet.output -> arm.force\nx.start -> arm.init\narm.effector -> x.effector\n"
                "loss { mse = squared_error(arm.effector, x.target) }\n")
    n_out = int(REGISTRY[kind].value({}, "n_out")) if REGISTRY[kind].param("n_out") else 2
    return (head + decl + f"\nnode net = ctrnn(hidden = 3, out = {n_out})\n"
            "x.input -> net.input\nnet.output -> x.response\n"
            "loss { mse = squared_error(net.output, x.target, mask = x.mask) }\n")


def compiled(kind: str):
    cm, graph = load_source(minimal_model(kind), FILE)
    return cm, compile_model(cm, graph)


def assert_trees_close(a: Any, b: Any) -> None:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb) and la
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-5)


def test_every_signature_has_an_implementation_and_every_implementation_a_signature():
    assert set(IMPLS) == set(REGISTRY)


# ---- nodes: networks, mechanics, channels ------------------------------------------------------


def _node_run(impl, params, xs, eager: bool):
    """Outputs (B, T, n) of a node driven by inputs and noise xs = {"in": {port: (B, T, n)},
    "noise": {name: (B, T, ...)}}: read, then advance, every step (as the lowering calls it)."""
    prepared = impl.prepare(params)

    def step(state, x):
        outs = dict(impl.read(prepared, state, x["noise"]))
        state, ft = impl.advance(prepared, state, x["in"], x["noise"], {})
        return state, {**outs, **ft}

    def trial(x_one):
        state = impl.init_state(prepared, {})
        if not eager:
            return jax.lax.scan(step, state, x_one)[1]
        rows = []
        one_step = jax.jit(step)  # one step compiled once (not op by op), called step by step
        for t in range(T):
            state, out = one_step(state, jax.tree_util.tree_map(lambda a: a[t], x_one))
            rows.append(out)
        return jax.tree_util.tree_map(lambda *r: jnp.stack(r), *rows)

    if not eager:
        return jax.jit(jax.vmap(trial))(xs)
    per = [trial(jax.tree_util.tree_map(lambda a: a[b], xs)) for b in range(B)]
    return jax.tree_util.tree_map(lambda *r: jnp.stack(r), *per)


@pytest.mark.parametrize("kind", [k for k in KINDS if REGISTRY[k].family in ("network", "mechanics", "channel")])
def test_a_node_kind_keeps_the_contract(kind: str):
    cm, model = compiled(kind)
    plan, impl = cm.plan, model.impls["x"]
    params = model.init(jr.PRNGKey(0))["x"]
    assert_trees_close(params, model.init(jr.PRNGKey(0))["x"]) if params else None
    keys = iter(jr.split(jr.PRNGKey(1), 16))
    xs = {"in": {p.name: jr.normal(next(keys), (B, T, plan.in_sizes["x"][p.name]))
                 for p in plan.kinds["x"].inputs if p.role == "signal"},
          "noise": {n: jr.normal(next(keys), (B, T, *shape)) for n, shape in impl.noise_shapes().items()}}
    fast, slow = _node_run(impl, params, xs, eager=False), _node_run(impl, params, xs, eager=True)
    assert_trees_close(fast, slow)
    declared = {p.name for p in plan.kinds["x"].outputs}
    assert set(fast) == declared
    for port in declared:
        assert fast[port].shape == (B, T, plan.out_sizes["x"][port]), port
        rule = plan.kinds["x"].port(port).size
        if isinstance(rule, (int, str)):  # a size the signature states outright
            assert plan.out_sizes["x"][port] == (rule if isinstance(rule, int) else int(plan.params["x"][rule]))
    if params:  # another key, other initial values
        other = model.init(jr.PRNGKey(5))["x"]
        assert any(not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(other)))


# ---- interventions -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [k for k in KINDS if REGISTRY[k].family == "intervention"])
def test_an_intervention_kind_keeps_the_contract(kind: str):
    cm, model = compiled(kind)
    binding = model.sites[0]
    site = cm.sites["s"]
    size = cm.plan.site_size(site)
    node = model.impls[site.node]
    node_params = node.prepare(model.init(jr.PRNGKey(0))[site.node])
    node_state = node.init_state(node_params, {})
    per_trial = train_batch(model, jr.PRNGKey(1), B)["sites"]["s"]
    shape = (size, size) if binding.direction == "internal" and "weights" in REGISTRY[kind].applies_to else (size,)
    x = jr.normal(jr.PRNGKey(2), (B, T, *shape))
    noise = {n: jr.normal(jr.PRNGKey(3 + i), (B, T, *s)) for i, (n, s) in enumerate(binding.impl.noise_shapes().items())}

    def trial(x_one, p_one, noise_one, eager: bool):
        def step(carry, xs):
            x_t, noise_t, t = xs
            return carry, binding.impl.apply(x_t, p_one, noise_t, t, node, node_state)
        ts = jnp.arange(T)
        if not eager:
            return jax.lax.scan(step, 0, (x_one, noise_one, ts))[1]
        return jnp.stack([step(0, (x_one[t], {n: v[t] for n, v in noise_one.items()}, ts[t]))[1] for t in range(T)])

    fast = jax.jit(jax.vmap(lambda a, p, n: trial(a, p, n, False)))(x, per_trial, noise)
    slow = jnp.stack([trial(x[b], {k: v[b] for k, v in per_trial.items()}, {n: v[b] for n, v in noise.items()}, True)
                      for b in range(B)])
    assert_trees_close(fast, slow)
    assert fast.shape == x.shape
    assert_trees_close(train_batch(model, jr.PRNGKey(1), B)["sites"], per_trial)  # one key, one draw


# ---- tasks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [k for k in KINDS if REGISTRY[k].family == "task"])
def test_a_task_kind_keeps_the_contract(kind: str):
    cm, model = compiled(kind)
    task, plan = model.task, cm.plan
    eager = task.trials(jr.PRNGKey(0), B)
    fast = jax.jit(lambda k: task.trials(k, B))(jr.PRNGKey(0))
    assert_trees_close({k: eager[k] for k in ("signals", "init")}, {k: fast[k] for k in ("signals", "init")})
    assert_trees_close(eager["signals"], task.trials(jr.PRNGKey(0), B)["signals"])  # deterministic per key
    other = task.trials(jr.PRNGKey(9), B)
    assert any(not np.array_equal(eager["vars"][v], other["vars"][v]) for v in eager["vars"])
    kind_x = plan.kinds["x"]
    for tr in (eager, task.validation(jr.PRNGKey(2))):
        for port in kind_x.outputs:
            group = tr["signals"] if port.role == "signal" else tr["init"]
            assert port.name in group, port.name
            assert group[port.name].shape[-1] == plan.out_sizes["x"][port.name], port.name
            if port.role == "signal":
                assert group[port.name].shape[1] == T
    # the model around it runs: the task's outputs feed the graph with the declared sizes
    out = model.rollout(model.init(jr.PRNGKey(3)), train_batch(model, jr.PRNGKey(4), B), jr.PRNGKey(5),
                        record=["net.output"])
    assert out["net.output"].shape == (B, T, plan.out_sizes["net"]["output"])


# ---- values just outside the signature ------------------------------------------------------------


def _literal(p: Param, value: Any) -> str:
    if p.type == "int":
        return str(int(value))
    if p.type in ("str",):
        return f'"{value}"'
    if p.type == "call":
        return f"{value}()"
    return repr(float(value))


def outside_values(kind: NodeKind) -> list[tuple[str, str]]:
    """(parameter, literal) pairs, each just outside one bound or choice list of the signature."""
    out = []
    for p in kind.params:
        step = 1 if p.type == "int" else 1e-3
        if p.low is not None:
            out.append((p.name, _literal(p, p.low if p.low_open else p.low - step)))
        if p.high is not None:
            out.append((p.name, _literal(p, p.high if p.high_open else p.high + step)))
        if p.choices:
            out.append((p.name, _literal(p, "not_" + p.choices[0])))
    return out


CASES = [(k, name, lit) for k in KINDS for name, lit in outside_values(REGISTRY[k])]


def test_the_registry_has_bounded_and_enumerated_parameters_to_refuse():
    # tasks state their bounds as `require` lines of their declarations, refused at the user's
    # value by the checker (tests/dsl/test_task_declarations.py and the bad-program catalogue)
    families = {v.family for v in REGISTRY.values()} - {"task"}
    assert len(CASES) >= 30 and {REGISTRY[k].family for k, _, _ in CASES} == families


@pytest.mark.parametrize("kind, param, literal", CASES, ids=[f"{k}.{p}={v}" for k, p, v in CASES])
def test_a_value_just_outside_is_refused_at_the_parameter(kind: str, param: str, literal: str):
    source = minimal_model(kind, {param: literal})
    with pytest.raises(ModelError) as info:
        load_source(source, FILE)
    lines = source.splitlines()
    row = next(i for i, line in enumerate(lines) if f"{param} = {literal}" in line)
    name_col = lines[row].index(f"{param} = {literal}") + 1
    value_col = name_col + len(f"{param} = ")
    errors = info.value.errors
    assert len(errors) == 1, info.value.render()
    d = errors[0]
    assert (d.span.line, d.span.col) in ((row + 1, name_col), (row + 1, value_col)), info.value.render()
    text = info.value.render()
    assert f"{FILE}:{d.span.line}:{d.span.col}: error:" in text and "^" in text and "Traceback" not in text
