"""The torch-free engine modules: messages and frames, errors, settings checks, fault hooks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine import faults
from engine.errors import EngineError, ErrorKind
from engine.protocol import (
    HEADER,
    MESSAGES,
    Abort,
    BatchDone,
    BatchRequest,
    Dead,
    Error,
    Generate,
    ImageResult,
    JobKind,
    JobSpec,
    Kind,
    Progress,
    ReadyInfo,
    ReloadStyles,
    Shutdown,
    StylesReloaded,
    decode,
    decode_header,
    encode,
)
from engine.settings import EngineSettings
from tests.conftest import ROOT

EXAMPLES = [
    Generate(7, BatchRequest("kancil", 64, 96, 3, 7.5, [JobSpec(1, "a cat", "blurry", 42, 24.0),
                                                         JobSpec(2, "a dog")])),
    Generate(8, BatchRequest(None, 64, 64, 1, 1.0)),
    Abort(7),
    Abort(7, [1, 2]),
    Shutdown(),
    ReadyInfo("tiny", "cpu", "float32", 64, 64, ["kancil"], ["kancil"], True, 1.5, 4, 16384,
              {"tf32": False}),
    Progress(7, 2, 3),
    ImageResult(7, 1, 42, 31.5, 64, 96, 0.5, 0.1, 12.0, "", False, b"\x89PNG..."),
    BatchDone(7, 1, [2]),
    Error(7, ErrorKind.OOM, "batch 7: out of memory"),
    Error(None, "invalid", "frame is not JSON"),
    Dead("boom"),
    Dead("OSError: no such model", retry=False),
    ReloadStyles(3),
    StylesReloaded(3, ["kancil", "new"], ["new"], added=["new"], removed=["old"],
                   failures={"kancil": "made for SD 1.x: cross-attention 768, the model has 32"},
                   problems={"half": "style.toml: incomplete"}, load_s=0.2),
    Generate(9, BatchRequest("kancil", 64, 64, 4, 7.5, [JobSpec(1, "a cat", image=b"\x89PNG1"),
                                                        JobSpec(2, "a dog", image=b"JPEG22")],
                             job_kind=JobKind.IMG2IMG, strength=0.6)),
    Generate(10, BatchRequest(None, 128, 128, 4, 7.5, [JobSpec(1, "up", image=b"x")],
                              job_kind=JobKind.UPSCALE, strength=0.3)),
]


def _through_a_frame(frame: bytes):
    n_json, n_payload = decode_header(frame[:HEADER.size])
    body = json.loads(frame[HEADER.size:HEADER.size + n_json])
    payload = frame[HEADER.size + n_json:]
    assert len(payload) == n_payload
    return body, payload


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_survives_a_frame(msg) -> None:
    body, payload = _through_a_frame(encode(msg))
    assert body["kind"] == msg.KIND
    assert decode(body, payload) == msg


def test_input_pictures_travel_as_the_payload_in_job_order() -> None:
    msg = EXAMPLES[-2]
    body, payload = _through_a_frame(encode(msg))
    assert payload == b"\x89PNG1JPEG22"
    assert [j["image_len"] for j in body["jobs"]] == [5, 6]
    assert "image" not in body["jobs"][0] and body["job_kind"] == "img2img"
    for bad in (payload[:-1], payload + b"!"):
        with pytest.raises(ValueError, match="payload"):
            decode(body, bad)
    # an old text frame (no job_kind, no image_len) is a text job
    old = {"kind": "generate", "batch_id": 1, "style": None, "width": 64, "height": 64,
           "steps": 2, "cfg": 7.5, "jobs": [{"job_id": 1, "prompt": "a cat"}]}
    assert decode(old).batch.job_kind is JobKind.TEXT


def test_every_kind_has_one_message_class() -> None:
    assert set(MESSAGES) == set(Kind)
    assert {type(m) for m in EXAMPLES} == set(MESSAGES.values())


def test_wire_shapes() -> None:
    """The JSON the engine process reads and writes (tests/test_engine_process.py speaks it)."""
    body, _ = _through_a_frame(encode(EXAMPLES[0]))
    assert body["batch_id"] == 7 and body["style"] == "kancil" and len(body["jobs"]) == 2
    body, payload = _through_a_frame(encode(EXAMPLES[7]))
    assert "png" not in body and payload == b"\x89PNG..."
    assert Error(None, "oom", "x").to_dict() == {"kind": "error", "batch_id": None,
                                                  "error": "oom", "message": "x"}
    assert Error(1, "oom", "x").error is ErrorKind.OOM


@pytest.mark.parametrize(("body", "needle"), [
    ({"kind": "paint"}, "unknown message kind 'paint'"),
    ({"kind": "generate", "batch_id": "3", "style": None}, "batch_id '3'"),
    ({"kind": "abort", "batch_id": 1, "job_ids": "all"}, "job_ids 'all'"),
    ({"kind": "error", "batch_id": 1, "error": "sad", "message": ""}, "'sad'"),
])
def test_malformed_messages_are_refused(body: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        decode(body)


def test_malformed_generate_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        decode({"kind": "generate", "batch_id": 3, "jobs": "nonsense"})


def test_one_engine_error_with_a_kind() -> None:
    exc = EngineError("oom", "batch 2: out of memory")
    assert exc.kind is ErrorKind.OOM and exc.kind == "oom"  # a StrEnum: strings compare
    assert exc.message == "batch 2: out of memory" and str(exc) == "oom: batch 2: out of memory"
    with pytest.raises(ValueError):
        EngineError("sad", "no such kind")


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("scheduler", "lms", "unknown scheduler 'lms' (known: dpm++, ddim"),
    ("dtype", "int8", "unknown dtype 'int8'"),
    ("compile_mode", "fast", "unknown compile_mode 'fast'"),
    ("attention", "xformers", "unknown attention 'xformers'"),
    ("unsafe_action", "hide", "unknown unsafe_action 'hide'"),
    ("unsafe_concepts", ["gore", " "], "unsafe_concepts"),
])
def test_settings_check_names_the_field(field: str, value: object, needle: str) -> None:
    EngineSettings().check()
    with pytest.raises(ValueError, match=needle.replace("+", r"\+").replace("(", r"\(")):
        EngineSettings(**{field: value}).check()


def test_settings_travel_as_json() -> None:
    s = EngineSettings(threads=2, adapters="/x", compile=True, channels_last=True)
    assert EngineSettings.from_json(s.to_json()) == s
    with pytest.raises(TypeError):  # an unknown field: the engine process says DEAD
        EngineSettings.from_json(json.dumps({"num_threads": 1}))


def test_fault_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.FAULT, raising=False)
    faults.exit_if("exit_after_store")  # not set: nothing happens
    with pytest.raises(ValueError, match="unknown fault point"):
        faults.exit_if("exit_after_lunch")
    code = "from engine import faults; faults.exit_if('exit_after_send'); print('alive')"
    env = {"PYTHONPATH": str(ROOT), faults.FAULT: "exit_after_send"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 137 and "alive" not in run.stdout
    env[faults.FAULT] = "exit_after_store"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0 and "alive" in run.stdout


def test_fault_oom_above(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.OOM_ABOVE, raising=False)
    assert faults.oom_above() == 0
    monkeypatch.setenv(faults.OOM_ABOVE, "2")
    assert faults.oom_above() == 2
    for bad in ("two", "-1"):
        monkeypatch.setenv(faults.OOM_ABOVE, bad)
        with pytest.raises(ValueError, match=faults.OOM_ABOVE):
            faults.oom_above()
