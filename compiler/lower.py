"""Lowering: a checked graph and its plan -> pure JAX functions.

`compile_model(cm, graph)` returns a `CompiledModel` with
  init(key) -> params                      parameters as a nested dict by node name;
  initial_state(params, trial_one) -> state the state at t = 0 of one trial;
  step(params, state, inputs_t, key)       one pure time step of one trial;
  rollout(params, trial, key, record)      a lax.scan over the trial, vmapped over the batch,
                                           returning only the signals asked for.
Per step: state-read outputs are read, feedthrough nodes run in dependency order, then every
other stateful node advances (see compiler/nodes/api.py). A trial's noise is drawn once, before
the time loop, from the trial's key, so two runs with one seed are identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import jax
import jax.numpy as jnp
import jax.random as jr
import networkx as nx
import numpy as np

from rnnlang.dsl import sitelang, traps
from rnnlang.dsl.errors import Diagnostic, ModelError, did_you_mean
from rnnlang.dsl.model import CheckedModel, ResolvedNode
from rnnlang.dsl.plan import Plan, plan_checked

from .nodes import IMPLS
from .nodes.api import ConfigError, InterventionImpl, NodeConfig, NodeImpl, TaskImpl, with_transposed

Params = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class SiteBinding:
    """An intervention instance bound to its place in the model."""

    name: str
    node: str
    site: str
    is_port: bool
    direction: str  # "in", "out" or "internal"
    impl: InterventionImpl


@dataclass(frozen=True)
class NoiseSlot:
    owner: str  # a node name, or "site:<name>"
    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class CompiledModel:
    """A model lowered to JAX. Build with `compile_model`."""

    def __init__(self, cm: CheckedModel, graph: nx.MultiDiGraph, plan: Plan) -> None:
        self.cm, self.graph, self.plan = cm, graph, plan
        self.dt, self.steps, self.name = cm.dt, cm.steps, cm.name
        self.node_names = [n for n in cm.nodes if plan.kinds[n].family != "task"]
        self.impls: dict[str, NodeImpl] = {n: self._built(f"node.{n}", lambda: IMPLS[cm.nodes[n].kind](self._config(n)))
                                           for n in self.node_names}
        self.task_name = plan.task
        self.task: TaskImpl | None = (self._built(f"node.{plan.task}", lambda: IMPLS[cm.nodes[plan.task].kind](self._config(plan.task)))
                                      if plan.task else None)
        self.sites = self._bind_sites()
        self.noise_slots, self.noise_size = self._noise_layout()
        # task ports the step reads, and the model signals the task's metric ports receive
        self.task_signal_ports = sorted({s.port for srcs in plan.sources.values() for s in srcs
                                         if s.node == self.task_name and self._is_signal_port(s.node, s.port)}
                                        | {r.split(".")[1] for b in self.sites for r in b.impl.signal_reads()
                                           if r.split(".")[0] == self.task_name})
        self.metric_sources = {port: srcs for (node, port), srcs in plan.sources.items() if node == self.task_name}

    # ---- construction helpers -------------------------------------------------------------
    def _built(self, where: str, make: Callable[[], Any]) -> Any:
        """Run a constructor; a ConfigError becomes a diagnostic at the parameter it names
        (`where` is "node.NAME" or "site.NAME")."""
        try:
            return make()
        except ConfigError as e:
            spans = self.cm.setting_spans
            span = spans.get(f"{where}.{e.param}") or spans.get(where)
            raise ModelError([Diagnostic(str(e), span)], self.cm.source) from None

    def stage_task(self, node: ResolvedNode, where: str) -> TaskImpl:
        """The task a curriculum stage switches to (`stage s { task = NAME(args) }`), built as the
        task node is, with the task node's port sizes (the checker holds them equal). `where` is
        the stage's setting key for error positions ("train.stage.NAME.task")."""
        assert self.task_name is not None
        config = NodeConfig(self.task_name, node.params, self.plan.in_sizes[self.task_name],
                            self.plan.out_sizes[self.task_name], self.cm.dt, self.cm.steps, self.cm.tau)
        return self._built(where, lambda: IMPLS[node.kind](config))

    def _config(self, name: str) -> NodeConfig:
        return NodeConfig(name, self.plan.params[name], self.plan.in_sizes[name], self.plan.out_sizes[name],
                          self.cm.dt, self.cm.steps, self.cm.tau)

    def _is_signal_port(self, node: str, port: str) -> bool:
        return self.plan.kinds[node].port(port).role == "signal"

    def _bind_sites(self) -> list[SiteBinding]:
        out = []
        for site in self.cm.sites.values():
            port = self.plan.kinds[site.node].port(site.site) if site.is_port else None
            direction = port.direction if port is not None else "internal"
            size = self.plan.site_size(site)
            params = site.params
            if site.decl.value is not None:  # a custom intervention: its value, checked against the plan
                params = {**params, "value": sitelang.analyse_value(self.cm, self.plan, site, self.cm.task_variables)[0]}
            impl = self._built(f"site.{site.name}", lambda: IMPLS[site.kind](params, size, self.steps, self.dt))
            out.append(SiteBinding(site.name, site.node, site.site, port is not None, direction, impl))
        return out

    def _noise_layout(self) -> tuple[list[NoiseSlot], int]:
        slots, offset = [], 0
        owners: list[tuple[str, Mapping[str, tuple[int, ...]]]] = [(n, self.impls[n].noise_shapes()) for n in self.node_names]
        owners += [(f"site:{b.name}", b.impl.noise_shapes()) for b in self.sites]
        for owner, shapes in owners:
            for name, shape in sorted(shapes.items()):
                slot = NoiseSlot(owner, name, tuple(shape), offset)
                slots.append(slot)
                offset += slot.size
        return slots, offset

    # ---- parameters -------------------------------------------------------------------------
    def init(self, key: jax.Array) -> Params:
        """Initial parameters, one key per node (in declaration order), so adding a node does
        not change the others' initial values."""
        keys = jr.split(key, max(len(self.node_names), 1))
        return {n: dict(self.impls[n].init_params(k)) for n, k in zip(self.node_names, keys)}

    def trainable(self, params: Params) -> dict[str, dict[str, bool]]:
        """Which parameters train: the train block's `trainable` (default all) minus `frozen`,
        minus each kind's fixed parameters."""
        train = self.cm.train
        wanted = _ref_set(train.get("trainable"))
        frozen = _ref_set(train.get("frozen")) or set()
        out = {}
        for n, ps in params.items():
            fixed = self.impls[n].fixed_params()
            out[n] = {}
            for p in ps:
                on = (wanted is None or n in wanted or f"{n}.{p}" in wanted)
                off = n in frozen or f"{n}.{p}" in frozen or p in fixed
                out[n][p] = bool(on and not off)
        return out

    def gradient_masks(self, params: Params) -> dict[str, dict[str, Any]]:
        """Per-element gradient masks (1 trains, 0 frozen): the kinds' own and the file's."""
        masks: dict[str, dict[str, Any]] = {}
        for n in self.node_names:
            for p, m in self.impls[n].frozen_masks().items():
                masks.setdefault(n, {})[p] = jnp.asarray(m, jnp.float32)
        for (n, p), m in self.cm.masks.items():
            m = jnp.asarray(m, jnp.float32)
            masks.setdefault(n, {})[p] = masks.get(n, {}).get(p, 1.0) * m
        return masks

    def prepare(self, params: Params) -> Params:
        """Per-node loop-invariant precomputation (see NodeImpl.prepare), and the weight
        matrices transposed for the products in the time loop (nodes.api.with_transposed)."""
        return {n: with_transposed(self.impls[n].prepare(params[n])) for n in self.node_names}

    def effective_weights(self, params: Params, node: str) -> dict[str, Any]:
        return self.impls[node].effective_weights(params[node])

    def tensor(self, params: Params, node: str, name: str) -> Any:
        """A parameter tensor as a loss reads it: the effective weight matrix of that name
        (masks and Dale's law applied), else the raw parameter."""
        ws = self.effective_weights(params, node)
        return ws[name] if name in ws else params[node][name]

    # ---- one trial ----------------------------------------------------------------------------
    def initial_state(self, params: Params, trial_one: Mapping[str, Any]) -> dict[str, Any]:
        """The state at t = 0 of one trial (no batch axis). Init ports take the task's per-trial
        values; a delay line is filled with its first input when that is known at t = 0."""
        init_vals = trial_one.get("init", {})
        state: dict[str, Any] = {}
        pending = []
        for n in self.node_names:
            init = {}
            for port in self.plan.kinds[n].inputs:
                if port.role != "init":
                    continue
                for s in self.plan.sources.get((n, port.name), []):
                    init[port.name] = jnp.asarray(init_vals[s.port])[s.lo:s.hi]
            if self._wants_first_input(n):
                pending.append((n, init))
            else:
                state[n] = self.impls[n].init_state(params[n], init)
        values = self._initial_values(params, state, trial_one)
        for _ in range(len(pending)):
            still = []
            for n, init in pending:
                srcs = self.plan.sources.get((n, "input"), [])
                if all((s.node, s.port) in values for s in srcs):
                    init = dict(init, input=self._combine(n, "input", [values[(s.node, s.port)][s.lo:s.hi] for s in srcs]))
                    state[n] = self.impls[n].init_state(params[n], init)
                    values.update(self._read_outputs(n, params, state, quiet=True))
                else:
                    still.append((n, init))
            pending = still
        for n, init in pending:  # its first input is only known inside the step: zeros
            state[n] = self.impls[n].init_state(params[n], init)
        return state

    def _wants_first_input(self, n: str) -> bool:
        return self.plan.kinds[n].has_role("starts_with_input", self.plan.params[n])

    def _initial_values(self, params, state, trial_one) -> dict[tuple[str, str], Any]:
        values = {}
        for port in self.task_signal_ports:
            values[(self.task_name, port)] = jnp.asarray(trial_one["signals"][port])[0]
        for n in state:
            values.update(self._read_outputs(n, params, state, quiet=True))
        return values

    def _read_outputs(self, n, params, state, quiet=False, noise=None) -> dict[tuple[str, str], Any]:
        kind = self.plan.kinds[n]
        if not any(self.plan.timing[n][p.name] == "state" for p in kind.outputs):
            return {}
        nz = self._zero_noise(n) if quiet or noise is None else noise
        outs = self.impls[n].read(params[n], state[n], nz)
        return {(n, p): v for p, v in outs.items()}

    def _zero_noise(self, owner: str) -> dict[str, Any]:
        return {s.name: jnp.zeros(s.shape, jnp.float32) for s in self.noise_slots if s.owner == owner}

    def _split_noise(self, flat: Any) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for s in self.noise_slots:
            out.setdefault(s.owner, {})[s.name] = flat[..., s.offset:s.offset + s.size].reshape(flat.shape[:-1] + s.shape)
        return out

    def _combine(self, n: str, port: str, parts: list[Any]) -> Any:
        p = self.plan.kinds[n].port(port)
        if not parts:
            return jnp.zeros((self.plan.in_sizes[n].get(port, 0),), jnp.float32)
        if p.combine == "concat":
            return parts[0] if len(parts) == 1 else jnp.concatenate(parts)
        total = parts[0]
        for x in parts[1:]:
            total = total + x
        return total

    def _apply_sites(self, bindings: Iterable[SiteBinding], x, site_p, noise, t, node, state, values):
        """x with the sites at one place applied in order; `values` holds the outputs known at this
        point of the step, from which a custom intervention's reads are sliced."""
        for b in bindings:
            signals = {r: self._read_value(values, r) for r in b.impl.signal_reads()}
            x = b.impl.apply(x, site_p[b.name], noise.get(f"site:{b.name}", {}), t, self.impls[node], state, signals)
        return x

    def _read_value(self, values: Mapping[tuple[str, str], Any], name: str) -> Any:
        """`node.port` or `node.port.field` from the step's known outputs."""
        node, port, *rest = name.split(".")
        lo, hi = self.plan.field_slice(node, port, rest[0] if rest else None)
        return values[(node, port)][lo:hi]

    def _sites_at(self, node: str, site: str, direction: str) -> list[SiteBinding]:
        return [b for b in self.sites if b.node == node and b.site == site and b.direction == direction]

    def _step(self, params, state, signals_t, noise_t, t, site_p, record=()):
        """One step of one trial with pre-drawn noise. Returns the new state and the recorded
        signals."""
        values: dict[tuple[str, str], Any] = {(self.task_name, p): signals_t[p] for p in self.task_signal_ports}
        reads: dict[tuple[str, str], Any] = {}
        for n in self.node_names:  # every state output first: what any site may read from the start of the step
            reads.update(self._read_outputs(n, params, state, noise=noise_t.get(n, {})))
        values.update(reads)
        for (n, port), v in reads.items():
            values[(n, port)] = self._apply_sites(self._sites_at(n, port, "out"), v, site_p, noise_t, t, n, state[n], values)
        new_state = dict(state)
        for n in self.plan.feedthrough_order + self.plan.stateful_rest:
            kind = self.plan.kinds[n]
            inputs = {}
            for port in kind.inputs:
                if port.role != "signal":
                    continue
                srcs = self.plan.sources.get((n, port.name), [])
                x = self._combine(n, port.name, [values[(s.node, s.port)][s.lo:s.hi] for s in srcs])
                inputs[port.name] = self._apply_sites(self._sites_at(n, port.name, "in"), x, site_p, noise_t, t, n, state[n],
                                                      values)
            internal = {b.site: b for b in self.sites if b.node == n and b.direction == "internal"}
            site_fns = {site: self._site_fn(n, site, site_p, noise_t, t, state[n], values) for site in internal}
            new_state[n], outs = self.impls[n].advance(params[n], state[n], inputs, noise_t.get(n, {}), site_fns)
            for port, v in outs.items():
                values[(n, port)] = self._apply_sites(self._sites_at(n, port, "out"), v, site_p, noise_t, t, n, state[n], values)
        recorded = {}
        for node, port in record:
            if node == self.task_name:
                continue
            if self.plan.timing[node].get(port) == "state" and self.plan.kinds[node].family != "channel":
                # a plant's state after this step's update (its trajectory); a delay line's output
                # is instead recorded as the value the other nodes used at this step (below)
                recorded[f"{node}.{port}"] = self._read_outputs(node, params, new_state, quiet=True)[(node, port)]
            else:
                recorded[f"{node}.{port}"] = values[(node, port)]
        return new_state, recorded

    def _site_fn(self, n, site, site_p, noise_t, t, node_state, values):
        bindings = self._sites_at(n, site, "internal")
        return lambda x: self._apply_sites(bindings, x, site_p, noise_t, t, n, node_state, values)

    def draw_noise(self, key: jax.Array) -> Any:
        """All of one trial's noise, (steps, total) standard normals, drawn before the loop."""
        if self.noise_size == 0:
            return jnp.zeros((self.steps, 0), jnp.float32)
        return jr.normal(key, (self.steps, self.noise_size), jnp.float32)

    def step(self, params: Params, state: Any, inputs_t: Mapping[str, Any], key: jax.Array,
             record: Iterable[str] = ()) -> tuple[Any, dict[str, Any]]:
        """One pure time step of one trial. inputs_t: {"signals": {task port: (n,)}, "sites":
        {site: {param: value}}, "t": step index}. Returns (new state, recorded signals)."""
        flat = jr.normal(key, (self.noise_size,), jnp.float32) if self.noise_size else jnp.zeros((0,))
        return self._step(self.prepare(params), state, inputs_t.get("signals", {}), self._split_noise(flat),
                          inputs_t.get("t", 0), inputs_t.get("sites", {}), self._record_keys(record))

    # ---- whole trials ----------------------------------------------------------------------------
    def default_record(self) -> list[str]:
        """Signals the loss and the task's metrics read."""
        out = []
        for term in self.cm.loss:
            for v in term.args.values():
                if hasattr(v, "node") and v.node != self.task_name and v.port in self.plan.out_sizes.get(v.node, {}):
                    out.append(f"{v.node}.{v.port}")
            out += [f"{r[1]}.{r[2]}" for r in term.reads.values() if r[0] == "signal" and r[1] != self.task_name]
        for srcs in self.metric_sources.values():
            out += [f"{s.node}.{s.port}" for s in srcs if s.node != self.task_name]
        return sorted(set(out))

    def all_signals(self) -> list[str]:
        """Every output port of every non-task node: what plots may ask for."""
        return [f"{n}.{p.name}" for n in self.node_names for p in self.plan.kinds[n].outputs]

    def _record_keys(self, record: Iterable[str]) -> tuple[tuple[str, str], ...]:
        keys = []
        for r in record:
            node, port = r.split(".")[:2]
            keys.append((node, port))
        return tuple(dict.fromkeys(keys))

    def rollout_one(self, params: Params, trial_one: Mapping[str, Any], key: jax.Array,
                    record: Iterable[str] | None = None, states: bool = False) -> dict[str, Any]:
        """Run one trial: returns {signal: (steps, n)} for the recorded signals; with `states`,
        also "states": every node's state after each step ({node: tree of (steps, ...)})."""
        rec = self._record_keys(self.default_record() if record is None else record)
        noise = self.draw_noise(key)
        state = self.initial_state(params, trial_one)
        params = self.prepare(params)
        signals = {p: trial_one["signals"][p] for p in self.task_signal_ports}
        site_p = trial_one.get("sites", {})

        def step(state, inp):
            (sig_t, noise_t), t = inp
            new, recorded = self._step(params, state, sig_t, self._split_noise(noise_t), t, site_p, rec)
            return new, ({**recorded, "states": new} if states else recorded)

        return jax.lax.scan(step, state, ((signals, noise), jnp.arange(self.steps)))[1]

    def rollout(self, params: Params, trial: Mapping[str, Any], key: jax.Array,
                record: Iterable[str] | None = None, states: bool = False) -> dict[str, Any]:
        """Run a batch of trials (leading axis B): {signal: (B, steps, n)}. One key per trial is
        split from `key`. `states`: see rollout_one."""
        batch = _batch_size(trial)
        keys = jr.split(key, batch)
        needed = {"signals": {p: trial["signals"][p] for p in self.task_signal_ports},
                  "init": trial.get("init", {}), "sites": trial.get("sites", {})}
        record = self.default_record() if record is None else list(record)
        return jax.vmap(lambda tr, k: self.rollout_one(params, tr, k, record, states))(needed, keys)

    # ---- summaries ------------------------------------------------------------------------------
    def param_counts(self) -> dict[str, int]:
        """Number of parameters per node (computed from shapes only, nothing is run)."""
        shapes = jax.eval_shape(self.init, jax.ShapeDtypeStruct((2,), jnp.uint32))
        return {n: int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(ps))) for n, ps in shapes.items()}

    def state_sizes(self) -> dict[str, int]:
        """Number of state values per node for one trial."""
        def init_state(key):
            params = self.init(key)
            trial = self.task.trials(key, 1) if self.task else {"signals": {}, "init": {}}
            one = jax.tree_util.tree_map(lambda x: x[0], trial)
            return self.initial_state(params, one)
        shapes = jax.eval_shape(init_state, jax.ShapeDtypeStruct((2,), jnp.uint32))
        return {n: int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(s))) for n, s in shapes.items()}


def _batch_size(trial: Mapping[str, Any]) -> int:
    leaves = jax.tree_util.tree_leaves(trial.get("signals", {})) or jax.tree_util.tree_leaves(trial.get("init", {}))
    if not leaves:
        raise ValueError("a trial batch needs at least one signal or init value")
    return int(leaves[0].shape[0])


def _ref_set(value: Any) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    return {str(v) for v in value}


def check_param_refs(model: CompiledModel) -> None:
    """Parameter names in the train block (trainable, frozen, mask.NODE.PARAM) and in weight
    terms exist only once the kinds have built their parameters: check them here, with positions."""
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    shapes = {n: model._built(f"node.{n}", lambda: jax.eval_shape(model.impls[n].init_params, key)) for n in model.node_names}
    cm, diags = model.cm, []

    def known(node: str, param: str, span) -> bool:
        names = list(shapes.get(node, {}))
        if param in names:
            return True
        diags.append(Diagnostic(f"`{node}` has no parameter tensor `{param}`", span,
                                hint=did_you_mean(param, names) or ("its tensors: " + ", ".join(f"`{n}`" for n in names))))
        return False

    for key in ("trainable", "frozen"):
        for ref in cm.train.get(key) or []:
            node, _, param = str(ref).partition(".")
            if param and node in shapes:
                known(node, param, cm.setting_spans.get(f"train.{key}"))
    for (node, param), mask in cm.masks.items():
        span = cm.setting_spans.get(f"train.mask.{node}.{param}")
        if known(node, param, span) and tuple(np.shape(mask)) != tuple(shapes[node][param].shape):
            diags.append(Diagnostic(f"the mask for `{node}.{param}` has shape {tuple(np.shape(mask))} but the tensor has "
                                    f"{tuple(shapes[node][param].shape)}", span))
    for term in cm.loss:
        ref = term.args.get("of") if term.kind == "weights" else None
        if ref is not None and ref.port is not None and ref.node in shapes:
            known(ref.node, ref.port, ref.span)
        for key, r in term.reads.items():  # `net.W_rec` in an expression term
            if r[0] == "tensor" and r[1] in shapes and r[2] not in shapes[r[1]]:
                names = [p.name for p in model.plan.kinds[r[1]].outputs] + list(shapes[r[1]])
                diags.append(Diagnostic(f"`{r[1]}` has no port or parameter tensor `{r[2]}`", term.read_spans.get(key),
                                        hint=did_you_mean(r[2], names) or (
                                            "its outputs and tensors: " + ", ".join(f"`{n}`" for n in names))))
    diags += _unknown_weight_keys(cm, shapes)
    if diags:
        raise ModelError(diags, cm.source)


def _unknown_weight_keys(cm: CheckedModel, shapes: Mapping[str, Any]) -> list[Diagnostic]:
    """`weights = file("x.npz")`: every array of the archive is one of the node's parameter
    tensors, or is read elsewhere in the file with file("x.npz", "key") (masks beside weights);
    any other name is a typo that would leave that parameter at its random initial value."""
    read_elsewhere = traps.file_keys_read(cm.ast)
    diags = []
    for n in shapes:
        weights = cm.nodes[n].params.get("weights")
        if not isinstance(weights, Mapping):
            continue
        path = traps.weights_file_path(cm.nodes[n].decl)
        names = list(shapes[n])
        unknown = [k for k in weights if k not in names and k not in read_elsewhere.get(path or "", set())]
        if unknown:
            span = cm.setting_spans.get(f"node.{n}.weights") or cm.setting_spans.get(f"node.{n}")
            hint = did_you_mean(unknown[0], names)
            diags.append(Diagnostic(
                f"`weights`: the array{'s' if len(unknown) > 1 else ''} {', '.join(f'`{k}`' for k in unknown)} of "
                f"`{path}` {'are' if len(unknown) > 1 else 'is'} no parameter of `{n}`", span,
                hint=(hint + " " if hint else "") + f"`{n}` ({cm.nodes[n].kind}) has " + ", ".join(f"`{k}`" for k in names)))
    return diags


def compile_model(cm: CheckedModel, graph: nx.MultiDiGraph) -> CompiledModel:
    """Lower a checked model's plan (sizes, order; made by the checker) to JAX functions and check
    the parameter names the file refers to. A model built by hand, without a plan, is planned here."""
    model = CompiledModel(cm, graph, cm.plan if cm.plan is not None else plan_checked(cm))
    check_param_refs(model)
    return model
