"""Decoding the card number from a 640x480 camera frame, and from damaged pictures.

The frame is what a handheld's camera gives: a BGR numpy array, the printed barcode (300 dpi
PNG) scaled to 60 % and tilted by 4 degrees on a grey background, with sensor noise.  Prints the
median and p95 wall-clock milliseconds of ``decode_image`` on it (target: under 20 ms), and of
``decode_all`` on a frame with no barcode, which runs every retry pass and finds nothing (what a
camera loop pays while no card is in view).

Then the decode rate of damaged prints (acceptance: at least 99 % per kind of damage, and never
a wrong number): ``--cases`` random numbers (1,000), each printed and damaged in every way of
``tests/support/barcodes.py`` (rotated, skewed, blurred, noisy, low contrast, small in a frame).
The tests check a sample of the same pictures.

    python benchmarks/barcode.py [--runs N] [--cases N] [--seed N]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time

import numpy as np
from PIL import Image

from ekarta.barcode import CardNumber, barcode_image, barcode_png, decode_all, decode_image

FRAME = (640, 480)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the seed of the decode tests' numbers, so that their sample is the start of these cases
DAMAGE_SEED = 5_2024


def card_frame(number: CardNumber, rng: random.Random) -> np.ndarray:
    printed = barcode_image(number)
    small = printed.resize((round(printed.width * 0.6), round(printed.height * 0.6)),
                           Image.Resampling.LANCZOS)
    tilted = small.rotate(4, expand=True, fillcolor=235, resample=Image.Resampling.BICUBIC)
    frame = Image.new("L", FRAME, 110)
    frame.paste(tilted, (rng.randrange(FRAME[0] - tilted.width),
                         rng.randrange(FRAME[1] - tilted.height)))
    return bgr_with_noise(frame, rng)


def bgr_with_noise(frame: Image.Image, rng: random.Random) -> np.ndarray:
    grey = np.asarray(frame, dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 6, grey.shape)
    grey = np.clip(grey + noise, 0, 255).astype(np.uint8)
    return np.dstack([grey, grey, grey])


def timed(function, frame, runs: int) -> list[float]:
    function(frame)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function(frame)
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def p95(times: list[float]) -> float:
    return times[min(len(times) - 1, int(0.95 * len(times)))]


def damaged_rates(cases: int) -> None:
    from tests.support.barcodes import decode_damaged

    rng = random.Random(DAMAGE_SEED)
    numbers = [CardNumber.random(rng) for _ in range(cases)]
    prints = [Image.open(io.BytesIO(barcode_png(n))) for n in numbers]
    start = time.perf_counter()
    tally = decode_damaged(numbers, prints, random.Random(DAMAGE_SEED + 1))
    seconds = time.perf_counter() - start
    print(f"damaged prints: {cases} numbers, each damaged in {len(tally.counts)} ways "
          f"({seconds:.1f} s)")
    for kind, counts in tally.counts.items():
        failed = ", ".join(f"{what} {n}" for what, n in sorted(counts.items()) if what != "ok")
        print(f"  {kind:<18} {100 * tally.rate(kind):6.2f} % decoded"
              + (f" ({failed})" if failed else ""))
    print(f"  misread:           {len(tally.wrong)}" + "".join(f"\n    {w}" for w in tally.wrong))


def main() -> None:
    # This file's name is python-barcode's package name: with its folder first on the import
    # path, "import barcode" would find this file.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.path.insert(0, ROOT)  # tests.support
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="decodes to time (200)")
    parser.add_argument("--cases", type=int, default=1000,
                        help="numbers to damage in every way (1000; 0 skips it)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the frame (1)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    number = CardNumber.random(rng)
    frame = card_frame(number, rng)
    if decode_image(frame) != number:
        raise SystemExit("the benchmark frame does not decode to its number")
    with_card = timed(decode_image, frame, args.runs)
    empty = bgr_with_noise(Image.new("L", FRAME, 110), rng)
    without_card = timed(decode_all, empty, args.runs)
    print("640x480 BGR frame, Code 128 card barcode at 60 %, tilted 4 degrees, noise sigma 6")
    print(f"runs:                     {args.runs}")
    print(f"decode_image median:      {statistics.median(with_card):.2f} ms")
    print(f"decode_image p95:         {p95(with_card):.2f} ms")
    print(f"no barcode (all passes):  median {statistics.median(without_card):.2f} ms, "
          f"p95 {p95(without_card):.2f} ms")
    if args.cases > 0:
        damaged_rates(args.cases)


if __name__ == "__main__":
    main()
