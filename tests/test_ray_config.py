"""The Ray backend's settings and the backend choice, without Ray: [engine] backend and
[ray] are declared once (engine/settings.py), shipped in config.toml and named in the README;
the default install never needs ray."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from engine.backend import make_backend
from engine.client import EngineClient
from engine.protocol import BatchRequest, JobSpec
from engine.ray_client import RayEngineClient, batch_model_id
from engine.settings import RaySettings

ROOT = Path(__file__).resolve().parent.parent


def test_ray_section_is_declared_once_shipped_and_documented():
    shipped = load_config(ROOT / "config.toml", must_exist=True)
    assert shipped.engine.backend == "local"  # the default install runs without Ray
    assert asdict(shipped.ray_settings()) == asdict(RaySettings())  # config.toml = defaults
    names = {f.name for f in fields(RaySettings)}
    assert set(type(shipped.ray).model_fields) == names
    toml = tomllib.loads((ROOT / "config.toml").read_text())
    assert set(toml["ray"]) == names and "backend" in toml["engine"]
    readme = (ROOT / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `[ray]`"))
    assert all(f"`{name}`" in row for name in names), row
    doc = (ROOT / "docs" / "ray.md").read_text()
    assert all(f"`{name}`" in doc for name in names)


@pytest.mark.parametrize("text, names", [
    ("[engine]\nbackend = 'gpu'\n", "[engine] backend"),
    ("[ray]\nmin_replicas = 3\nmax_replicas = 2\n", "min_replicas must not exceed"),
    ("[ray]\nnum_gpu = 1\n", "[ray] num_gpu: unknown key"),
    ("[ray]\nmax_replicas = 0\n", "[ray] max_replicas"),
    ("[ray]\napp_name = 'a b'\n", "[ray] app_name"),
])
def test_bad_ray_config_is_one_line_naming_the_key(tmp_path, text, names):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert names in str(err.value) and "\n" not in str(err.value).strip()


def test_the_backend_factory_makes_the_configured_backend(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[engine]\nbackend = 'ray'\n[ray]\nmax_replicas = 3\n"
                    "max_ongoing_requests = 2\n")
    config = load_config(path)
    ray = make_backend(config.engine.backend, config.engine_settings(), config.ray_settings())()
    assert isinstance(ray, RayEngineClient) and not ray.alive
    assert ray.concurrency == 6  # every replica's ongoing batches
    local = make_backend("local", config.engine_settings())()
    assert isinstance(local, EngineClient) and local.concurrency == 1
    with pytest.raises(ValueError, match="unknown engine backend"):
        make_backend("gpu", config.engine_settings())


def test_batch_model_id_is_the_batch_key_not_its_jobs():
    def req(style="kancil", steps=4, jobs=(1,)):
        return BatchRequest(style, 64, 64, steps, 7.5, [JobSpec(j, f"p{j}", seed=j) for j in jobs])

    assert batch_model_id(req()) == batch_model_id(req(jobs=(2, 3)))
    assert batch_model_id(req()).startswith("kancil.")
    assert batch_model_id(req(style=None)).startswith("none.")
    assert batch_model_id(req()) != batch_model_id(req(steps=8))
    assert batch_model_id(req()) != batch_model_id(req(style="retro-anime"))


def test_doctor_checks_the_ray_extra_only_for_the_ray_backend(tmp_path):
    from bot.doctor import run_doctor
    from engine.ray_client import ray_available
    from tests.conftest import write_config

    def doctor(**sections) -> list[str]:
        lines: list[str] = []
        run_doctor(write_config(tmp_path, **sections), lines.append)
        return [line for line in lines if "ray:" in line]

    assert doctor() == []  # the local backend needs no Ray
    (line,) = doctor(engine={"backend": "ray"}, ray={"max_replicas": 2})
    if ray_available() is None:
        assert line.startswith("ok") and "a local cluster the bot starts, 1–2 replica(s)" in line
    else:
        assert line.startswith("FAIL") and "pip install '.[ray]'" in line
