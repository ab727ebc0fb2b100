"""The T.4/T.6 C codec (fax/kernel/t4codec.c, t4decode.c) built with AddressSanitizer + UndefinedBehaviorSanitizer
and driven through round trips of every coding and width, damaged, garbage and over-long input and the t4 fuzz seed
corpus (t4codec_asan_driver.c), with the page check (t4d_check) held to the decoder on the same input; any sanitizer
report fails the test (#21)."""
from pathlib import Path

from asan import build, run

import trunkline.fax

KERNEL = Path(trunkline.fax.__file__).resolve().parent / "kernel"
DRIVER = Path(__file__).with_name("t4codec_asan_driver.c")
CORPUS = Path(__file__).resolve().parents[1] / "fuzz" / "corpus" / "t4"


def test_codec_under_asan_and_ubsan(tmp_path):
    exe = tmp_path / "t4codec"
    build([KERNEL / "t4codec.c", KERNEL / "t4decode.c", DRIVER], exe, KERNEL)
    seeds = sorted(str(p) for p in CORPUS.iterdir() if p.is_file())
    r = run(exe, *seeds)
    assert r.stdout.splitlines() == ["ok round trips and damaged pages", "ok over-long lines",
                                     f"ok corpus {len(seeds)} files"]
