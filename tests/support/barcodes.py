"""Damaged pictures of printed card barcodes, and how well they decode.

Shared by the decode tests (a sample) and ``benchmarks/barcode.py`` (1,000 cases per kind): each
kind of damage of :data:`DEGRADATIONS` is applied to the 300 dpi print of a number, with Pillow and
numpy only, and :func:`decode_damaged` tallies what ``decode_image`` makes of the pictures.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from ekarta.barcode import CardNumber, InvalidCardNumber, NotReadable, decode_image

__all__ = ["DEGRADATIONS", "FRAME", "DamageTally", "decode_damaged", "noisy"]

FRAME = (640, 480)

Degradation = Callable[[Image.Image, random.Random], Image.Image]


def rotated(angle: int) -> Degradation:
    def degrade(image: Image.Image, rng: random.Random) -> Image.Image:
        return image.rotate(angle, expand=True, fillcolor=255)

    return degrade


def skewed(image: Image.Image, rng: random.Random) -> Image.Image:
    """Tilted by up to 10 degrees either way and sheared by up to 10 degrees either way."""
    image = image.convert("L").rotate(rng.uniform(-10, 10), expand=True, fillcolor=255,
                                      resample=Image.Resampling.BICUBIC)
    shear = math.tan(math.radians(rng.uniform(-10, 10)))
    extra = math.ceil(abs(shear) * image.height)
    offset = -extra if shear > 0 else 0
    return image.transform((image.width + extra, image.height), Image.Transform.AFFINE,
                           (1, shear, offset, 0, 1, 0), resample=Image.Resampling.BICUBIC,
                           fillcolor=255)


def blurred(image: Image.Image, rng: random.Random) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.0)))


def noisy(image: Image.Image, rng: random.Random) -> Image.Image:
    """Additive gaussian noise of standard deviation 25 (of 255)."""
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0.0, 25.0, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def low_contrast(image: Image.Image, rng: random.Random) -> Image.Image:
    return ImageEnhance.Contrast(image).enhance(0.5)


def in_frame(image: Image.Image, rng: random.Random) -> Image.Image:
    """Scaled down to 50-75 % (modules of 2 to 3 pixels) somewhere in a grey 640x480 frame."""
    factor = rng.uniform(0.5, 0.75)
    small = image.resize((round(image.width * factor), round(image.height * factor)),
                         Image.Resampling.LANCZOS)
    frame = Image.new("L", FRAME, 128)
    frame.paste(small, (rng.randrange(FRAME[0] - small.width),
                        rng.randrange(FRAME[1] - small.height)))
    return frame


DEGRADATIONS: dict[str, Degradation] = {
    "rotated 90": rotated(90),
    "rotated 180": rotated(180),
    "rotated 270": rotated(270),
    "skewed": skewed,
    "blurred": blurred,
    "noisy": noisy,
    "contrast halved": low_contrast,
    "640x480 frame": in_frame,
}


@dataclass(frozen=True)
class DamageTally:
    """What the damaged pictures decoded to: per kind, how many read right (``"ok"``), were
    ``"not readable"`` or read as an ``"invalid"`` number; every misread, which must never
    happen."""

    cases: int
    counts: dict[str, Counter[str]]
    wrong: tuple[str, ...]

    def rate(self, kind: str) -> float:
        """The share of the kind's pictures that decoded to their number."""
        return self.counts[kind]["ok"] / self.cases


def decode_damaged(numbers: Sequence[CardNumber], prints: Sequence[Image.Image],
                   rng: random.Random) -> DamageTally:
    """Damage each print in every way of :data:`DEGRADATIONS` and decode the pictures."""
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in DEGRADATIONS}
    wrong = []
    for number, image in zip(numbers, prints, strict=True):
        for kind, degrade in DEGRADATIONS.items():
            picture = degrade(image, rng)
            try:
                got = decode_image(picture)
            except NotReadable:
                counts[kind]["not readable"] += 1
                continue
            except InvalidCardNumber:
                counts[kind]["invalid"] += 1
                continue
            if got == number:
                counts[kind]["ok"] += 1
            else:
                wrong.append(f"{kind}: {number} read as {got}")
    return DamageTally(len(numbers), counts, tuple(wrong))
