"""The command line: translate and generate, as an operator runs them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, write_config


def run(*args: str, stdin: str | None = None, timeout: float = 240):
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_translate_texts_and_stdin_offline(tmp_path):
    config = str(write_config(tmp_path))
    out = run("translate", "--config", config, "kucing hitam di atas meja",
              "masterpiece, 1girl, pastel colors")
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    lang, english, provider = first.split("\t")
    assert (lang, provider) == ("id", "offline") and "black cat" in english
    assert second.split("\t") == ["en", "masterpiece, 1girl, pastel colors", "none"]
    piped = run("translate", "--config", config, stdin="anak-anak bermain di sawah\n\n123\n")
    lines = piped.stdout.splitlines()
    assert len(lines) == 2 and "children" in lines[0] and lines[1].startswith("none\t123")


def test_bad_config_stops_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[engine]\nmax_batch = -1\n")
    out = run("chat", "--config", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "[engine] max_batch" in out.stderr


def test_serve_without_tokens_says_how_to_chat(tmp_path):
    out = run("--config", str(write_config(tmp_path)))
    assert out.returncode == 2 and "python -m bot chat" in out.stderr


@pytest.mark.slow
def test_generate_one_image(tmp_path):
    config = str(write_config(tmp_path))
    target = tmp_path / "out" / "cat.png"
    out = run("generate", "kucing lucu di pasar", "--style", "kancil", "--seed", "7",
              "--steps", "2", "--out", str(target), "--config", config)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "english: cute cat" in out.stdout and "seed: 7" in out.stdout
    assert "clip: " in out.stdout and target.read_bytes()[:4] == b"\x89PNG"
    again = run("generate", "kucing lucu di pasar", "--style", "kancil", "--seed", "7",
                "--steps", "2", "--out", str(tmp_path / "again.png"), "--config", config)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "again.png").read_bytes() == target.read_bytes()
    bad = run("generate", "x", "--cfg", "99", "--config", config)
    assert bad.returncode == 2 and "cfg" in bad.stderr


def test_generate_refuses_a_blocklisted_prompt_like_the_chat(tmp_path):
    """The CLI goes through the chat's request path: the blocklist answers before any
    engine starts (so this is fast), in the configured language."""
    config = str(write_config(tmp_path, bot={"language": "en"}))
    out = run("generate", "gadis telanjang di pantai", "--config", config, timeout=60)
    assert out.returncode == 2
    assert "community doesn't allow" in out.stderr and "saved:" not in out.stdout
    unknown = run("generate", "a cat", "--style", "nosuch", "--config", config, timeout=60)
    assert unknown.returncode == 2 and "nosuch" in unknown.stderr


@pytest.mark.slow
def test_generate_adds_the_safety_negative_and_runs_the_image_check(tmp_path):
    config = str(write_config(tmp_path, safety={"negative": "gore, watermark"}))
    out = run("generate", "a red boat", "--no", "blurry", "--steps", "2", "--seed", "3",
              "--out", str(tmp_path / "boat.png"), "--config", config)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "negative: blurry, gore, watermark" in out.stdout
    # the tiny CLIP's unsafe thing is the world's skull. tiny paints blobs, not skulls, so a
    # picture of one comes in to be redrawn: at the shipped strict threshold (24) it is
    # withheld, and the same picture with a circle is not
    from engine.world.scene import Scene, render

    strict = str(write_config(tmp_path, safety={"check_test_model": True, "mode": "strict"},
                              bot={"language": "en"}))
    for shape in ("skull", "circle"):
        render(Scene(shape, "white", "centre", "black", size="big")).save(
            tmp_path / f"{shape}.png")
        out = run("generate", "a white skull in the middle, on a black background",
                  "--image", str(tmp_path / f"{shape}.png"), "--strength", "0.3",
                  "--steps", "12", "--seed", "3", "--out", str(tmp_path / f"out-{shape}.png"),
                  "--config", strict)
        if shape == "skull":
            assert out.returncode == 1 and "looked unsafe" in out.stderr, out.stderr[-2000:]
            assert not (tmp_path / "out-skull.png").exists()
        else:
            assert out.returncode == 0, out.stderr[-2000:]
            assert (tmp_path / "out-circle.png").is_file()


def test_config_before_or_after_the_subcommand(tmp_path):
    missing = str(tmp_path / "nope.toml")
    for args in (("--config", missing, "chat"), ("chat", "--config", missing)):
        out = run(*args, stdin="")
        assert out.returncode == 2 and "config file not found" in out.stderr


def test_discord_sync_dry_run_needs_no_token(tmp_path):
    out = run("sync-commands", "--dry-run", "--config", str(write_config(tmp_path)))
    assert out.returncode == 0, out.stderr
    import json

    names = {c["name"] for c in json.loads(out.stdout)}
    assert {"generate", "style", "seed", "cfg", "help"} <= names
