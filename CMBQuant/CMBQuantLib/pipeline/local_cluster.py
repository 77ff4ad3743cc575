"""The batch's default cluster: Dask worker processes on this machine, one per GPU (each pinned to its GPU) or a
chosen number of CPU workers, or a connection to an existing scheduler (SLURM/PBS, Kubernetes: docs/batch.md).

Each worker gets a share of the cores for its model's own threads (Dask would set OMP/MKL threads to 1, crippling
CPU inference) and a share of the memory (Dask's default per-thread share is too small for one nnU-Net per worker).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from distributed import Client, Nanny, Scheduler, SpecCluster

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def visible_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else those ``nvidia-smi -L`` lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(n) for n, line in enumerate(ln for ln in out.splitlines() if ln.startswith("GPU "))]


@dataclass(frozen=True)
class ClusterPlan:
    """``n_workers`` processes of ``threads_per_worker`` task threads; worker i pinned to ``gpus[i % len]``."""

    n_workers: int
    threads_per_worker: int = 1
    gpus: tuple[str, ...] = ()
    dashboard_address: str | None = ":8787"  # None: no dashboard (tests)
    cpu_count: int = field(default_factory=lambda: os.cpu_count() or 1)

    def worker_env(self, index: int) -> dict[str, str]:
        threads = str(max(1, self.cpu_count // self.n_workers))
        env = {name: threads for name in THREAD_VARIABLES}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[index % len(self.gpus)]
        return env


def plan_local_cluster(workers: int | None = None, threads_per_worker: int = 1,
                       dashboard_address: str | None = ":8787") -> ClusterPlan:
    """``workers`` None: one per visible GPU, or one CPU worker (a model already uses every core it is given)."""
    gpus = tuple(visible_gpus())
    n = workers if workers is not None else max(1, len(gpus))
    if n < 1 or threads_per_worker < 1:
        raise ValueError(f"--workers and --threads-per-worker must be >= 1, got {n} and {threads_per_worker}")
    return ClusterPlan(n, threads_per_worker, gpus, dashboard_address)


def start_local_cluster(plan: ClusterPlan) -> SpecCluster:
    """Scheduler and nanny-supervised worker processes on loopback: a killed worker is restarted by its nanny."""
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard": plan.dashboard_address is not None,
                                               "dashboard_address": plan.dashboard_address or ":0"}}
    memory = 1.0 / plan.n_workers
    workers = {i: {"cls": Nanny, "options": {"nthreads": plan.threads_per_worker, "memory_limit": memory,
                                             "env": plan.worker_env(i), "host": "127.0.0.1", "dashboard": False,
                                             "dashboard_address": None, "silence_logs": logging.WARNING}}
               for i in range(plan.n_workers)}
    return SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.WARNING, name="cmbquant-batch")


def dashboard_link(client: Client, enabled: bool = True) -> str:
    """The dashboard's address, or why there is none; without bokeh the page only asks to install it."""
    if not enabled or "dashboard" not in client.scheduler_info().get("services", {}):
        return "off"
    hint = "" if importlib.util.find_spec("bokeh") else ' (needs bokeh>=3.1: pip install "cmbquant[batch]")'
    return client.dashboard_link + hint


@contextmanager
def batch_client(scheduler: str | None, plan: ClusterPlan) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a local cluster started (and closed afterwards) from ``plan``."""
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with start_local_cluster(plan) as cluster, Client(cluster) as client:
        client.wait_for_workers(plan.n_workers)
        yield client
