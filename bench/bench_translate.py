"""Benchmark the offline translation path (not a test).

Prints a per-prompt table, then a summary, and as its LAST line one JSON object:
  detect_median_us          detect_language() per prompt (model already loaded)
  cache_hit_median_us       detect_language() + dict lookup of the normalised text
                            (what a cached translation costs on the prompt path)
  offline_median_us         OfflineTranslator.translate() per prompt (no cache)
  chain_cache_hit_median_us the bot's real path, Translator.to_english() answered from the
                            SQLite cache (detection in a thread + one aiosqlite query)
  targets: cache hit < 5 ms, offline translation < 20 ms.

Usage: python bench/bench_translate.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import TranslationSection  # noqa: E402
from bot.storage import Store  # noqa: E402
from bot.translation import OfflineTranslator, detect_language, lexicon_size  # noqa: E402
from bot.translation.chain import Translator  # noqa: E402
from bot.translation.chain import normalise as cache_key  # noqa: E402


def load_prompts() -> list[str]:
    prompts = []
    for name in ("id_prompts.tsv", "lang_labelled.tsv"):
        for line in (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or "\t" not in line:
                continue
            a, b = line.split("\t", 1)
            prompt = a if name == "id_prompts.tsv" else b
            if prompt.strip():
                prompts.append(prompt)
    return prompts


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def timed(fn, arg, repeat: int) -> float:
    """Median seconds of *repeat* calls."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(arg)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


async def chain_cache_hits(prompts: list[str], repeat: int) -> list[float]:
    """Median seconds of Translator.to_english() per prompt, every one a SQLite cache hit."""
    import asyncio
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db", Path(tmp) / "images")
        translator = Translator(TranslationSection(providers=[]), store)
        for p in prompts:
            await store.cache_translation(cache_key(p), p.upper(), "bench")
        medians = []
        for p in prompts:
            samples = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                await translator.to_english(p)
                samples.append(time.perf_counter() - t0)
            medians.append(statistics.median(samples))
        translator.close()
        await store.close()
        await asyncio.sleep(0)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    t0 = time.perf_counter()
    translator = OfflineTranslator()
    lexicon_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    detect_language("Gojo Satoru")  # unknown words: loads py3langid's model
    first_detect = time.perf_counter() - t0

    prompts = load_prompts()

    cache = {normalise(p): translator.translate(p) for p in prompts}

    def cache_hit(text: str) -> str | None:
        detect_language(text)
        return cache.get(normalise(text))

    rows = []
    for prompt in prompts:
        det = timed(detect_language, prompt, args.repeat)
        hit = timed(cache_hit, prompt, args.repeat)
        off = timed(translator.translate, prompt, args.repeat)
        rows.append((prompt, detect_language(prompt).lang, det, hit, off))

    # a cold call: fresh translator instance, empty word cache
    cold = OfflineTranslator()
    t0 = time.perf_counter()
    for p in prompts:
        cold.translate(p)
    cold_mean = (time.perf_counter() - t0) / len(prompts)

    width = 52
    print(f"{'prompt':<{width}} {'lang':>5} {'detect µs':>10} {'hit µs':>9} {'offline µs':>11}")
    print("-" * (width + 40))
    for prompt, lang, det, hit, off in rows:
        shown = prompt if len(prompt) <= width else prompt[: width - 1] + "…"
        print(f"{shown:<{width}} {lang:>5} {det * 1e6:>10.0f} {hit * 1e6:>9.0f} {off * 1e6:>11.0f}")
    print("-" * (width + 40))

    import asyncio

    indonesian = [p for p, lang, *_ in rows if lang in ("id", "mixed")]
    chain = asyncio.run(chain_cache_hits(indonesian, args.repeat))
    chain_med = statistics.median(chain) * 1e6
    det_med = statistics.median(r[2] for r in rows) * 1e6
    hit_med = statistics.median(r[3] for r in rows) * 1e6
    off_med = statistics.median(r[4] for r in rows) * 1e6
    hit_max = max(r[3] for r in rows) * 1e6
    off_max = max(r[4] for r in rows) * 1e6
    print(f"prompts: {len(rows)}   lexicon entries: {lexicon_size()}")
    print(f"lexicon load: {lexicon_load * 1e3:.1f} ms   first detection (model load): "
          f"{first_detect * 1e3:.0f} ms   cold translation mean: {cold_mean * 1e6:.0f} µs")
    print(f"detection median {det_med:.0f} µs; detection+cache hit median {hit_med:.0f} µs "
          f"(max {hit_max:.0f}); offline median {off_med:.0f} µs (max {off_max:.0f})")
    print(f"the bot's path, Translator.to_english() from the SQLite cache: median "
          f"{chain_med:.0f} µs (max {max(chain) * 1e6:.0f}) over {len(chain)} prompts")
    print(json.dumps({
        "chain_cache_hit_median_us": round(chain_med, 1),
        "prompts": len(rows),
        "detect_median_us": round(det_med, 1),
        "cache_hit_median_us": round(hit_med, 1),
        "cache_hit_max_us": round(hit_max, 1),
        "offline_median_us": round(off_med, 1),
        "offline_max_us": round(off_max, 1),
        "offline_cold_mean_us": round(cold_mean * 1e6, 1),
        "cache_hit_target_ok": hit_med < 5000 and chain_med < 5000,
        "offline_target_ok": off_med < 20000,
    }))


if __name__ == "__main__":
    main()
