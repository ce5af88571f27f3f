"""A preview of the printed card face: ID-1 size (85.60 x 53.98 mm) at 300 dpi, with the holder's
name, the profile, a photo area and the card number's barcode.

It takes plain arguments so that a card record of the coupon codec can feed it field by field.
Text is set in the DejaVu Sans Mono that python-barcode ships: Pillow's built-in default font has
no glyphs beyond ASCII, and Czech names need háčky and čárky.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from ekarta.barcode.errors import RenderError
from ekarta.barcode.render import (
    DEFAULT_DPI,
    MM_PER_INCH,
    barcode_image,
    card_number,
    check_dpi,
)
from ekarta.files import atomic_write
from ekarta.transit.errors import shown
from ekarta.transit.model.card_number import CardNumber

if TYPE_CHECKING:
    from PIL.Image import Image
    from PIL.ImageFont import FreeTypeFont

__all__ = ["CARD_HEIGHT_MM", "CARD_WIDTH_MM", "render_card_face", "save_card_face"]

log = logging.getLogger(__name__)

CARD_WIDTH_MM = 85.60
CARD_HEIGHT_MM = 53.98
MAX_NAME = 2 * 26 + 1
"""First name and surname of at most 26 characters each, and a space."""
MAX_PHOTO_PIXELS = 40_000_000

TITLE = "e-karta"
BAND = (0, 94, 160)
INK = (20, 20, 20)
PAPER = (255, 255, 255)
PHOTO_BACKGROUND = (225, 229, 234)
MUTED = (110, 110, 110)


def _px(mm: float, dpi: int) -> int:
    return round(mm * dpi / MM_PER_INCH)


@functools.lru_cache(maxsize=64)
def _font(size: int) -> FreeTypeFont:
    from barcode.writer import ImageWriter
    from PIL import ImageFont

    return ImageFont.truetype(ImageWriter().font_path, size)


def _clean(text: str | None, what: str) -> str | None:
    """``text`` with control characters dropped and spaces collapsed; None if nothing is left."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise RenderError(f"{what} must be text, not {type(text).__name__}")
    kept = "".join(c for c in text if not unicodedata.category(c).startswith("C"))
    kept = " ".join(kept.split())
    return kept or None


def _cut(draw, text: str, width: int, font: FreeTypeFont) -> str:
    """``text`` cut and ended with an ellipsis so that it fits ``width``."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _layout(draw, text: str, width: int, dpi: int, largest_mm: float,
            smallest_mm: float) -> tuple[FreeTypeFont, list[str]]:
    """The font and lines to set ``text`` in ``width``: one line as large as it fits down to
    the middle size, else two lines split at the space nearest the middle (a first name and a
    surname), else the smallest size with each line cut."""
    largest, smallest = _px(largest_mm, dpi), _px(smallest_mm, dpi)
    middle = (largest + smallest) // 2
    words = text.split(" ")
    layouts: list[tuple[list[str], range]] = [([text], range(largest, middle - 1, -1))]
    if len(words) > 1:
        split = min(range(1, len(words)),
                    key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))))
        two = [" ".join(words[:split]), " ".join(words[split:])]
        layouts.append((two, range(largest, smallest - 1, -1)))
    for lines, sizes in layouts:
        for size in sizes:
            font = _font(size)
            if all(draw.textlength(line, font=font) <= width for line in lines):
                return font, lines
    lines, _ = layouts[-1]
    font = _font(smallest)
    return font, [_cut(draw, line, width, font) for line in lines]


def _load_photo(photo: str | os.PathLike[str] | Image) -> Image:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if isinstance(photo, PILImage.Image):
        return photo
    try:
        with PILImage.open(photo) as image:
            if image.width * image.height > MAX_PHOTO_PIXELS:
                raise RenderError(
                    f"photo {shown(str(photo))} is too large: {image.width}x{image.height}"
                )
            image.load()
            return image.copy()
    except RenderError:
        raise
    except (OSError, UnidentifiedImageError, PILImage.DecompressionBombError, ValueError) as exc:
        raise RenderError(f"cannot read photo {shown(str(photo))}: {exc}") from None


def render_card_face(
    number: CardNumber | str,
    *,
    holder_name: str | None = None,
    profile: str | None = None,
    photo: str | os.PathLike[str] | Image | None = None,
    dpi: int = DEFAULT_DPI,
) -> Image:
    """The face of the card ``number`` as an RGB image of ID-1 size at ``dpi`` (1011 x 638 px
    at 300 dpi).

    ``holder_name`` and ``photo`` belong to a personal card: when either is given, the face has
    a photo area (the photo, cropped to fill it, or an empty frame).  An anonymous card has
    neither.  ``profile`` is the label of the tariff profile.  A name too long for the line is
    set smaller, then cut with an ellipsis.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageOps

    number = card_number(number)
    check_dpi(dpi)
    holder_name = _clean(holder_name, "holder name")
    profile = _clean(profile, "profile")
    if holder_name is not None and len(holder_name) > MAX_NAME:
        holder_name = holder_name[:MAX_NAME].rstrip() + "…"
    width, height = _px(CARD_WIDTH_MM, dpi), _px(CARD_HEIGHT_MM, dpi)
    margin = _px(3.5, dpi)
    face = PILImage.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(face)

    band = _px(8.5, dpi)
    draw.rectangle([(0, 0), (width, band)], fill=BAND)
    title_font = _font(_px(4.5, dpi))
    draw.text((margin, band // 2), TITLE, font=title_font, fill=PAPER, anchor="lm")

    text_left = margin
    if holder_name is not None or photo is not None:
        box = (margin, band + margin, margin + _px(25, dpi), band + margin + _px(32, dpi))
        draw.rectangle(box, fill=PHOTO_BACKGROUND, outline=MUTED, width=max(1, dpi // 150))
        if photo is not None:
            picture = _load_photo(photo).convert("RGB")
            size = (box[2] - box[0], box[3] - box[1])
            face.paste(ImageOps.fit(picture, size, method=PILImage.Resampling.LANCZOS), box[:2])
        else:
            draw.text(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), "FOTO",
                      font=_font(_px(3, dpi)), fill=MUTED, anchor="mm")
        text_left = box[2] + margin

    text_width = width - margin - text_left
    top = band + margin
    if holder_name is not None:
        font, lines = _layout(draw, holder_name, text_width, dpi, 4.2, 2.6)
        for line in lines:
            draw.text((text_left, top), line, font=font, fill=INK, anchor="la")
            top += round(font.size * 1.25)
        top += _px(1.5, dpi)
    if profile is not None:
        font, lines = _layout(draw, profile, text_width, dpi, 3.2, 2.2)
        for line in lines:
            draw.text((text_left, top), line, font=font, fill=MUTED, anchor="la")
            top += round(font.size * 1.25)

    code = barcode_image(number, dpi=dpi)
    face.paste(code.convert("RGB"),
               (width - margin - code.width, height - margin // 2 - code.height))
    face.info["dpi"] = (dpi, dpi)
    return face


def save_card_face(
    number: CardNumber | str,
    path: str | os.PathLike[str],
    *,
    holder_name: str | None = None,
    profile: str | None = None,
    photo: str | os.PathLike[str] | Image | None = None,
    dpi: int = DEFAULT_DPI,
    overwrite: bool = True,
) -> Path:
    """Write :func:`render_card_face` to ``path`` as PNG (the only format it supports), all at
    once; an existing file is replaced unless ``overwrite`` is false (then FileExistsError)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise RenderError(f"a card face is written as .png, not {path.suffix or 'no suffix'!r}")
    face = render_card_face(number, holder_name=holder_name, profile=profile, photo=photo,
                            dpi=dpi)
    buffer = io.BytesIO()
    face.save(buffer, format="PNG", dpi=(dpi, dpi))
    atomic_write(path, buffer.getvalue(), mode=0o644, overwrite=overwrite)
    log.info("wrote card face of %s to %s", card_number(number), path)
    return path
