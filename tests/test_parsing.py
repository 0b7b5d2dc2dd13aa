import pytest

from bot.commands.generate import GENERATE
from bot.commands.registry import read_command as parse_command
from bot.config import LimitsSection
from bot.errors import UserError
from bot.models import GenerateRequest
from bot.sizes import size_for

L = LimitsSection()


def parse_generate(args: str, limits: LimitsSection) -> GenerateRequest:
    return GenerateRequest(**GENERATE.parse(args, limits).values)


@pytest.mark.parametrize(
    "text, name, args, mention",
    [
        ("/generate kucing", "generate", "kucing", None),
        ("/gambar@PelukisBot kucing lucu", "gambar", "kucing lucu", "PelukisBot"),
        ("  /START  ", "start", "", None),
        ("/style\nkancil", "style", "kancil", None),
    ],
)
def test_commands(text, name, args, mention):
    cmd = parse_command(text)
    assert (cmd.name, cmd.args, cmd.mention) == (name, args, mention)


@pytest.mark.parametrize("text", ["halo", "", "//x", "/ spasi", "kucing /generate"])
def test_not_commands(text):
    assert parse_command(text) is None


def test_options_anywhere_and_negative_runs_to_next_option():
    req = parse_generate("kucing --seed 42 lucu --no blurry, ugly --cfg 7,5 --ar 16:9", L)
    assert req.prompt == "kucing lucu"
    assert (req.seed, req.cfg, req.negative, req.aspect_ratio) == (42, 7.5, "blurry, ugly", "16:9")


def test_phone_dashes_and_equals():
    req = parse_generate("—seed 5 anjing –steps=10", L)
    assert (req.prompt, req.seed, req.steps) == ("anjing", 5, 10)


def test_raw_and_style_flags():
    req = parse_generate("masterpiece --raw --style Kancil", L)
    assert req.raw and req.style == "kancil" and req.prompt == "masterpiece"


@pytest.mark.parametrize(
    "args, key",
    [
        ("", "generate_usage"),
        ("   --seed 4", "generate_usage"),
        ("x" * 1001, "prompt_too_long"),
        ("x --seed -5", "seed_range"),
        ("x --seed 99999999999999999999999", "seed_range"),
        ("x --seed abc", "not_a_number"),
        ("x --cfg 99", "cfg_range"),
        ("x --cfg nan", "cfg_range"),
        ("x --cfg -1", "cfg_range"),
        ("x --steps 0", "steps_range"),
        ("x --ar 100:1", "ar_range"),
        ("x --ar 0:1", "ar_invalid"),
        ("x --ar wide", "ar_invalid"),
        ("x --foo 3", "option_unknown"),
        ("x --seed", "option_needs_value"),
        ("x --no " + "y" * 600, "negative_too_long"),
    ],
)
def test_bad_generate_input(args, key):
    with pytest.raises(UserError) as err:
        parse_generate(args, L)
    assert err.value.key == key


def test_emoji_and_mixed_scripts_are_prompts():
    req = parse_generate("🐱 kucing ネコ кот <b>&", L)
    assert req.prompt == "🐱 kucing ネコ кот <b>&"


@pytest.mark.parametrize(
    "aspect, native, expected",
    [("1:1", (64, 64), (64, 64)), ("16:9", (768, 768), (1024, 576)),
     ("3:1", (768, 768), (1024, 344)), ("2:3", (512, 512), (416, 624))],
)
def test_sizes_keep_the_native_area_in_multiples_of_8(aspect, native, expected):
    w, h = size_for(aspect, native, 1024)
    assert (w, h) == expected
    assert w % 8 == 0 and h % 8 == 0 and max(w, h) <= 1024
