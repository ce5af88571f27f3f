"""Block letters for a verdict read from a metre away: five rows of full blocks per letter.

A terminal cannot change its font size, so the verdict is drawn in letters made of ``█``:
:func:`render` turns a short text (Latin capitals, the Czech ones with their accents, digits and
a little punctuation) into rows of block characters, with a row above for the accents when a
letter has one; :func:`fit` breaks it into as many such lines as the space allows and says when
it does not fit at all, so that the caller shows plain text instead.  Nothing here knows a UI
toolkit.
"""

from __future__ import annotations

__all__ = ["GLYPH_HEIGHT", "fit", "height", "render", "width"]

GLYPH_HEIGHT = 5
"""Rows of a letter, without its accent row."""
_BLOCK = "█"
_GAP = 1
"""Blank columns between two letters."""

_FONT_ROWS = """
A .###. #...# ##### #...# #...#
B ####. #...# ####. #...# ####.
C .#### #.... #.... #.... .####
D ####. #...# #...# #...# ####.
E ##### #.... ####. #.... #####
F ##### #.... ####. #.... #....
G .#### #.... #.### #...# .###.
H #...# #...# ##### #...# #...#
I .###. ..#.. ..#.. ..#.. .###.
J ..### ...#. ...#. #..#. .##..
K #...# #..#. ###.. #..#. #...#
L #.... #.... #.... #.... #####
M #...# ##.## #.#.# #...# #...#
N #...# ##..# #.#.# #..## #...#
O .###. #...# #...# #...# .###.
P ####. #...# ####. #.... #....
Q .###. #...# #.#.# #..#. .##.#
R ####. #...# ####. #..#. #...#
S .#### #.... .###. ....# ####.
T ##### ..#.. ..#.. ..#.. ..#..
U #...# #...# #...# #...# .###.
V #...# #...# #...# .#.#. ..#..
W #...# #...# #.#.# ##.## #...#
X #...# .#.#. ..#.. .#.#. #...#
Y #...# .#.#. ..#.. ..#.. ..#..
Z ##### ...#. ..#.. .#... #####
0 .###. #..## #.#.# ##..# .###.
1 ..#.. .##.. ..#.. ..#.. .###.
2 .###. #...# ..##. .#... #####
3 ####. ....# .###. ....# ####.
4 #..#. #..#. ##### ...#. ...#.
5 ##### #.... ####. ....# ####.
6 .###. #.... ####. #...# .###.
7 ##### ...#. ..#.. .#... .#...
8 .###. #...# .###. #...# .###.
9 .###. #...# .#### ....# .###.
? .###. #...# ..##. ..... ..#..
! ..#.. ..#.. ..#.. ..... ..#..
- ..... ..... .###. ..... .....
. ..... ..... ..... ..... ..#..
: ..... ..#.. ..... ..#.. .....
/ ....# ...#. ..#.. .#... #....
"""

_FONT: dict[str, tuple[str, ...]] = {
    line[0]: tuple(row.replace("#", _BLOCK).replace(".", " ") for row in line[2:].split())
    for line in _FONT_ROWS.strip().splitlines()
}
_FONT[" "] = ("   ",) * GLYPH_HEIGHT

_ACUTE = "  ▄▀ "
_CARON = " ▀▄▀ "
_RING = "  o  "
_ACCENTED: dict[str, tuple[str, str]] = {
    "Á": ("A", _ACUTE), "É": ("E", _ACUTE), "Í": ("I", _ACUTE), "Ó": ("O", _ACUTE),
    "Ú": ("U", _ACUTE), "Ý": ("Y", _ACUTE),
    "Č": ("C", _CARON), "Ď": ("D", _CARON), "Ě": ("E", _CARON), "Ň": ("N", _CARON),
    "Ř": ("R", _CARON), "Š": ("S", _CARON), "Ť": ("T", _CARON), "Ž": ("Z", _CARON),
    "Ů": ("U", _RING),
}


def _glyph(char: str) -> tuple[str, tuple[str, ...]]:
    """The accent row and the rows of ``char`` (a capital); ``?`` for a character the font
    lacks."""
    if char in _ACCENTED:
        base, accent = _ACCENTED[char]
        return accent, _FONT[base]
    rows = _FONT.get(char, _FONT["?"])
    return " " * len(rows[0]), rows


def width(text: str) -> int:
    """Columns :func:`render` takes for ``text`` on one line."""
    glyphs = [_glyph(c)[1] for c in text.upper()]
    return sum(len(g[0]) for g in glyphs) + _GAP * max(0, len(glyphs) - 1)


def height(text: str) -> int:
    """Rows :func:`render` takes for ``text`` on one line (one more with an accent)."""
    return GLYPH_HEIGHT + (1 if any(c in _ACCENTED for c in text.upper()) else 0)


def render(text: str) -> list[str]:
    """``text`` (made capitals) on one line of block letters: rows of equal width."""
    glyphs = [_glyph(c) for c in text.upper()]
    gap = " " * _GAP
    rows = [gap.join(g[1][i] for g in glyphs) for i in range(GLYPH_HEIGHT)]
    if any(c in _ACCENTED for c in text.upper()):
        rows.insert(0, gap.join(g[0] for g in glyphs))
    return rows


def fit(text: str, columns: int, rows: int) -> list[str] | None:
    """``text`` in block letters within ``columns`` by ``rows``: on one line if it fits, else
    broken between words onto as many lines as fit (a blank row between two; the caller centres
    each row); None when even that does not fit (the caller writes it in plain text)."""
    words = text.split()
    if not words:
        return []
    lines: list[str] = []
    for word in words:
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and width(joined) <= columns:
            lines[-1] = joined
        else:
            lines.append(word)
    if any(width(line) > columns for line in lines):
        return None
    needed = sum(height(line) for line in lines) + len(lines) - 1
    if needed > rows:
        return None
    out: list[str] = []
    for line in lines:
        if out:
            out.append("")
        out.extend(render(line))
    return out
