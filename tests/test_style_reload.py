"""Styles reach the chat without a restart (issue 12): the engine reloads the adapters folder
while it runs (new, changed and removed LoRAs; a bad one reported and skipped, the others
untouched), the bot's style list follows, and in a running console chat an adapter that
appears in the folder is picked up by the watch and paints a different image than ``none``;
``/style reload`` does the same at once, for moderators only."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from bot.commands.registry import Commands
from bot.config import Config, EngineSection, StorageSection
from bot.models import Incoming
from bot.storage import Store
from bot.translation.chain import Translator
from engine.styles import StyleRegistry
from tests.conftest import MODEL_CACHE, write_config
from tests.lora_files import Chat, copy_shipped, sd1_lora, style_folder

ANIME_LORA = Path(__file__).resolve().parent.parent / "adapters" / "retro-anime" / \
    "tiny-lora.safetensors"
KANCIL_LORA = ANIME_LORA.parent.parent / "kancil" / "tiny-lora.safetensors"


# ---------------------------------------------------------------- /style reload in the core


async def test_reload_is_a_word_of_style_not_a_name_and_needs_a_moderator(tmp_path: Path):
    root = copy_shipped(tmp_path / "adapters")
    style_folder(root, "reload", ANIME_LORA)  # no style may be called that
    registry = StyleRegistry.load(root)
    assert "reload" not in registry.names() and "reload" in registry.problems
    config = Config(storage=StorageSection(database=str(tmp_path / "db"),
                                           images=str(tmp_path / "img")),
                    engine=EngineSection(adapters=str(root)))
    store = await Store.open(tmp_path / "db", tmp_path / "img")
    asked = []

    async def reload():
        from bot.styles_reload import ReloadOutcome

        asked.append(1)
        return ReloadOutcome(["kancil", "new-one"], added=["new-one"], engine=True,
                             failures={"kancil": "made for SD 1.x"})

    core = Commands(config, store, registry, Translator(store=store), reload_styles=reload)
    try:
        def msg(private: bool) -> Incoming:
            return Incoming(platform="telegram", chat_id="g", user_id="u", text="/style reload",
                            private=private, group_id="" if private else "g", locale="en")

        denied = await core.handle(msg(private=False))
        assert "Only this chat's admins and moderators" in denied[0].text and not asked
        done = (await core.handle(msg(private=True)))[0].text
        assert asked and "Styles reloaded: 2 available." in done and "New: new-one." in done
        assert "Could not be loaded (see the bot's log): kancil." in done
    finally:
        await store.close()


# ---------------------------------------------------------------- the engine reloads in place

torch = pytest.importorskip("torch")


@pytest.fixture
def engine(tmp_path: Path):
    from engine.core import Engine
    from engine.settings import EngineSettings

    torch.set_num_threads(1)
    root = tmp_path / "adapters"
    root.mkdir()
    style_folder(root, "kancil", KANCIL_LORA)
    return Engine(EngineSettings(model="tiny", clip_model="tiny", adapters=str(root),
                                 cache=str(MODEL_CACHE), threads=1))


def _image(engine, style: str | None) -> bytes:
    from engine.protocol import BatchRequest, JobSpec

    req = BatchRequest(style=style, width=64, height=64, steps=3, cfg=7.5,
                       jobs=[JobSpec(job_id=1, prompt="a lighthouse", seed=3)])
    return engine.run_batch(req)[0].png


def _touch_later(path: Path) -> None:
    st = path.stat()  # a new mtime even on a coarse clock
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_engine_reloads_new_changed_bad_and_removed_styles(engine, tmp_path: Path) -> None:
    root = Path(engine.settings.adapters)
    none, kancil = _image(engine, None), _image(engine, "kancil")
    assert engine.reload_styles().added == []  # nothing changed: nothing reloaded

    style_folder(root, "fresh", ANIME_LORA)
    (root / "half").mkdir()
    (root / "half" / "style.toml").write_text('name = "half"\nprompt = "{prompt')  # mid-write
    style_folder(root, "waiting", None, manifest='name = "waiting"\n'
                 'test_weights = "lora.safetensors"\n[id]\ntitle = "w"\n[en]\ntitle = "w"\n')
    done = engine.reload_styles(7)
    assert (done.request_id, done.added, done.removed) == (7, ["fresh"], [])
    assert set(done.problems) == {"half", "waiting"} and "incomplete" in done.problems["waiting"]
    assert "fresh" in done.lora_styles and "fresh" in engine.registry.names()
    fresh = _image(engine, "fresh")
    assert fresh not in (none, kancil)
    assert _image(engine, None) == none and _image(engine, "kancil") == kancil

    # retrained into a file that does not fit: reported, the previous version stays
    lora = root / "fresh" / "lora.safetensors"
    sd1_lora(lora, Path(engine._model_source("tiny")))
    _touch_later(lora)
    done = engine.reload_styles()
    assert done.changed == ["fresh"] and "fresh" in done.lora_styles
    assert done.failures["fresh"].startswith("made for SD 1.x: cross-attention 768")
    assert "previous version stays in use" in done.failures["fresh"]
    assert _image(engine, "fresh") == fresh

    # retrained into one that fits: loaded again
    shutil.copyfile(KANCIL_LORA, lora)
    _touch_later(lora)
    done = engine.reload_styles()
    assert done.changed == ["fresh"] and "fresh" not in done.failures
    assert _image(engine, "fresh") not in (fresh, none)

    shutil.rmtree(root / "fresh")
    done = engine.reload_styles()
    assert done.removed == ["fresh"] and "fresh" not in done.lora_styles
    assert all("fresh" not in names for names in engine.pipe.get_list_adapters().values())
    assert _image(engine, None) == none and _image(engine, "kancil") == kancil


# ---------------------------------------------------------------- a running bot


@pytest.mark.slow
def test_running_chat_picks_up_a_new_adapter_without_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "adapters"
    root.mkdir()
    style_folder(root, "kancil", KANCIL_LORA)
    config = write_config(tmp_path, engine={"adapters": str(root), "adapters_poll_s": 0.2},
                          bot={"log_level": "INFO", "log_file": str(tmp_path / "bot.log")})
    chat = Chat(config)
    chat.say("/generate a lighthouse --seed 3 --steps 2 --style none")
    chat.until(lambda out: out.count("Saved: ") == 1)  # the engine runs

    style_folder(root, "fresh", ANIME_LORA)  # a trainer's atomic write into adapters/
    chat.until(lambda out: re.search(r"^▫️ fresh — fresh \(en\)", out, re.M) is not None,
               every=lambda: chat.say("/style"))
    chat.say("/generate a lighthouse --seed 3 --steps 2 --style fresh")
    chat.until(lambda out: out.count("Saved: ") == 2)

    style_folder(root, "fresh-two", KANCIL_LORA)
    chat.say("/style reload")  # at once, without waiting for the watch
    chat.until(lambda out: "Styles reloaded" in out)
    run = chat.close()
    assert run.returncode == 0, run.stderr[-3000:]
    none, fresh = (Path(p).read_bytes() for p in re.findall(r"Saved: (.+)$", run.stdout, re.M))
    assert fresh != none
    assert "Style: fresh (en)" in run.stdout
    # by the watch or by the command, whichever came first: three styles now
    assert "Styles reloaded: 3 available." in run.stdout
    log = (tmp_path / "bot.log").read_text()
    assert log.count("engine ready in") == 1  # one engine all along
    assert "adapters folder changed: reloading styles" in log
