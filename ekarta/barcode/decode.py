"""Reading the card number from a picture of its barcode: an image file, a PIL image or a camera
frame as a numpy array.  zxing-cpp finds and decodes the barcode.

Only Code 128 is looked for, and only text that is a valid card number is returned: Code 128's
own checksum and the card number's Damm check digit must both agree, so a misread comes out as
"not readable", never as another card's number.

A frame is read as it is first; when that finds nothing it is read again smoothed (sensor noise
breaks zxing-cpp's binarizer) and then enlarged twice (modules of 2 to 3 pixels are read
unreliably at their own size).  The retries cost time only on frames that failed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ekarta.barcode.errors import NotReadable, WrongSymbology
from ekarta.transit.errors import InvalidCardNumber, shown
from ekarta.transit.model.card_number import CardNumber

if TYPE_CHECKING:
    import numpy
    from PIL.Image import Image

    ImageSource = str | os.PathLike[str] | Image | numpy.ndarray

__all__ = ["MAX_PIXELS", "decode_all", "decode_image", "load_image"]

log = logging.getLogger(__name__)

MAX_PIXELS = 100_000_000
"""Largest image read (pixels); a larger one is refused before it is decoded into memory."""
MAX_ENLARGED_SIDE = 2048
"""An image is read enlarged only while its longer side is at most this (pixels)."""
SMOOTHING_RADIUS = 1.0


def _formats(*names: str) -> Any:
    import zxingcpp

    return tuple(getattr(zxingcpp.BarcodeFormat, name) for name in names)


def load_image(source: ImageSource) -> Image:
    """``source`` as a greyscale PIL image.

    ``source`` is a path to an image file, a PIL image or a numpy array of ``uint8``: grey
    (height x width, or height x width x 1), or colour with 3 or 4 channels in OpenCV's BGR(A)
    order.  A transparent background counts as white.  Raises :class:`NotReadable` for a file
    that cannot be opened or is not an image, and for an image larger than :data:`MAX_PIXELS`.
    """
    import numpy as np
    from PIL import Image as PILImage

    if isinstance(source, PILImage.Image):
        return _greyscale(source)
    if isinstance(source, str | os.PathLike):
        return _open_file(source)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    raise TypeError(
        f"an image must be a path, a PIL image or a numpy array, not {type(source).__name__}"
    )


def _open_file(path: str | os.PathLike[str]) -> Image:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    name = os.fspath(path)
    try:
        with PILImage.open(name) as image:
            if image.width * image.height > MAX_PIXELS:
                raise NotReadable(
                    f"image {shown(name)} is too large: {image.width}x{image.height} pixels"
                )
            image.load()
            return _greyscale(image)
    except NotReadable:
        raise
    except UnidentifiedImageError:
        hint = " (SVG is not read: decode a PNG)" if name.lower().endswith(".svg") else ""
        raise NotReadable(f"{shown(name)} is not an image file{hint}") from None
    except PILImage.DecompressionBombError as exc:
        raise NotReadable(f"image {shown(name)} is too large: {exc}") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise NotReadable(f"cannot read image {shown(name)}: {reason}") from None
    except (ValueError, SyntaxError, EOFError) as exc:
        # Pillow's plugins raise these for broken headers and truncated data.
        raise NotReadable(f"cannot read image {shown(name)}: {exc}") from None


def _greyscale(image: Image) -> Image:
    from PIL import Image as PILImage

    if image.width * image.height > MAX_PIXELS:
        raise NotReadable(f"image is too large: {image.width}x{image.height} pixels")
    if image.width == 0 or image.height == 0:
        raise NotReadable("image is empty")
    if image.mode == "L":
        # A copy: the caller's image stays untouched and one loaded from a file outlives it.
        return image.copy()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(white, rgba).convert("L")
    try:
        return image.convert("L")
    except (ValueError, OSError) as exc:
        raise NotReadable(f"cannot convert image of mode {image.mode} to grey: {exc}") from None


def _from_array(array: numpy.ndarray) -> Image:
    import numpy as np
    from PIL import Image as PILImage

    if array.dtype != np.uint8:
        raise NotReadable(f"an image array must be of uint8, not {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        mode = "L"
    elif array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[:, :, 2::-1]  # BGR(A) to RGB; alpha is dropped
        mode = "RGB"
    else:
        raise NotReadable(
            f"an image array must be height x width (grey) or height x width x 3 or 4 (BGR or "
            f"BGRA), not of shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise NotReadable("image is empty")
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        raise NotReadable(f"image is too large: {array.shape[1]}x{array.shape[0]} pixels")
    image = PILImage.fromarray(np.ascontiguousarray(array), mode)
    return image if mode == "L" else image.convert("L")


def _smoothed(image: Image) -> Image:
    from PIL import ImageFilter

    return image.filter(ImageFilter.GaussianBlur(SMOOTHING_RADIUS))


def _enlarged(image: Image) -> Image | None:
    from PIL import Image as PILImage

    if max(image.size) > MAX_ENLARGED_SIDE:
        return None
    return image.resize((image.width * 2, image.height * 2), PILImage.Resampling.BILINEAR)


_RETRIES: tuple[Callable[[Image], Image | None], ...] = (_smoothed, _enlarged)


def _read(image: Image) -> list[Any]:
    import zxingcpp

    return zxingcpp.read_barcodes(
        image,
        formats=_formats("Code128"),
        try_rotate=True,
        try_downscale=True,
        try_invert=True,
        text_mode=zxingcpp.TextMode.Plain,
    )


def _attempts(image: Image) -> Iterator[list[Any]]:
    """The barcodes found by each pass over ``image``, the plain one first."""
    yield _read(image)
    for retry in _RETRIES:
        variant = retry(image)
        if variant is not None:
            yield _read(variant)


def _sort(found: list[Any]) -> tuple[list[CardNumber], list[InvalidCardNumber]]:
    """The distinct valid card numbers of ``found``, in order, and the errors of the rest."""
    numbers: list[CardNumber] = []
    errors: list[InvalidCardNumber] = []
    for barcode in found:
        try:
            number = CardNumber.parse(barcode.text, strict=True)
        except InvalidCardNumber as exc:
            log.debug("Code 128 barcode is not a card number: %s", exc)
            errors.append(exc)
            continue
        if number not in numbers:
            numbers.append(number)
    return numbers, errors


def decode_all(source: ImageSource) -> list[CardNumber]:
    """Every distinct card number whose barcode can be read in ``source`` (see
    :func:`load_image` for what it may be), in the order zxing-cpp finds them; an empty list if
    there is none.  Code 128 barcodes that do not hold a valid card number are left out."""
    image = load_image(source)
    for found in _attempts(image):
        numbers, _ = _sort(found)
        if numbers:
            return numbers
    return []


def decode_image(source: ImageSource) -> CardNumber:
    """The card number whose barcode is in ``source`` (see :func:`load_image`).

    Raises :class:`NotReadable` when no card barcode can be read, :class:`WrongSymbology` when
    the image holds another kind of barcode (a QR code, an EAN-13...),
    :class:`InvalidCardNumber` when a Code 128 barcode holds text that is not a valid card
    number, and :class:`NotReadable` when it holds two different card numbers (there is no
    telling which one is meant).
    """
    image = load_image(source)
    first_errors: list[InvalidCardNumber] = []
    for found in _attempts(image):
        numbers, errors = _sort(found)
        if len(numbers) > 1:
            raise NotReadable(
                "the image holds barcodes of several card numbers: "
                + ", ".join(str(n) for n in numbers)
            )
        if numbers:
            if errors:
                log.debug("ignored %d unreadable Code 128 barcode(s) beside %s", len(errors),
                          numbers[0])
            return numbers[0]
        first_errors = first_errors or errors
    if first_errors:
        raise InvalidCardNumber(f"the barcode is not a card number: {first_errors[0]}")
    raise _why_not_readable(image)


def _why_not_readable(image: Image) -> NotReadable:
    """The error for an image where no card barcode was read: another kind of barcode, a Code
    128 that fails its checksum, or nothing at all."""
    import zxingcpp

    others = zxingcpp.read_barcodes(image, formats=_formats("AllReadable"), return_errors=True)
    kinds = []
    for barcode in others:
        kind = str(barcode.format)
        if barcode.format == zxingcpp.BarcodeFormat.Code128:
            # zxing-cpp's error text ends with its source location (" @ file.cpp:229").
            reason = str(barcode.error or "").split(" @ ")[0] or "damaged"
            return NotReadable(f"a Code 128 barcode was found but could not be read ({reason})")
        if kind not in kinds and barcode.valid:
            kinds.append(kind)
    if kinds:
        return WrongSymbology(
            f"the image holds a {' and a '.join(kinds)} barcode, not a card's Code 128"
        )
    return NotReadable("no barcode found in the image")
