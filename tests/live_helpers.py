"""What the live tests share: a simulator with fast heartbeats, a client for it, and waiting for a condition."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

from gctrace_nb.api.client import GenesysClient
from gctrace_nb.api.config import Settings
from gctrace_nb.simulator import Simulator

HB = 0.1  # heartbeat interval (s): tests run in seconds, not minutes


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@contextmanager
def live_simulator(seed: int) -> Iterator[Simulator]:
    with Simulator(seed=seed) as simulator:
        simulator.notifications.heartbeat_interval_s = HB
        yield simulator


@contextmanager
def client_for(sim: Simulator) -> Iterator[GenesysClient]:
    client_id, secret = sim.credentials
    with GenesysClient(Settings(client_id=client_id, client_secret=secret, api_url=sim.api_url,
                                login_url=sim.login_url)) as client:
        yield client
