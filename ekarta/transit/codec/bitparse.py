"""Fast reading and writing of the fixed-width ``BitStruct`` layouts declared in :mod:`records`.

construct parses a ``BitStruct`` by expanding every byte into eight and walking each field
through its generic machinery (about 2 µs a field here), and its compiler does not handle
``Bitwise``.  A validator decodes some 14 such records per tap within a 1 ms budget and encodes
the signed coupon body for each signature it checks, so :class:`BitReader` and
:class:`BitWriter` derive, once, each field's offset and width from the construct declaration
and read or pack them in one big integer with shifts.  The declaration stays the single source
of truth: widths, adapters and constants are taken from it, and the tests check that construct
and these agree on arbitrary bytes and values.

Only what the layouts use is supported: unsigned big-endian ``BitsInteger``, ``Flag``, ``Const``
over one of those, and ``Adapter`` subclasses over one of those; anything else is refused when
the reader or writer is made, so a new kind of field cannot be misread silently.

:class:`FrameReader` does the same for the byte-aligned frame around them (a version byte, fixed
byte fields, length-prefixed names, padding): construct walks such a ``Struct`` through a stream
and a context per field, three times the cost of the fields it frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from construct import (
    Adapter,
    BitsInteger,
    Bytes,
    Compiled,
    Const,
    Construct,
    Flag,
    FormatField,
    GreedyBytes,
    Padded,
    Prefixed,
    Renamed,
    Struct,
    Tell,
)

from ekarta.transit.errors import CorruptRecord, InvalidField

__all__ = ["BitReader", "BitWriter", "FrameReader"]

_Decode = Callable[[int], Any]
_Encode = Callable[[Any], int]


def _leaf(subcon: Construct, name: str) -> tuple[int, _Decode, _Encode]:
    """(width in bits, decoder of the raw unsigned value, encoder to it) for one field."""
    if isinstance(subcon, BitsInteger) and not subcon.signed and not subcon.swapped:

        def integer(value: Any) -> int:
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidField(f"{name} must be an integer, not {value!r}")
            return value

        return subcon.length, _identity, integer
    if subcon is Flag:
        return 1, bool, _flag
    if isinstance(subcon, Const):
        width, decode, encode = _leaf(subcon.subcon, name)
        expected = subcon.value
        raw_expected = encode(expected)

        def check(raw: int) -> Any:
            value = decode(raw)
            if value != expected:
                raise CorruptRecord(f"{name}: expected {expected!r}, found {value!r}")
            return value

        return width, check, lambda value: raw_expected
    if isinstance(subcon, Adapter):
        width, decode, encode = _leaf(subcon.subcon, name)
        adapt, unadapt = subcon._decode, subcon._encode

        def adapted(raw: int) -> Any:
            return adapt(decode(raw), None, name)

        def unadapted(value: Any) -> int:
            return encode(unadapt(value, None, name))

        return width, adapted, unadapted
    raise TypeError(f"cannot read or write field {name!r} of type {type(subcon).__name__}")


def _identity(raw: int) -> int:
    return raw


def _flag(value: Any) -> int:
    return int(bool(value))


def _fields(bitstruct: Construct) -> tuple[int, tuple[tuple[str, int, int, _Decode, _Encode], ...]]:
    """(size in bytes, (name, shift, mask, decoder, encoder) of every field)."""
    struct = getattr(bitstruct, "subcon", None)
    subcons = getattr(struct, "subcons", None)
    if subcons is None:
        raise TypeError("a construct BitStruct is needed")
    fields: list[tuple[str, int, int, _Decode, _Encode]] = []
    offset = 0
    for subcon in subcons:
        if not isinstance(subcon, Renamed) or not subcon.name:
            raise TypeError("every field of the BitStruct must be named")
        width, decode, encode = _leaf(subcon.subcon, subcon.name)
        fields.append((subcon.name, offset, width, decode, encode))
        offset += width
    if offset % 8:
        raise TypeError(f"the BitStruct is {offset} bits, not whole bytes")
    return offset // 8, tuple((name, offset - start - width, (1 << width) - 1, decode, encode)
                              for name, start, width, decode, encode in fields)


class BitReader:
    """Reads the bytes of one construct ``BitStruct`` into a dict of its named fields."""

    def __init__(self, bitstruct: Construct):
        self.size, fields = _fields(bitstruct)
        self._fields = tuple((name, shift, mask, decode)
                             for name, shift, mask, decode, _ in fields)

    def parse(self, data: bytes) -> dict[str, Any]:
        """The fields of ``data`` (exactly :attr:`size` bytes); CorruptRecord if impossible."""
        if len(data) != self.size:
            raise CorruptRecord(f"expected {self.size} bytes, got {len(data)}")
        value = int.from_bytes(data, "big")
        return {name: decode((value >> shift) & mask)
                for name, shift, mask, decode in self._fields}


class BitWriter:
    """Packs the named fields of one construct ``BitStruct`` into its bytes (constants are
    written as declared and need not be given)."""

    def __init__(self, bitstruct: Construct):
        self.size, fields = _fields(bitstruct)
        self._fields = tuple((name, shift, mask, encode)
                             for name, shift, mask, _, encode in fields)

    def build(self, values: Mapping[str, Any]) -> bytes:
        """The :attr:`size` bytes of ``values``; InvalidField for a value that does not fit."""
        packed = 0
        for name, shift, mask, encode in self._fields:
            raw = encode(values.get(name))
            if not 0 <= raw <= mask:
                raise InvalidField(f"{name}: {raw} does not fit {mask.bit_length()} bits")
            packed |= raw << shift
        return packed.to_bytes(self.size, "big")


_Step = Callable[[bytes, int], tuple[Any, int]]
"""Reads one field of a frame at an offset: (its value, the offset after it)."""


def _byte(data: bytes, at: int) -> tuple[int, int]:
    if at >= len(data):
        raise CorruptRecord(f"stream read less than 1 bytes, needed 1 at {at}")
    return data[at], at + 1


def _take(data: bytes, at: int, length: int) -> tuple[bytes, int]:
    end = at + length
    if end > len(data):
        raise CorruptRecord(f"stream read less than {length} bytes, needed {length} at {at}")
    return data[at:end], end


def _step(subcon: Construct, name: str) -> _Step:
    """How one field of a byte-aligned ``Struct`` is read."""
    if isinstance(subcon, FormatField) and subcon.fmtstr == ">B":
        return _byte
    if isinstance(subcon, Const):
        read, expected = _step(subcon.subcon, name), subcon.value

        def constant(data: bytes, at: int) -> tuple[Any, int]:
            value, at = read(data, at)
            if value != expected:
                raise CorruptRecord(f"{name}: expected {expected!r}, found {value!r}")
            return value, at

        return constant
    if isinstance(subcon, Bytes) and isinstance(subcon.length, int):
        length = subcon.length

        def fixed(data: bytes, at: int) -> tuple[Any, int]:
            return _take(data, at, length)

        return fixed
    if isinstance(subcon, Prefixed) and _step(subcon.lengthfield, name) is _byte \
            and subcon.subcon is GreedyBytes:

        def prefixed(data: bytes, at: int) -> tuple[Any, int]:
            length, at = _byte(data, at)
            return _take(data, at, length)

        return prefixed
    if isinstance(subcon, Adapter):
        inner, adapt = _step(subcon.subcon, name), subcon._decode

        def adapted(data: bytes, at: int) -> tuple[Any, int]:
            value, at = inner(data, at)
            return adapt(value, None, name), at

        return adapted
    if subcon is Tell:
        return lambda data, at: (at, at)
    raise TypeError(f"cannot read field {name!r} of type {type(subcon).__name__}")


class FrameReader:
    """Reads the bytes of one byte-aligned construct ``Struct`` (optionally ``Padded``) into a
    dict of its named fields, as construct's ``parse`` does; CorruptRecord where construct
    raises its own errors.  Fields: ``Int8ub``, ``Bytes`` of a fixed length, ``Prefixed``
    (``Int8ub`` length) ``GreedyBytes``, ``Const`` and ``Adapter`` over those, ``Tell``."""

    def __init__(self, layout: Construct):
        self.size: int | None = None
        if isinstance(layout, Compiled):
            layout = layout.defersubcon  # the declaration it was compiled from
        if isinstance(layout, Padded):
            if not isinstance(layout.length, int):
                raise TypeError("a Padded frame needs a fixed length")
            self.size, layout = layout.length, layout.subcon
        if not isinstance(layout, Struct):
            raise TypeError("a construct Struct is needed")
        steps = []
        for subcon in layout.subcons:
            if not isinstance(subcon, Renamed) or not subcon.name:
                raise TypeError("every field of the Struct must be named")
            steps.append((subcon.name, _step(subcon.subcon, subcon.name)))
        self._steps = tuple(steps)

    def parse(self, data: bytes) -> dict[str, Any]:
        """The fields of ``data``; CorruptRecord if it is not one such frame."""
        if self.size is not None and len(data) < self.size:
            raise CorruptRecord(f"stream read less than {self.size} bytes, needed {self.size}")
        fields: dict[str, Any] = {}
        at = 0
        for name, step in self._steps:
            fields[name], at = step(data, at)
        if self.size is not None and at > self.size:
            raise CorruptRecord(f"subcon parsed {at} bytes but was allowed only {self.size}")
        return fields
