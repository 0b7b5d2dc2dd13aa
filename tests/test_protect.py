"""Protected segments: what the translator must never touch."""

import pytest

from bot.translation.protect import Segment, split_protected


def protected(text: str) -> list[str]:
    return [s.text for s in split_protected(text) if s.protected]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "kucing hitam",
        'gadis "Gojo" dan `Sukuna` (castle:1.3) [rumah] <lora:x:0.8> --seed 42 --raw',
        "children's book 'Oyen' rock 'n' roll",
        "“curly” ‘single’ «guillemets» „low“",
        "🐱🐶 👩🏽‍🎨 kucing 🇮🇩",
        "unbalanced \"quote and ( paren and ` tick",
        "   spaces   everywhere   ",
        "https://example.com/a?b=1 www.x.org @pelukis_bot",
        "—seed 7 --ar 16:9 --no \"blurry text\"",
    ],
)
def test_join_gives_back_the_input(text: str) -> None:
    assert "".join(s.text for s in split_protected(text)) == text


def test_segment_is_frozen_dataclass() -> None:
    seg = Segment("x", True)
    with pytest.raises(AttributeError):
        seg.text = "y"  # type: ignore[misc]


def test_options_take_the_next_token() -> None:
    assert protected("kucing --seed 42 --cfg 7.5 di sofa") == ["--seed 42", "--cfg 7.5"]
    assert protected("kucing --ar 16:9") == ["--ar 16:9"]
    assert protected('rumah --no "teks buram" di sini') == ['--no "teks buram"']
    assert protected("—seed 5 kucing") == ["—seed 5"]  # phones turn -- into an em dash


def test_boolean_flags_do_not_swallow_words() -> None:
    assert protected("--raw kucing hitam") == ["--raw"]
    assert protected("kucing --seed --raw") == ["--seed", "--raw"]


def test_quotes_and_backticks() -> None:
    assert protected('gadis bernama "Sakura" dan `Gojo`') == ['"Sakura"', "`Gojo`"]
    assert protected("kucing 'Oyen' lucu") == ["'Oyen'"]
    assert protected("“Si Kancil” di hutan") == ["“Si Kancil”"]


def test_apostrophes_are_not_quotes() -> None:
    assert protected("children's book, the dogs' bone, rock'n'roll") == []
    assert protected("it's a 'test' here") == ["'test'"]


def test_weights_brackets_lora() -> None:
    assert protected("(castle:1.3), ((masterpiece)), [kabut], <lora:retro:0.8>") == [
        "(castle:1.3)", "((masterpiece))", "[kabut]", "<lora:retro:0.8>",
    ]
    assert protected("(kucing hitam:1.2) di taman") == ["(kucing hitam:1.2)"]
    assert protected("rumah (tua) di desa") == []  # plain parentheses are text


def test_numbers_urls_emoji_mentions() -> None:
    assert protected("3 kucing, 4.5 meter, 8k, 1girl, 16:9") == ["3", "4.5", "8k", "1girl", "16:9"]
    assert protected("lihat https://x.com/a?b=1 @bot") == ["https://x.com/a?b=1", "@bot"]
    assert protected("kucing 🐱🐶 lucu") == ["🐱🐶"]


def test_decades_stay_translatable() -> None:
    assert protected("anime tahun 90an dan 80-an") == []
