"""Benchmark the Ray Serve backend against the local one (a script, not a test; needs
``pip install '.[ray]'``). Both backends run the same ``Engine`` on the same model and thread
count, on a local Ray cluster this script starts (``[ray] address = ""``).

1. Per-job overhead: one-job batches, one after another. A job's overhead = the wall time of
   ``run_batch`` − the engine's own time for it (``generate_s + score_s``, reported by the
   engine). ``ray_overhead_ratio`` = Ray's median overhead ÷ the local backend's.
2. Throughput: ``--jobs`` one-job batches of two styles, kept in flight as the dispatcher
   keeps them (up to the backend's ``concurrency``), with 2 replicas ÷ with 1 replica
   (``replica_throughput_ratio``). Replicas get ``--replica-cpus`` CPUs each and
   ``--threads`` torch threads; on a machine with fewer free cores than replicas × threads
   they share the cores and the ratio says so.

Usage::

    python bench/bench_ray.py [--quick] [--threads N] [--steps N] [--jobs N]
                              [--replica-cpus X] [--local-cpus N]

It prints a table and, as its LAST line, one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from engine.client import EngineClient  # noqa: E402
from engine.protocol import BatchRequest, JobSpec  # noqa: E402
from engine.ray_client import RayEngineClient, ray_available  # noqa: E402
from engine.settings import EngineSettings, RaySettings  # noqa: E402


def settings(args) -> EngineSettings:
    return EngineSettings(model="tiny", clip_model="tiny", adapters=str(ROOT / "adapters"),
                          cache=args.cache, threads=args.threads, max_batch=4)


def one(job_id: int, steps: int, style: str | None = None) -> BatchRequest:
    return BatchRequest(style, 64, 64, steps, 7.5,
                        [JobSpec(job_id, f"a lighthouse number {job_id}", seed=job_id)])


async def overhead(client, args, first_id: int) -> dict:
    """Median wall time, engine time and their difference over one-job batches."""
    await client.run_batch(one(first_id, args.steps))  # warm
    walls, engine = [], []
    for i in range(args.repeat):
        started = time.perf_counter()
        (result,) = await client.run_batch(one(first_id + 1 + i, args.steps))
        walls.append(time.perf_counter() - started)
        engine.append(result.generate_s + result.score_s)
    over = [w - e for w, e in zip(walls, engine, strict=True)]
    return {"wall_ms": 1000 * statistics.median(walls),
            "engine_ms": 1000 * statistics.median(engine),
            "overhead_ms": 1000 * statistics.median(over)}


async def throughput(client, args, first_id: int) -> float:
    """Images a second over ``--jobs`` one-job batches, ``client.concurrency`` in flight."""
    gate = asyncio.Semaphore(client.concurrency)
    styles = [None, "kancil"]

    async def run(i: int) -> None:
        async with gate:
            await client.run_batch(one(first_id + i, args.steps, styles[i % 2]))

    await asyncio.gather(*[run(i) for i in range(2 * client.concurrency)])  # warm
    started = time.perf_counter()
    await asyncio.gather(*[run(1000 + i) for i in range(args.jobs)])
    return args.jobs / (time.perf_counter() - started)


def ray_settings(args, replicas: int) -> RaySettings:
    return RaySettings(address="", app_name=f"bench{replicas}", min_replicas=replicas,
                       max_replicas=replicas, num_cpus=args.replica_cpus, num_gpus=0,
                       local_num_cpus=args.local_cpus, batch_wait_s=0.0)


async def main_async(args) -> dict:
    out: dict = {"threads": args.threads, "steps": args.steps, "jobs": args.jobs,
                 "replica_cpus": args.replica_cpus, "cpus": os.cpu_count()}
    local = EngineClient(settings(args))
    await local.start()
    try:
        out["local"] = await overhead(local, args, 1)
        out["local"]["images_per_s"] = await throughput(local, args, 10_000)
    finally:
        await local.close()
    for replicas in (1, 2):
        started = time.perf_counter()
        client = RayEngineClient(settings(args), ray_settings(args, replicas))
        await client.start()
        row: dict = {"start_s": time.perf_counter() - started}
        try:
            if replicas == 1:
                row |= await overhead(client, args, 20_000)
            row["images_per_s"] = await throughput(client, args, 30_000 + 10_000 * replicas)
        finally:
            await client.close()
        out[f"ray{replicas}"] = row
    out["ray_overhead_ratio"] = out["ray1"]["overhead_ms"] / max(out["local"]["overhead_ms"],
                                                                 1e-6)
    out["ray_overhead_ms"] = out["ray1"]["overhead_ms"]
    out["local_overhead_ms"] = out["local"]["overhead_ms"]
    out["replica_throughput_ratio"] = out["ray2"]["images_per_s"] / out["ray1"]["images_per_s"]
    out["ray1_vs_local_throughput"] = out["ray1"]["images_per_s"] / out["local"]["images_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=0, help="default: 10 (quick: 4)")
    parser.add_argument("--jobs", type=int, default=0, help="default: 32 (quick: 12)")
    parser.add_argument("--repeat", type=int, default=0, help="default: 9 (quick: 5)")
    parser.add_argument("--replica-cpus", type=float, default=1.0)
    parser.add_argument("--local-cpus", type=int, default=0, help="0: the machine's")
    parser.add_argument("--cache", default=str(ROOT / "var" / "models"))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.steps = args.steps or (4 if args.quick else 10)
    args.jobs = args.jobs or (12 if args.quick else 32)
    args.repeat = args.repeat or (5 if args.quick else 9)
    missing = ray_available()
    if missing:
        raise SystemExit(missing)
    with tempfile.TemporaryDirectory():
        out = asyncio.run(main_async(args))
    print(f"{'backend':<10}{'wall ms':>10}{'engine ms':>11}{'overhead ms':>13}{'img/s':>9}")
    for name in ("local", "ray1", "ray2"):
        row = out[name]
        print(f"{name:<10}{row.get('wall_ms', float('nan')):>10.1f}"
              f"{row.get('engine_ms', float('nan')):>11.1f}"
              f"{row.get('overhead_ms', float('nan')):>13.1f}{row['images_per_s']:>9.2f}")
    print(f"Ray per-job overhead ÷ local: {out['ray_overhead_ratio']:.2f}; "
          f"2 replicas ÷ 1 replica throughput: {out['replica_throughput_ratio']:.2f}")
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
