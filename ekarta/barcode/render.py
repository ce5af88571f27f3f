"""The printed barcode: the card number as Code 128, as a PNG-ready image or as SVG.

Drawing is python-barcode's; this module fixes the geometry that makes the print dependable: a
module (narrowest bar) of exactly 4 pixels at 300 dpi, a quiet zone of 10 modules each side as
Code 128 requires, 10 mm bars, and the number in its readable grouping underneath.
"""

from __future__ import annotations

import functools
import io
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ekarta.barcode.errors import RenderError
from ekarta.files import atomic_write
from ekarta.transit.model.card_number import CardNumber

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "DEFAULT_DPI",
    "barcode_image",
    "barcode_png",
    "barcode_svg",
    "card_number",
    "check_dpi",
    "save_barcode",
]

log = logging.getLogger(__name__)

DEFAULT_DPI = 300
MODULE_INCH = 4 / 300
"""Width of one module: 0.34 mm, wide enough for a phone camera held at arm's length."""
QUIET_MODULES = 10
BAR_HEIGHT_MM = 10.0
FONT_SIZE_PT = 9
TEXT_DISTANCE_MM = 4.0
MM_PER_INCH = 25.4


@functools.cache
def _code128_class() -> type:
    """python-barcode's Code128 with the fix of its issue #251 (in 0.16.1 a number starting with
    the pair 99 loses it: in charset C the code 99 is that pair, but is taken for the switch
    to C and folded into the start code).  The override is upstream's fix, merged after 0.16.1;
    drop it once a release has it: tests/test_barcode_render_decode.py fails without it."""
    from barcode import Code128
    from barcode.charsets import code128

    class FixedCode128(Code128):
        def _try_to_optimize(self, encoded: list[int]) -> list[int]:
            if encoded[0] == code128.START_CODES["C"] and encoded[1] in (
                code128.C["TO_A"],
                code128.C["TO_B"],
            ):
                encoded[:2] = [code128.TO[encoded[1]]]
            return encoded

    return FixedCode128


def card_number(number: CardNumber | str) -> CardNumber:
    """``number`` as a :class:`CardNumber` (text is parsed, see :meth:`CardNumber.parse`)."""
    return number if isinstance(number, CardNumber) else CardNumber.parse(number)


def _options(dpi: int, text: bool) -> dict:
    # A whole number of pixels per module: python-barcode places bars at fractional millimetres
    # and a module of 2.36 px would come out as bars of 2 and 3 px, which a reader may misjudge.
    module_px = max(1, round(MODULE_INCH * dpi))
    # python-barcode draws a bar from mm2px(x) to mm2px(x + width) - 1: with one pixel a module,
    # a product rounded down by the last bit puts the end before the start and Pillow raises.
    # A millionth of a pixel more keeps every bar on its pixels and the end at or past the start.
    module_mm = module_px * MM_PER_INCH / dpi * (1 + 1e-9)
    return {
        "module_width": module_mm,
        "module_height": BAR_HEIGHT_MM,
        "quiet_zone": QUIET_MODULES * module_mm,
        "font_size": FONT_SIZE_PT if text else 0,
        "text_distance": TEXT_DISTANCE_MM if text else 0,
        "write_text": text,
        "dpi": dpi,
    }


def check_dpi(dpi: int) -> int:
    """``dpi`` if it is a resolution ekarta prints at (72 to 2400); else RenderError."""
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 72 <= dpi <= 2400:
        raise RenderError(f"dpi must be an integer from 72 to 2400, got {dpi!r}")
    return dpi


def barcode_image(number: CardNumber | str, *, dpi: int = DEFAULT_DPI, text: bool = True) -> Image:
    """The barcode of ``number`` as a greyscale PIL image at ``dpi`` (default 300), with the
    number in readable form underneath unless ``text`` is false."""
    from barcode.writer import ImageWriter

    number = card_number(number)
    writer = ImageWriter(format="PNG", mode="L", dpi=check_dpi(dpi))
    symbol = _code128_class()(number.digits, writer=writer)
    image = symbol.render(_options(dpi, text), text=number.formatted if text else None)
    image.info["dpi"] = (dpi, dpi)
    return image


def barcode_png(number: CardNumber | str, *, dpi: int = DEFAULT_DPI, text: bool = True) -> bytes:
    """The PNG file of :func:`barcode_image`, its resolution recorded in the file."""
    buffer = io.BytesIO()
    barcode_image(number, dpi=dpi, text=text).save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


def barcode_svg(number: CardNumber | str, *, text: bool = True) -> bytes:
    """The barcode of ``number`` as an SVG document (UTF-8), sized in millimetres."""
    from barcode.writer import SVGWriter

    number = card_number(number)
    symbol = _code128_class()(number.digits, writer=SVGWriter())
    return symbol.render(
        _options(DEFAULT_DPI, text), text=number.formatted if text else None
    )


def save_barcode(
    number: CardNumber | str,
    path: str | os.PathLike[str],
    *,
    dpi: int = DEFAULT_DPI,
    text: bool = True,
    overwrite: bool = True,
) -> Path:
    """Write the barcode of ``number`` to ``path``, as SVG or PNG after its suffix, all at once
    (:func:`ekarta.files.atomic_write`); an existing file is replaced unless ``overwrite`` is
    false (then :class:`FileExistsError`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        data = barcode_svg(number, text=text)
    elif suffix == ".png":
        data = barcode_png(number, dpi=dpi, text=text)
    else:
        raise RenderError(f"cannot write a barcode as {_suffix_text(path)}: use .svg or .png")
    atomic_write(path, data, mode=0o644, overwrite=overwrite)
    log.info("wrote barcode of %s to %s", card_number(number), path)
    return path


def _suffix_text(path: Path) -> str:
    return repr(path.suffix) if path.suffix else "a file without suffix"
