"""Training over several processes (hosts) with jax.distributed.

`rnn train --coordinator HOST:PORT --num-processes N --process-id I` starts process I of N; every
process runs the same command. The JAX devices of all processes form one mesh, so the batch of
every step is split over all of them exactly as it is split over the devices of one machine (each
device computes its share of the trials; the gradients are averaged across devices, on CPU through
gloo). Process 0 writes the run directory; the others train the same state in a scratch directory
that is removed at the end. `--coordinator auto` lets JAX read the cluster's environment
(SLURM: `srun rnn train ... --coordinator auto`)."""

from __future__ import annotations

from typing import Any

from rnnlang.dsl.errors import UsageError


def initialize(coordinator: str | None, num_processes: int | None, process_id: int | None) -> bool:
    """Join the processes of a run (before JAX computes anything); False when none is asked for."""
    if coordinator is None:
        if num_processes is not None or process_id is not None:
            raise UsageError("--num-processes and --process-id go with --coordinator HOST:PORT")
        return False
    import jax

    try:
        # CPU devices of several processes reduce their gradients through gloo
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, ValueError):  # an older JAX without the option
        pass
    if coordinator == "auto":
        if num_processes is not None or process_id is not None:
            raise UsageError("--coordinator auto reads the processes from the cluster's environment: "
                             "give no --num-processes or --process-id")
        jax.distributed.initialize()
        return True
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--coordinator {coordinator}: write HOST:PORT, e.g. 127.0.0.1:12345 (or auto under SLURM)")
    if num_processes is None or process_id is None:
        raise UsageError("--coordinator needs --num-processes N and --process-id I")
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise UsageError(f"--process-id {process_id}: must be between 0 and --num-processes - 1 ({num_processes - 1})")
    jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
    return True


def is_writer() -> bool:
    """Whether this process writes the run (process 0, or the only one)."""
    import jax

    return jax.process_index() == 0


def describe() -> dict[str, Any]:
    """This process's place among the run's processes and devices."""
    import jax

    return {"process": jax.process_index(), "processes": jax.process_count(),
            "local_devices": jax.local_device_count(), "devices": jax.device_count()}


def follow(args: Any) -> int:
    """A process other than 0: train the same run (its computations are part of every step) in a
    scratch directory, removed at the end; process 0 writes the run and prints its results."""
    import shutil
    import tempfile
    from pathlib import Path

    from .api import train

    scratch = Path(tempfile.mkdtemp(prefix="rnn-process-"))
    try:
        if args.resume is not None:
            run = scratch / "run"
            shutil.copytree(args.resume, run, ignore=shutil.ignore_patterns(".lock"))
            train(resume=str(run), max_memory=args.max_memory, on_warning=lambda text: None)
        else:
            train(args.file, args.overrides, out=str(scratch / "run"), max_memory=args.max_memory,
                  on_warning=lambda text: None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0
