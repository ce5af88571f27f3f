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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from construct import Adapter, BitsInteger, Const, Construct, Flag, Renamed

from ekarta.transit.errors import CorruptRecord, InvalidField

__all__ = ["BitReader", "BitWriter"]

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
