"""A corpus of random, dirty trace files for the scale-out tests (and its copy in S3)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from batch_helpers import dirty_trace

from gctrace_nb.simulator.generator import generate_dirty_trace, generate_trace

DAY_MS = 86_400_000
START_MS = 1_768_467_600_000  # 2026-01-15T09:00Z


def write_corpus(directory: Path, n: int = 48, seed: int = 0) -> list[str]:
    """``n`` files in ``directory``: realistic traces of three flows over two days, the
    simulator's dirty traces, junk-laden random ones (cycles, non-objects, odd times),
    NDJSON files of several traces, one file that is not JSON and one empty file."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        kind = i % 5
        name = f"t{i:03d}.ndjson" if kind == 4 else f"t{i:03d}.json"
        if kind == 0:
            flow = f"flow-{rng.randrange(3)}"
            steps = generate_trace(seed * 1000 + i, size=rng.randint(3, 120), flow_id=flow,
                                   start=START_MS + rng.randrange(2) * DAY_MS + rng.randrange(3_600_000))
            text = json.dumps({"steps": steps, "metadata": {"flow_id": flow}})
        elif kind == 1:
            text = json.dumps({"steps": generate_dirty_trace(seed * 1000 + i), "metadata": {"flow_id": "flow/dirty"}})
        elif kind in (2, 3):
            text = json.dumps(dirty_trace(rng))
        else:
            text = "\n".join(json.dumps({"steps": dirty_trace(rng), "metadata": {"flow_id": f"nd-{j}"}})
                             for j in range(3)) + "\n"
        (directory / name).write_text(text, encoding="utf-8")
        names.append(name)
    (directory / "u-bad.json").write_text("{", encoding="utf-8")
    (directory / "v-empty.json").write_text("", encoding="utf-8")
    return sorted(names + ["u-bad.json", "v-empty.json"])


def upload(directory: Path, fs, prefix: str) -> None:
    """Copy every file of ``directory`` to ``prefix`` (``bucket/key-prefix``) with s3fs ``fs``."""
    for path in sorted(directory.iterdir()):
        fs.pipe(f"{prefix.rstrip('/')}/{path.name}", path.read_bytes())
    fs.invalidate_cache()


def executed_counts(client) -> dict:
    """Tasks each worker has run so far (``{address: count}``)."""
    return client.run(lambda dask_worker: dask_worker.state.executed_count)


def ran_on_both(before: dict, after: dict) -> bool:
    """Whether every worker ran at least one task between the two counts."""
    return len(after) == 2 and all(after[w] > before.get(w, 0) for w in after)
