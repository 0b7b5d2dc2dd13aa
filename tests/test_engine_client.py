"""The bot-side client against a real engine process: the client numbers the batches, aborts
by job id, turns ERROR/DEAD into one EngineError with a kind, and relays the engine's logs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from engine.client import EngineClient
from engine.errors import EngineError, ErrorKind
from engine.protocol import BatchRequest, JobSpec
from engine.settings import EngineSettings

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same folder as tests/test_engine.py uses: the tiny model is built once per session."""
    return tmp_path_factory.getbasetemp() / "pelukis-models"


def settings(model_cache: Path, **overrides) -> EngineSettings:
    return EngineSettings(**{"model": "tiny", "clip_model": "tiny",
                             "adapters": str(ROOT / "adapters"), "cache": str(model_cache),
                             "threads": 1, **overrides})


def request(*job_ids: int, steps: int = 2, width: int = 64) -> BatchRequest:
    return BatchRequest("kancil", width, 64, steps, 7.0,
                        [JobSpec(i, f"a cat number {i}", seed=i) for i in job_ids])


async def test_batches_are_numbered_by_the_client_and_aborted_by_job_id(
    model_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = EngineClient(settings(model_cache))
    await client.start(timeout=300)
    try:
        first = await client.run_batch(request(1, 2))
        second = await client.run_batch(request(3))
        assert [(r.batch_id, r.job_id) for r in first] == [(1, 1), (1, 2)]
        assert [(r.batch_id, r.job_id) for r in second] == [(2, 3)]

        def abort_at_step_1(job_ids: list[int]):
            def on_progress(step: int, total: int) -> None:
                if step == 1:
                    asyncio.get_running_loop().create_task(client.abort(job_ids))
            return on_progress

        # some jobs of the batch in flight: their images are dropped (99 is in no batch)
        got = await client.run_batch(request(4, 5, steps=20), abort_at_step_1([5, 99]))
        assert [(r.batch_id, r.job_id) for r in got] == [(3, 4)]
        # every job of it: the batch ends at once
        with pytest.raises(EngineError) as caught:
            await client.run_batch(request(6, 7, steps=100), abort_at_step_1([6, 7]))
        assert caught.value.kind == ErrorKind.ABORTED
        await client.abort([1, 2, 3])  # nothing in flight: ignored
        with pytest.raises(EngineError) as caught:
            await client.run_batch(request(8, width=65))
        assert caught.value.kind == ErrorKind.INVALID
        assert caught.value.message.startswith("batch 5: width 65")
        assert len(await client.run_batch(request(9))) == 1  # and it goes on
    finally:
        await client.close()
    assert not client.alive
    with pytest.raises(EngineError) as caught:
        await client.run_batch(request(10))
    assert caught.value.kind == ErrorKind.DEAD
    # the engine process's lines arrive under its own logger, the prefix taken off
    relayed = [r for r in caplog.records if r.name == "pelukis.engine"]
    assert any(r.getMessage().startswith("engine ready in") and r.levelno == logging.INFO
               for r in relayed)
    assert not any(r.getMessage().startswith(("INFO ", "WARNING ")) for r in relayed)


async def test_oom_fault_from_the_environment_and_a_failed_start(
    model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PELUKIS_FAULT_OOM_ABOVE", "1")  # the engine process inherits it
    client = EngineClient(settings(model_cache))
    await client.start(timeout=300)
    try:
        with pytest.raises(EngineError) as caught:
            await client.run_batch(request(1, 2))
        assert caught.value.kind == ErrorKind.OOM
        assert "simulated out of memory with 2 images" in caught.value.message
        assert [r.job_id for r in await client.run_batch(request(3))] == [3]
    finally:
        await client.close()

    broken = EngineClient(settings(model_cache, adapters=str(tmp_path / "missing")))
    try:
        with pytest.raises(EngineError) as caught:
            await broken.start(timeout=120)
        # a missing folder fails every start alike: broken, not worth a restart
        assert caught.value.kind == ErrorKind.BROKEN and "missing" in caught.value.message
    finally:
        await broken.close()
