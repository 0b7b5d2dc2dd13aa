"""The engine on Ray Serve (``[engine] backend = "ray"``), on one local Ray cluster per test
session: 2 CPUs, replicas on half a CPU each and no GPU (a replica asking for a GPU never
starts on a CPU-only machine), ``RAY_AUTH_MODE=disabled``. The replicas run the real
``Engine`` on the tiny model; Telegram is the fake Bot API server.

Skipped when ray[serve] is not installed (``pip install '.[ray]'``); ``pytest -m ray`` runs
only these.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

from bot.config import load_config
from bot.i18n import t
from bot.models import JobState
from engine.errors import EngineError, ErrorKind
from engine.protocol import BatchRequest, JobSpec
from engine.ray_client import DEPLOYMENT, RayEngineClient, ray_available
from tests.conftest import write_config
from tests.fake_telegram import FakeBotAPI
from tests.test_telegram import picture, start, status_photo, stop, until
from tests.test_telegram_process import killed_mid_queue_and_restarted

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="session")
def ray_cluster():
    """The cluster's GCS address; the test process is its first driver."""
    missing = ray_available()
    if missing is not None:
        pytest.skip(missing)
    os.environ["RAY_AUTH_MODE"] = "disabled"  # also for the bot processes started below
    import ray
    from ray import serve

    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="pelukis",
             log_to_driver=False)
    serve.start(proxy_location="Disabled")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        serve.shutdown()
        ray.shutdown()


def ray_section(address: str, app: str, **extra) -> dict:
    """[ray] for tests: replicas on half a CPU each, no GPU."""
    return {"address": address, "app_name": app, "num_cpus": 0.5, "num_gpus": 0,
            "min_replicas": 2, "max_replicas": 2, **extra}


_CALL = re.compile(r"pelukis batch \d+: (\d+) request\(s\), jobs \[([\d, ]*)\], model id (\S+)")


def replica_calls(app: str) -> dict[str, list[tuple[int, list[int], str]]]:
    """replica id → its pipeline calls so far (requests merged, job ids, model id), read
    from the replicas' Serve log files (what an operator reads too)."""
    import ray

    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs" / "serve"
    out: dict[str, list[tuple[int, list[int], str]]] = {}
    for path in logs.glob(f"replica_{app}_{DEPLOYMENT}_*.log"):
        calls = out.setdefault(path.stem.rsplit("_", 1)[-1], [])
        for m in _CALL.finditer(path.read_text(errors="replace")):
            calls.append((int(m[1]), [int(x) for x in m[2].split(",") if x.strip()], m[3]))
    return out


def kill_replica(app: str, replica: str) -> None:
    """The replica's actor dies at once, with every request it holds."""
    import ray

    ray.kill(ray.get_actor(f"SERVE_REPLICA::{app}#{DEPLOYMENT}#{replica}", namespace="serve"),
             no_restart=True)


def tg_config(tmp_path: Path, fake: FakeBotAPI, ray: dict):
    return load_config(write_config(
        tmp_path, engine={"backend": "ray"}, ray=ray, bot={"language": "en"},
        telegram={"base_url": fake.base_url, "base_file_url": fake.base_file_url,
                  "poll_timeout_s": 1, "edit_interval_s": 0.2, "rate_limit": False},
    ), must_exist=True)


async def test_one_replica_streams_progress_merges_only_compatible_and_cancels(
        ray_cluster, tmp_path):
    app = "t-one"
    config = load_config(write_config(tmp_path, ray=ray_section(
        ray_cluster, app, min_replicas=1, max_replicas=1, max_ongoing_requests=4,
        batch_wait_s=0.5)))
    client = RayEngineClient(config.engine_settings(), config.ray_settings())
    info = await client.start()
    try:
        assert info.model == "tiny" and "kancil" in info.styles and client.concurrency == 4
        # progress streams back, step by step; the images come back in job order
        steps: list[tuple[int, int]] = []
        req = BatchRequest(None, 64, 64, 4, 7.5, [JobSpec(1, "a cat", seed=1),
                                                   JobSpec(2, "a dog", seed=2)])
        results = await client.run_batch(req, lambda s, n: steps.append((s, n)))
        assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert [r.job_id for r in results] == [1, 2]
        assert all(r.png[:4] == b"\x89PNG" and r.width == 64 for r in results)
        again = await client.run_batch(BatchRequest(None, 64, 64, 4, 7.5,
                                                    [JobSpec(2, "a dog", seed=2)]))
        assert again[0].png == results[1].png  # the same Engine: same seed, same bytes
        # a picture job: its input picture travels beside the body (a frame's payload)
        redraw = await client.run_batch(BatchRequest(
            None, 64, 64, 4, 7.5, [JobSpec(3, "a cat", seed=1, image=results[0].png)],
            job_kind="img2img", strength=0.5))
        assert redraw[0].png[:4] == b"\x89PNG" and redraw[0].png != results[0].png

        # four single-job batches at once, two styles: merged only with their own kind
        def one(job_id: int, style: str | None) -> BatchRequest:
            return BatchRequest(style, 64, 64, 4, 7.5, [JobSpec(job_id, "x", seed=job_id)])

        style_of = {11: "kancil", 12: None, 13: "kancil", 14: None}
        out = await asyncio.gather(*[client.run_batch(one(j, s)) for j, s in style_of.items()])
        assert [[r.job_id for r in o] for o in out] == [[11], [12], [13], [14]]
        calls = [c for cs in (await until(lambda: replica_calls(app) or None)).values()
                 for c in cs if set(c[1]) & set(style_of)]
        for _, jobs, model_id in calls:
            assert len({style_of[j] for j in jobs}) == 1, calls  # never mixed
            assert model_id.startswith(style_of[jobs[0]] or "none")
        assert any(n == 2 for n, _, _ in calls), calls  # @serve.batch merged a pair

        # cancelling every job of a batch reaches the replica: it stops early
        steps.clear()
        long = asyncio.create_task(client.run_batch(
            BatchRequest(None, 64, 64, 40, 7.5, [JobSpec(21, "a boat", seed=3)]),
            lambda s, n: steps.append((s, n))))
        await until(lambda: steps, 60, "the first step")
        await client.abort([21])
        with pytest.raises(EngineError) as err:
            await long
        assert err.value.kind == ErrorKind.ABORTED
        await asyncio.sleep(1.0)
        assert len(steps) < 40
        # the replica is free again at once: it did not paint the rest
        started = time.monotonic()
        assert len(await client.run_batch(one(22, None))) == 1
        assert time.monotonic() - started < 30

        # a job cancelled out of a batch with another: the other's image still comes back
        steps.clear()
        pair = asyncio.create_task(client.run_batch(
            BatchRequest(None, 64, 64, 8, 7.5, [JobSpec(31, "a", seed=1),
                                                 JobSpec(32, "b", seed=2)]),
            lambda s, n: steps.append((s, n))))
        await until(lambda: steps, 60, "the first step")
        await client.abort([31])
        assert [r.job_id for r in await pair] == [32]

        # a style reload reaches the replicas (Serve's reconfigure) and answers the list
        answer = await client.reload_styles()
        assert answer.error == "" and set(answer.styles) == set(info.styles)
        assert answer.request_id == 1
        assert len(await client.run_batch(one(23, "kancil"))) == 1
    finally:
        await client.close()


async def test_users_through_two_replicas_and_a_replica_killed_mid_batch(ray_cluster,
                                                                         tmp_path):
    """Jobs of several users, two styles, through the Telegram front end and two replicas;
    then a replica killed while it paints: its jobs go back to the queue with the attempt
    counted, their users are told, and every picture arrives exactly once."""
    app_name = "t-two"
    fake = FakeBotAPI()
    config = tg_config(tmp_path, fake, ray_section(ray_cluster, app_name))
    app, service = await start(config, fake)
    try:
        assert app.dispatcher.client.concurrency == 4

        async def burst(users: range, steps: int) -> list[tuple[dict, object]]:
            sent = []
            for uid in users:
                style = "kancil" if uid % 2 else "none"
                sent.append(fake.send_text(uid, uid, f"/generate a lighthouse {uid} --steps "
                                                     f"{steps} --seed {uid} --style {style}",
                                           lang="en"))
            return [(r, await status_photo(fake, r["message_id"])) for r in sent]

        def shown_once(pairs) -> None:
            for request, status in pairs:
                edits = [c for c in fake.calls_to("editMessageMedia")
                         if int(c.params["message_id"]) == status.result["message_id"]]
                assert len(edits) == 1, (request["message_id"], edits)

        first = await burst(range(101, 105), 4)
        for _, status in first:
            await picture(fake, status)
        await asyncio.sleep(0.5)
        shown_once(first)
        jobs = {j.id: j for j in await app.store.jobs_in(JobState.DONE)}
        assert len(jobs) == 4
        calls = replica_calls(app_name)
        assert len([r for r, cs in calls.items() if cs]) == 2, calls  # both replicas painted
        for cs in calls.values():
            for _, ids, _ in cs:
                assert len({jobs[i].style for i in ids}) == 1, calls  # one style a call

        # a replica dies mid-batch
        before = {r: len(cs) for r, cs in calls.items()}
        second = await burst(range(111, 115), 40)

        def painting() -> tuple[str, list[int]] | None:
            for replica, cs in replica_calls(app_name).items():
                if len(cs) > before.get(replica, 0):
                    return replica, cs[-1][1]
            return None

        replica, lost = await until(painting, 120, "a replica painting")
        kill_replica(app_name, replica)
        for _, status in second:
            await picture(fake, status)
        await asyncio.sleep(1.0)
        shown_once(second)
        for job_id in lost:
            job = await app.store.job(job_id)
            assert job.state == JobState.DONE and job.attempts == 2, job
        restarting = t("en", "engine_restarting")
        told = [c for c in fake.calls if restarting in str(c.params.get("caption", ""))]
        assert len(told) >= 1, "the users of the lost batch were told it is retried"
        assert len(fake.calls_to("editMessageMedia")) == 8  # one picture per job, no more
    finally:
        await stop(app, service)
        fake.close()


def test_python_m_bot_on_ray_killed_and_restarted(ray_cluster, tmp_path):
    """The end-to-end Telegram test of the local backend, with backend = "ray": the bot is
    killed (-9) with jobs queued and started again; every photo arrives exactly once."""
    killed_mid_queue_and_restarted(
        tmp_path, engine={"backend": "ray"},
        ray=ray_section(ray_cluster, "t-e2e", min_replicas=1, max_replicas=1))


def replica_actors(app: str) -> list[str]:
    import ray

    prefix = f"SERVE_REPLICA::{app}#{DEPLOYMENT}#"
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if a["name"].startswith(prefix)]


async def test_autoscaling_adds_a_replica_when_the_queue_is_deep(ray_cluster, tmp_path):
    app = "t-auto"
    config = load_config(write_config(tmp_path, limits={"steps_max": 50}, ray=ray_section(
        ray_cluster, app, min_replicas=1, max_replicas=2, upscale_delay_s=1,
        downscale_delay_s=600)))
    client = RayEngineClient(config.engine_settings(), config.ray_settings())
    await client.start()
    try:
        assert len(replica_actors(app)) == 1  # starts at min_replicas
        gate = asyncio.Semaphore(client.concurrency)  # as the dispatcher keeps them in flight

        async def run(job_id: int) -> int:
            async with gate:
                req = BatchRequest(None, 64, 64, 50, 7.5, [JobSpec(job_id, "x", seed=job_id)])
                return len(await client.run_batch(req))

        batches = asyncio.gather(*[run(100 + i) for i in range(16)])
        await until(lambda: len(replica_actors(app)) == 2, 120, "a second replica")
        assert await batches == [1] * 16
    finally:
        await client.close()
