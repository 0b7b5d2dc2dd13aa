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
    assert Path(settings.adapters_dir) == ROOT / "adapters"


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
        ("[engine]\ndevice = 'gpu0'\n", "[engine] device"),
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


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", must_exist=True)
