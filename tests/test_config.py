from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_is_valid_and_matches_defaults():
    shipped = load_config(ROOT / "config.toml", must_exist=True)
    assert shipped.engine.model == "tiny"
    assert shipped.bot.language == "id"
    settings = shipped.engine_settings()
    assert settings.clip_model == "tiny"
    assert Path(settings.adapters) == ROOT / "adapters"


def test_missing_default_file_means_defaults(tmp_path):
    config = load_config(tmp_path / "config.toml")
    assert config.storage.database == "var/pelukis.db"
    assert config.path("var/x") == tmp_path / "var/x"


def test_real_model_uses_real_clip():
    from bot.config import Config, EngineSection

    config = Config(engine=EngineSection(model="stabilityai/stable-diffusion-2-1"))
    assert config.engine_settings().clip_model == "openai/clip-vit-base-patch16"


@pytest.mark.parametrize(
    "text, names",
    [
        ("[engine]\nmax_batch = 0\n", "[engine] max_batch"),
        ("[engine]\nmodle = 'tiny'\n", "[engine] modle: unknown key"),
        ("[bot]\nlanguage = 'fr'\n", "[bot] language"),
        ("[limits]\ndefault_cfg = 50\n", "default_cfg"),
        ("[limits]\ntest_model_cfg = 0.5\n", "test_model_cfg"),
        ("[engine]\ndevice = 'gpu0'\n", "[engine] device"),
        ("[engine]\nscheduler = 'lms'\n", "[engine] scheduler"),
        ("[engine]\nfault_oom_above = 1\n", "[engine] fault_oom_above: unknown key"),  # env now
        ("[storage\n", "not valid TOML"),
        ("[nosuch]\nx = 1\n", "[nosuch]"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, names):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert names in message
    assert "\n" not in message.strip()


def test_engine_settings_take_the_engine_keys_by_name(tmp_path):
    """[engine] keys reach EngineSettings under the same name; the only other fields come
    from [limits] and [safety]; the allowed values are the engine's own."""
    from dataclasses import fields

    from bot.config import EngineSection
    from engine.settings import COMPILE_MODES, DTYPES, SCHEDULERS, EngineSettings

    others = {"min_side", "max_side", "steps_max", "unsafe_concepts", "unsafe_action",
              "upscale_max_side"}
    names = {f.name for f in fields(EngineSettings)}
    assert names - set(EngineSection.model_fields) == others
    path = tmp_path / "c.toml"
    for key, values in (("scheduler", SCHEDULERS), ("dtype", DTYPES),
                        ("compile_mode", COMPILE_MODES)):
        for value in values:
            path.write_text(f"[engine]\n{key} = '{value}'\n")
            assert getattr(load_config(path).engine_settings(), key) == value
    path.write_text("[engine]\nthreads = 3\nadapters = 'styles'\ncache = 'c'\n"
                    "[limits]\nmax_side = 768\nsteps_max = 40\n[safety]\naction = 'blur'\n")
    s = load_config(path).engine_settings()
    assert (s.threads, s.adapters, s.cache) == (3, str(tmp_path / "styles"), str(tmp_path / "c"))
    assert (s.max_side, s.steps_max, s.unsafe_action) == (768, 40, "blur")


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", must_exist=True)
