"""Benchmarks side by side: rnnlang, a hand-written JAX + optax loop, and the anchors.

    python benchmarks/run.py [--workloads R,P,S] [--feedbax PATH] [--psychrnn-venv PATH]
                             [--feedbax-venv PATH] [--quick] [--rounds N] [--out benchmarks/out/results.json]

Workloads: R, Feedbax's point-mass reach (GRU 50, batch 250, 99 steps, Adam 1e-2); P, PsychRNN's
hello world (ctrnn 50, batch 128, 200 steps, Adam 1e-3; plus the wall time to 90% accuracy);
S, the ctrnn of P with 50, 128, 256 and 512 units and 1, 5 and 20 replicates.

Method. Every timed variant runs in its own process (its own XLA flags, its own peak memory,
read with wait4), and the processes of one configuration are started in turn, A B C A B C ...
Each process measures the time from its start (the runner's clock just before the launch) to
the end of its first training step (rnnlang: parse + check + compile + one step, a one-step
program; then it compiles the normal program), then does warm-up dispatches and several timed
blocks, each ending with block_until_ready. The report gives medians over all blocks of all
processes, and ratios: rnnlang / hand-written (steps/s) and rnnlang / anchor (trials/s).
Anchors that are not installed are skipped, and the report says so.

The runner itself imports no JAX; `--worker rnnlang SPEC` is the rnnlang side of one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import anchors  # noqa: E402  (the anchors' scripts; no heavy imports)

EXAMPLES = {"R": REPO / "examples" / "point_mass_reach.rnn", "P": REPO / "examples" / "perceptual_discrimination.rnn",
            "S": REPO / "examples" / "perceptual_discrimination.rnn"}
BATCH = {"R": 250, "P": 128, "S": 128}
S_HIDDEN = (50, 128, 256, 512)
S_REPLICATES = (1, 5, 20)
# rough steps/s of one replicate on two cores (measured earlier), to size S's dispatches to ~1 s
S_RATE = {50: 100.0, 128: 27.0, 256: 10.0, 512: 3.0}
TARGETS = {"feedbax_x": 5.0, "psychrnn_x": 15.0, "handwritten_slowdown": 1.15, "ttfs_R_s": 3.0}


# ---- running one process ---------------------------------------------------------------------------


def _child_env() -> dict:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)  # every variant sets (or not) its own
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_process(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run one variant's process; returns its JSON line plus wall time, peak RSS and exit code."""
    env = dict(env or _child_env())
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.time()
        env["BENCH_T0"] = repr(t0)
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=str(REPO))
        killed = []
        timer = threading.Timer(timeout, lambda: (killed.append(True), p.kill()))
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - t0
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    res: dict = {}
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                res = json.loads(line)
                break
            except json.JSONDecodeError:
                pass
    res.update(rc=p.returncode, wall_s=wall, peak_rss_mib=usage.ru_maxrss / 1024.0)
    if killed:
        res["error"] = f"timed out after {timeout:.0f} s"
    elif p.returncode != 0 or "error" in res or not any(k in res for k in ("steps_per_s_blocks", "time_to_target_s")):
        res["error"] = res.get("error") or (stderr.strip().splitlines() or ["(no output)"])[-1][-400:]
        res["stderr_tail"] = stderr[-3000:]
    return res


# ---- the rnnlang side of one process ------------------------------------------------------------------


def _budget(spec: dict, first_dispatch_s: float) -> tuple[int, int]:
    """(blocks, warm-up dispatches) that fit the process's time budget, given how long the first
    dispatch (compilation included) took; at least two blocks."""
    blocks, warmup = spec["blocks"], spec["warmup"]
    budget = spec.get("budget_s")
    if budget:
        per_block = first_dispatch_s * spec.get("block_dispatches", 1)
        blocks = max(2, min(blocks, int(budget / max(per_block, 1e-9))))
        if first_dispatch_s > budget / 4:
            # one untimed dispatch still: the first run after the compilation is slower (measured:
            # the hand-written loop's first block at 0.4-0.5x its second at every S size)
            warmup = min(warmup, 1)
    return blocks, warmup


def _chunk_caller(trainer, stage: int = 0):
    """trainer.chunk_fn(stage) as f(params, opt_state, start, n), whichever of its signatures
    (with or without the training key argument) this rnnlang has."""
    import inspect

    f = trainer.chunk_fn(stage)
    try:
        n_args = len(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        n_args = 4
    if n_args >= 5:
        return lambda p, o, start, n: f(p, o, start, n, trainer.k_train)
    return f


def rnnlang_worker(spec: dict) -> int:
    """What `rnn train FILE --set ...` does (parse, check, compile, train) with clocks around it."""
    t0 = float(os.environ.get("BENCH_T0", time.time()))
    from rnnlang.runtime.cli import _configure_jax

    _configure_jax()
    import jax
    import numpy as np

    from rnnlang.runtime.api import compile_model, load
    from rnnlang.runtime.train import Callbacks, Trainer

    path, ov = spec["path"], list(spec.get("overrides", []))
    out: dict = {"variant": "rnnlang", "devices": len(jax.devices()), "jax": jax.__version__}
    if spec["mode"] == "accuracy":
        every, target = spec["check_every"], spec["target"]
        cm, graph = load(path, ov + [f"train.validate_every={every}", f"train.stop_accuracy={target}",
                                     f"train.batches={spec['max_batches']}", f"model.seed={spec.get('seed', 0)}"])
        trainer = Trainer(compile_model(cm, graph))
        hist: list = []
        reached: list = []

        class Clock(Callbacks):
            def validate(self, record):
                acc = float(np.mean(record["metrics"]["correct"]))
                hist.append((record["batch"], round(acc, 4)))
                if acc >= target and not reached:
                    reached.append(time.time() - t0)

        state = trainer.run(trainer.init_state(), Clock())
        out.update(mode="accuracy", target=target, time_to_target_s=reached[0] if reached else None,
                   batches=state.batch, trials=state.batch * trainer.batch_size, history=hist[-5:])
        print(json.dumps(out), flush=True)
        return 0

    k = spec.get("k")
    params = opt_state = None
    if spec.get("ttfs", True):
        # time to first step: parse + check + compile + one training step (a one-step program)
        t_imported = time.time()
        cm, graph = load(path, ov + ["train.steps_per_dispatch=1"])
        t_checked = time.time()
        trainer = Trainer(compile_model(cm, graph))
        state = trainer.init_state()
        t_lowered = time.time()
        params, opt_state, losses, _ = _chunk_caller(trainer)(state.params, state.opt_state, 0, 1)
        jax.block_until_ready(losses)
        out["time_to_first_step_s"] = time.time() - t0
        # where the time to the first step goes: start-up and imports, parse + check, lowering
        # (compile_model, Trainer, init_state), jit compilation + the step itself
        out["phases_s"] = {"imports": t_imported - t0, "parse_check": t_checked - t_imported,
                           "lower_init": t_lowered - t_checked, "compile_and_step": time.time() - t_lowered}
        try:  # operations per time step of this one-step program (not timed; older rnnlang: absent)
            from rnnlang.runtime.opcount import training_step_ops
        except ImportError:
            pass
        else:
            ops = training_step_ops(trainer, state)
            out["ops_per_step"] = {d: {k: ops[d][k] for k in ("ops", "dots", "fusions", "dot_flops", "by_kind")}
                                   for d in ("forward", "backward") if d in ops}
    cm, graph = load(path, ov + ([f"train.steps_per_dispatch={k}"] if k else []))
    trainer = Trainer(compile_model(cm, graph))
    if params is None:
        state = trainer.init_state()
        params, opt_state = state.params, state.opt_state
    f = _chunk_caller(trainer)
    K = trainer.k
    start = 1
    t = time.perf_counter()
    params, opt_state, losses, _ = f(params, opt_state, start, K)
    jax.block_until_ready(losses)
    t1 = out["first_dispatch_s"] = time.perf_counter() - t
    start += K
    n_blocks, warmup = _budget(spec, t1)
    for _ in range(warmup):
        params, opt_state, losses, _ = f(params, opt_state, start, K)
        start += K
    jax.block_until_ready(losses)
    blocks = []
    for _ in range(n_blocks):
        t = time.perf_counter()
        for _ in range(spec.get("block_dispatches", 1)):
            params, opt_state, losses, _ = f(params, opt_state, start, K)
            start += K
        jax.block_until_ready((params, losses))
        blocks.append(K * spec.get("block_dispatches", 1) / (time.perf_counter() - t))
    out.update(k=K, batch=trainer.batch_size, replicates=trainer.replicates, steps_per_s_blocks=blocks,
               final_loss=float(np.mean(np.asarray(losses)[-1])))
    print(json.dumps(out), flush=True)
    return 0


# ---- plans ------------------------------------------------------------------------------------------


def s_dispatch(hidden: int, replicates: int, seconds: float = 1.0) -> int:
    """Steps per dispatch for an S configuration: about `seconds` per dispatch, at most 50."""
    return int(max(1, min(50, round(S_RATE[hidden] / replicates * seconds))))


def plan(args) -> list[dict]:
    """Configurations, each with its variants' commands (in the interleaving order)."""
    q = args.quick
    py = sys.executable
    runner = str(HERE / "run.py")
    hw = str(HERE / "handwritten.py")
    fbx_py, fbx_why = anchors.feedbax_python(args.feedbax, args.feedbax_venv)
    prn_py = anchors.venv_python(args.psychrnn_venv)
    prn_why = "" if prn_py else f"no PsychRNN virtual environment at {args.psychrnn_venv} (run benchmarks/setup_anchors.sh)"
    blocks = 2 if q else 5
    configs = []

    def rl(spec):
        """rnnlang as installed, and (with --patched DIR) the copy in DIR first on the path."""
        cmd = [py, runner, "--worker", "rnnlang", json.dumps(spec)]
        out = {"rnnlang": {"cmd": cmd}}
        if args.patched:
            env = {"PYTHONPATH": os.pathsep.join([str(Path(args.patched).resolve())] +
                                                 ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
            out["rnnlang-patched"] = {"cmd": cmd, "env": env}
        return out

    def hwc(*extra):
        return {"handwritten": {"cmd": [py, hw, *map(str, extra)]}}

    def add(workload, label, variants, skipped, batch, replicates, kind="speed", anchor=None, rounds=None):
        configs.append({"workload": workload, "config": label, "kind": kind, "variants": variants, "skipped": skipped,
                        "batch": batch, "replicates": replicates, "anchor": anchor, "rounds": rounds})

    ws = args.workloads
    if "R" in ws:
        v = {**rl({"mode": "speed", "path": str(EXAMPLES["R"]), "warmup": 1, "blocks": blocks}),
             **hwc("--workload", "R", "--k", 50, "--warmup", 1, "--blocks", blocks)}
        skipped = {}
        if fbx_py:
            fb = {"warmup": 2 if q else 3, "blocks": blocks, "block_steps": 5 if q else 10}
            v["feedbax"] = {"cmd": anchors.feedbax_command(fbx_py, fb)}
            if not q:  # Feedbax's tutorial model as shipped adds sensory and motor noise: for information
                v["feedbax-with-noise"] = {"cmd": anchors.feedbax_command(fbx_py, {**fb, "noise": True})}
        else:
            skipped["feedbax"] = fbx_why
        add("R", "GRU 50, batch 250, 99 steps", v, skipped, 250, 1, anchor="feedbax")
    if "P" in ws:
        v = {**rl({"mode": "speed", "path": str(EXAMPLES["P"]), "warmup": 1, "blocks": blocks,
                   "block_dispatches": 1 if q else 2}),
             **hwc("--workload", "P", "--k", 50, "--warmup", 1, "--blocks", blocks, "--block-dispatches", 1 if q else 2)}
        skipped = {}
        if prn_py:
            v["psychrnn"] = {"cmd": anchors.psychrnn_command(prn_py, {"mode": "speed", "warmup": 2 if q else 3,
                                                                      "blocks": blocks, "block_steps": 5 if q else 10})}
        else:
            skipped["psychrnn"] = prn_why
        add("P", "ctrnn 50, batch 128, 200 steps", v, skipped, 128, 1, anchor="psychrnn")
    if "P" in ws and not args.no_accuracy:
        skipped = {} if prn_py else {"psychrnn": prn_why}
        acc = {"check_every": 10, "target": 0.9, "max_batches": 1500}
        n = args.acc_rounds
        v = {}
        for name, d in rl({"mode": "accuracy", "path": str(EXAMPLES["P"]), **acc}).items():
            v[name] = {"cmd": [d["cmd"][:-1] + [json.dumps({**json.loads(d["cmd"][-1]), "seed": sd})] for sd in range(n)],
                       "env": d.get("env")}
        v["handwritten"] = {"cmd": [[py, hw, "--workload", "P", "--mode", "accuracy", "--check-every", "10", "--target",
                                     "0.9", "--max-batches", "1500", "--seed", str(sd)] for sd in range(n)]}
        if prn_py:
            v["psychrnn"] = {"cmd": [anchors.psychrnn_command(prn_py, {"mode": "accuracy", "seed": sd, **acc})
                                     for sd in range(n)]}
        add("P", "time to 90% accuracy", v, skipped, 128, 1, kind="accuracy", anchor="psychrnn", rounds=n)
    if "S" in ws:
        hs = (50, 128) if q else S_HIDDEN
        rs = (1, 5) if q else S_REPLICATES
        for h in hs:
            for r in rs:
                k = s_dispatch(h, r)
                bl = 2 if q else 3
                bd = max(1, round(1.5 / (k * r / S_RATE[h])))  # dispatches per block: ~1.5 s blocks
                budget = 8 if q else 15
                spec = {"mode": "speed", "path": str(EXAMPLES["S"]), "ttfs": False, "k": k, "warmup": 1, "blocks": bl,
                        "block_dispatches": bd, "budget_s": budget, "overrides": [f"net.hidden={h}", f"train.replicates={r}"]}
                v = {**rl(spec),
                     **hwc("--workload", "S", "--hidden", h, "--replicates", r, "--k", k, "--warmup", 1, "--blocks", bl,
                           "--block-dispatches", bd, "--no-ttfs", "--budget", budget)}
                skipped = {}
                if r == 1 and prn_py:
                    v["psychrnn"] = {"cmd": anchors.psychrnn_command(prn_py, {
                        "mode": "speed", "hidden": h, "warmup": 2, "blocks": bl, "block_steps": max(2, round(S_RATE[h] / 10))})}
                elif r == 1:
                    skipped["psychrnn"] = prn_why
                add("S", f"ctrnn {h} x {r} replicates", v, skipped, 128, r, anchor="psychrnn",
                    rounds=args.s_rounds or 1)
    return configs


# ---- summary ------------------------------------------------------------------------------------------


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(cfg: dict) -> dict:
    out = {}
    for name, runs in cfg["results"].items():
        ok = [r for r in runs if "error" not in r]
        s: dict = {"processes": len(runs), "ok": len(ok), "errors": [r["error"] for r in runs if "error" in r][:2]}
        if cfg["kind"] == "speed":
            blocks = [b for r in ok for b in r.get("steps_per_s_blocks", [])]
            s["steps_per_s"] = _med(blocks)
            s["steps_per_s_per_process"] = [_med(r.get("steps_per_s_blocks", [])) for r in ok]
            s["trials_per_s"] = s["steps_per_s"] * cfg["batch"] * cfg["replicates"] if s["steps_per_s"] else None
            s["time_to_first_step_s"] = _med([r.get("time_to_first_step_s") for r in ok])
        else:
            s["time_to_target_s"] = _med([r.get("time_to_target_s") for r in ok])
            s["trials_to_target"] = _med([r.get("trials") for r in ok if r.get("time_to_target_s") is not None])
            s["reached"] = sum(r.get("time_to_target_s") is not None for r in ok)
        s["peak_rss_mib"] = _med([r.get("peak_rss_mib") for r in ok])
        ops = next((r["ops_per_step"] for r in ok if r.get("ops_per_step")), None)
        if ops:
            s["ops_per_step"] = ops
        phases = [r["phases_s"] for r in ok if r.get("phases_s")]
        if phases:
            s["time_to_first_step_phases_s"] = {k: _med([p[k] for p in phases]) for k in phases[0]}
        out[name] = s
    hw = out.get("handwritten", {})
    anc = out.get(cfg.get("anchor") or "", {})
    ratios = {}
    for name, rl in out.items():
        if not name.startswith("rnnlang"):
            continue
        r = ratios[name] = {}
        if cfg["kind"] == "speed":
            if rl.get("steps_per_s") and hw.get("steps_per_s"):
                r["vs_handwritten"] = rl["steps_per_s"] / hw["steps_per_s"]
                # the same ratio taken per round (processes started one after the other), then the median
                pr = [a / b for a, b in zip(rl["steps_per_s_per_process"], hw["steps_per_s_per_process"]) if a and b]
                r["vs_handwritten_paired"] = _med(pr)
            if rl.get("trials_per_s") and anc.get("steps_per_s"):
                # an anchor trains replicates one after the other: its replicate-trials/s is that of one
                r["vs_anchor"] = rl["trials_per_s"] / (anc["steps_per_s"] * cfg["batch"])
        else:
            if rl.get("time_to_target_s") and hw.get("time_to_target_s"):
                r["vs_handwritten"] = hw["time_to_target_s"] / rl["time_to_target_s"]
            if rl.get("time_to_target_s") and anc.get("time_to_target_s"):
                r["vs_anchor"] = anc["time_to_target_s"] / rl["time_to_target_s"]
    return {"variants": out, "ratios": ratios}


def derive_anchor_ratios(configs: list[dict]) -> None:
    """S with replicates: the anchor (PsychRNN) trains replicates one after the other, so its
    replicate-trials/s is that of its one-replicate run of the same size: use it, marked derived."""
    for c in configs:
        if c["workload"] != "S" or c["kind"] != "speed" or c.get("anchor") in c["summary"]["variants"]:
            continue
        size = c["config"].split(" x ")[0]
        one = next((o for o in configs if o["workload"] == "S" and o["config"].startswith(size + " x 1 ")), None)
        anc = one and one["summary"]["variants"].get(c["anchor"], {}).get("steps_per_s")
        if not anc:
            continue
        for name, r in c["summary"]["ratios"].items():
            tps = c["summary"]["variants"][name].get("trials_per_s")
            if tps:
                r["vs_anchor"] = tps / (anc * c["batch"])
                r["vs_anchor_derived"] = True


def _f(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}" if abs(x) < 1e5 else f"{x:.3g}"
    return str(x)


def table(configs: list[dict]) -> str:
    lines = ["| workload | configuration | variant | steps/s | trials/s | first step (s) | peak RSS (MiB) | "
             "to 90% acc (s) | vs hand-written | vs anchor |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in configs:
        sm = c["summary"]
        for name, s in sm["variants"].items():
            r = sm["ratios"].get(name, {})
            rat_hw = rat_an = ""
            if name.startswith("rnnlang"):
                if c["kind"] == "speed":
                    rat_hw = _f(r.get("vs_handwritten"), 2) + "x" if r.get("vs_handwritten") else "-"
                    rat_an = _f(r.get("vs_anchor"), 1) + "x" if r.get("vs_anchor") else "-"
                    if r.get("vs_anchor_derived"):
                        rat_an += " (derived)"
                else:
                    rat_hw = _f(r.get("vs_handwritten"), 2) + "x" if r.get("vs_handwritten") else "-"
                    rat_an = _f(r.get("vs_anchor"), 1) + "x" if r.get("vs_anchor") else "-"
            label = name + (f" ({s['ok']}/{s['processes']} ok: {s['errors'][0][:60]})" if s["ok"] < s["processes"] else "")
            if c["kind"] == "speed":
                lines.append(f"| {c['workload']} | {c['config']} | {label} | {_f(s.get('steps_per_s'))} | "
                             f"{_f(s.get('trials_per_s'), 0)} | {_f(s.get('time_to_first_step_s'))} | {_f(s.get('peak_rss_mib'), 0)} | "
                             f"- | {rat_hw} | {rat_an} |")
            else:
                lines.append(f"| {c['workload']} | {c['config']} | {label} | - | - | - | {_f(s.get('peak_rss_mib'), 0)} | "
                             f"{_f(s.get('time_to_target_s'))} ({s.get('reached', 0)}/{s['ok']} reached, "
                             f"{_f(s.get('trials_to_target'), 0)} trials) | {rat_hw} | {rat_an} |")
        for name, why in c["skipped"].items():
            if c["kind"] == "speed" or name not in {x for cc in configs for x in cc["skipped"] if cc is not c}:
                lines.append(f"| {c['workload']} | {c['config']} | {name} | skipped: {why} | | | | | | |")
    lines += ["", "Ratios: steps/s of rnnlang over the hand-written loop's (1.00x = as fast; the target is >= 0.87x, i.e. "
              "within 1.15x); trials/s of rnnlang over the anchor's (derived, for S with replicates: the anchor's trials/s at "
              "one replicate of that size, as it trains replicates one after the other). For time to 90% accuracy, the ratios are the other "
              "variant's time over rnnlang's (above 1: rnnlang is faster)."]
    return "\n".join(lines)


def ops_table(configs: list[dict]) -> str:
    """Operations per time step of each rnnlang variant's compiled training step (per device;
    `rnn ops FILE` prints the same counts)."""
    lines = ["| workload | variant | forward ops | forward products | backward ops | backward products | "
             "MFLOP per time step (fwd + bwd) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for c in configs:
        for name, s in c["summary"]["variants"].items():
            o = s.get("ops_per_step")
            if not o or "forward" not in o or "backward" not in o:
                continue
            f, b = o["forward"], o["backward"]
            lines.append(f"| {c['workload']} | {name} | {f['ops']} | {f['dots']} | {b['ops']} | {b['dots']} | "
                         f"{(f['dot_flops'] + b['dot_flops']) / 1e6:.2f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def targets(configs: list[dict]) -> list[str]:
    out = []
    r = next((c for c in configs if c["workload"] == "R" and c["kind"] == "speed"), None)
    p = next((c for c in configs if c["workload"] == "P" and c["kind"] == "speed"), None)
    names = sorted({n for c in configs for n in c["summary"]["ratios"]})

    def line(ok, text):
        out.append(f"- [{'x' if ok else ' '}] {text}")

    for name in names:
        out.append(f"{name}:")
        for result, key, text, anchor in ((r, "feedbax_x", "R: >= 5x Feedbax's trials/s", "Feedbax"),
                                          (p, "psychrnn_x", "P: >= 15x PsychRNN's trials/s (data generation included)", "PsychRNN")):
            if not result:
                continue
            x = result["summary"]["ratios"].get(name, {}).get("vs_anchor")
            if x is None:
                out.append(f"- [?] {text}: {anchor} not measured")
            else:
                goal = TARGETS[key]
                line(x >= goal, f"{text}: {x:.2f}x" + ("" if x >= goal else f" (missed by {goal / x:.2f}x)"))
        for c in configs:
            if c["kind"] != "speed":
                continue
            x = c["summary"]["ratios"].get(name, {}).get("vs_handwritten")
            if x is not None:
                ok = x >= 1 / TARGETS["handwritten_slowdown"]
                line(ok, f"{c['workload']} {c['config']}: within 1.15x of the hand-written loop: {x:.3f}x its speed"
                     + ("" if ok else f" ({1 / x:.3f}x slower)"))
        if r:
            t = r["summary"]["variants"].get(name, {}).get("time_to_first_step_s")
            if t is not None:
                line(t <= TARGETS["ttfs_R_s"], f"R: first training step within 3 s of the command starting: {t:.2f} s")
    return out


def report(configs: list[dict], env: dict, argv: list[str]) -> str:
    md = ["## Results", "", f"Command: `python {' '.join(['benchmarks/run.py'] + list(argv))}`", "",
          f"Machine: {env['cpus']} CPUs, Python {env['python']}, load average at start "
          f"{', '.join(f'{x:.1f}' for x in env['loadavg_start'])}, at end {', '.join(f'{x:.1f}' for x in env['loadavg_end'])}; "
          f"{env['total_s'] / 60:.1f} min.", "", table(configs), "", "### Targets", "", *targets(configs)]
    ops = ops_table(configs)
    if ops:
        md += ["", "### Operations per time step (one device's share of the batch; `rnn ops FILE`)", "", ops]
    return "\n".join(md)


def environment() -> dict:
    env = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "loadavg_start": os.getloadavg()}
    try:
        env["rnnlang_commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                               capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return env


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        if argv[1] != "rnnlang":
            raise SystemExit(f"unknown worker {argv[1]!r}")
        return rnnlang_worker(json.loads(argv[2]))
    ap = argparse.ArgumentParser(description="rnnlang benchmarks, side by side (see benchmarks/README.md)")
    ap.add_argument("--workloads", default="R,P,S", help="comma-separated: R, P, S")
    ap.add_argument("--feedbax", default=None, metavar="PATH", help="Feedbax's source (github:mlprt/feedbax)")
    ap.add_argument("--feedbax-venv", default="/tmp/bench-venvs/feedbax", metavar="PATH")
    ap.add_argument("--psychrnn-venv", default="/tmp/bench-venvs/psychrnn", metavar="PATH")
    ap.add_argument("--quick", action="store_true", help="short runs: one round, two blocks, S at 50/128 units x 1/5")
    ap.add_argument("--rounds", type=int, default=None, help="processes per variant for R and P (default 3; 1 with --quick)")
    ap.add_argument("--s-rounds", type=int, default=None, help="processes per variant for each S configuration (default 1)")
    ap.add_argument("--acc-rounds", type=int, default=None, help="time-to-accuracy processes per variant (default 3)")
    ap.add_argument("--no-accuracy", action="store_true", help="skip P's time to 90%% accuracy")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    ap.add_argument("--patched", default=None, metavar="DIR",
                    help="also time `rnnlang-patched`: the rnnlang package found in DIR (DIR/rnnlang), put first on "
                         "PYTHONPATH (a scratch copy with proposed changes)")
    ap.add_argument("--out", default=str(HERE / "out" / "results.json"))
    ap.add_argument("--from-json", default=None, metavar="FILE", help="only re-render the report of a saved run")
    args = ap.parse_args(argv)
    if args.from_json:
        data = json.loads(Path(args.from_json).read_text())
        configs = data["configs"]
        for c in configs:
            c["summary"] = summarise(c)
        derive_anchor_ratios(configs)
        print(report(configs, data["environment"], data["argv"]))
        return 0
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    bad = set(args.workloads) - {"R", "P", "S"}
    if bad:
        ap.error(f"unknown workloads: {', '.join(sorted(bad))}")
    rounds = args.rounds or (1 if args.quick else 3)
    args.acc_rounds = args.acc_rounds or (1 if args.quick else 3)
    configs = plan(args)
    env = environment()
    print(f"# rnnlang benchmarks ({'quick' if args.quick else 'full'}): {' '.join(['benchmarks/run.py'] + argv)}",
          file=sys.stderr)
    t_all = time.time()
    for c in configs:
        c["results"] = {name: [] for name in c["variants"]}
        n = c.get("rounds") or rounds
        for i in range(n):
            for name, var in c["variants"].items():
                cmd = var["cmd"]
                cmd_i = cmd[i % len(cmd)] if isinstance(cmd[0], list) else cmd
                child_env = _child_env()
                child_env.update(var.get("env") or {})
                res = run_process(cmd_i, args.timeout, child_env)
                c["results"][name].append(res)
                msg = res.get("error") or (
                    f"{_f(_med(res.get('steps_per_s_blocks', [])))} steps/s" if c["kind"] == "speed"
                    else f"{_f(res.get('time_to_target_s'))} s to target")
                print(f"  {c['workload']} {c['config']} [{i + 1}/{n}] {name}: {msg} ({res['wall_s']:.0f} s)",
                      file=sys.stderr, flush=True)
        c["summary"] = summarise(c)
    derive_anchor_ratios(configs)
    env["loadavg_end"] = os.getloadavg()
    env["total_s"] = time.time() - t_all
    text = report(configs, env, argv)
    print(text)
    outp = Path(args.out)
    outp.parent.mkdir(parents=True, exist_ok=True)
    def short(cmd):  # the anchors' script text is in anchors.py
        if cmd and isinstance(cmd[0], list):
            return [short(c) for c in cmd]
        return ["<anchors.py script>" if len(x) > 300 else x for x in cmd]
    slim = [{k: v for k, v in c.items() if k != "variants"} |
            {"commands": {n: {"cmd": short(v["cmd"]), "env": v.get("env")} for n, v in c["variants"].items()}}
            for c in configs]
    outp.write_text(json.dumps({"environment": env, "argv": argv, "configs": slim, "markdown": text}, indent=1, default=str))
    print(f"\n(JSON: {outp})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
