"""A real two-node Ray cluster on loopback for the scale-out tests (no mocks).

One head and one worker node, one CPU each (this machine has two cores), started once per
test session by ``ray.cluster_utils.Cluster`` and torn down at its end. Tests join it with
``ray.init(address=...)`` (the :func:`ray_driver` fixture) or through pairloop itself with
``PAIRLOOP_RAY_ADDRESS`` set to :attr:`RayTestCluster.address`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class RayTestCluster:
    address: str
    nodes: int


def worker_pids(name_part: str, address: str) -> list[int]:
    """Ray worker processes of the cluster at ``address`` whose title names ``name_part``
    (``ray::...ScoreBlock``, an actor class): other Ray clusters may run on this machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = next(line.split()[1] for line in (entry / "status").read_text().splitlines()
                          if line.startswith("PPid:"))
            raylet = Path(f"/proc/{parent}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, StopIteration):
            continue
        if title.startswith("ray::") and name_part in title and f"--gcs-address={address}" in raylet:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayTestCluster]:
    """Two Ray nodes on this machine, for the whole session."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'pairloop[ray]')")
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    # Ray Data's usage poller logs at DEBUG after pytest has closed its capture stream.
    logging.getLogger("ray.data").setLevel(logging.INFO)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield RayTestCluster(address=cluster.address, nodes=2)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


@pytest.fixture
def ray_driver(ray_cluster: RayTestCluster) -> Iterator[RayTestCluster]:
    """This test process joined to the session's cluster (left again after the test)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=ray_cluster.address, include_dashboard=False, log_to_driver=False)
    yield ray_cluster
    if ray.is_initialized():
        ray.shutdown()
