"""What a workbook's Markdown table drops: colours, comments, merged ranges and formulas.

Some tasks hinge on formatting ("sum the green cells"), so each sheet gets a section that
lists, per fill colour and per font colour, the cells that carry it with their values (runs
of cells in a column or row become ranges), then comments, merged ranges and formulas with
the values the file last computed. Colours are given as the nearest plain name plus hex.
Theme colours are named by their theme slot, since the theme's palette is not resolved.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

MAX_LISTED = 400  # formulas and comments listed per sheet
MAX_VALUED = 200  # a colour on more cells than this gets its ranges only, not each value

_NAMES = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "dark red": (192, 0, 0),
    "green": (0, 176, 80),
    "light green": (146, 208, 80),
    "bright green": (0, 255, 0),
    "dark green": (0, 97, 0),
    "pale green": (198, 239, 206),
    "blue": (0, 112, 192),
    "bright blue": (0, 0, 255),
    "light blue": (189, 215, 238),
    "dark blue": (0, 32, 96),
    "yellow": (255, 255, 0),
    "pale yellow": (255, 235, 156),
    "orange": (255, 192, 0),
    "dark orange": (237, 125, 49),
    "pink": (255, 199, 206),
    "purple": (112, 48, 160),
    "grey": (128, 128, 128),
    "light grey": (217, 217, 217),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "brown": (150, 75, 0),
    "brick red": (192, 80, 77),
    "light red": (255, 124, 128),
    "light orange": (250, 192, 144),
    "olive green": (155, 187, 89),
    "teal": (75, 172, 198),
    "navy": (31, 73, 125),
    "lavender": (204, 192, 218),
    "dark grey": (64, 64, 64),
}


def colour_name(rgb_hex: str) -> str:
    """'light green (#92D050)' for '92D050' (or 'FF92D050')."""
    hex6 = rgb_hex[-6:].upper()
    r, g, b = (int(hex6[i : i + 2], 16) for i in (0, 2, 4))
    name = min(
        _NAMES, key=lambda n: sum((x - y) ** 2 for x, y in zip(_NAMES[n], (r, g, b), strict=True))
    )
    return f"{name} (#{hex6})"


# Fonts in the default text colour ("Text 1" of the theme, or black) are not news.
_DEFAULT_FONTS = frozenset({"theme colour 1", "black (#000000)"})


_THEME_SLOTS = (
    "lt1",
    "dk1",
    "lt2",
    "dk2",
    *(f"accent{i}" for i in range(1, 7)),
    "hlink",
    "folHlink",
)


def theme_palette(theme_xml: bytes | None) -> list[str]:
    """The workbook theme's colours as hex, in the order cells index them (light 1, dark 1,
    light 2, dark 2, accents 1-6, links); empty when the file has no readable theme."""
    if not theme_xml:
        return []
    import xml.etree.ElementTree as ET

    ns = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
    try:
        root = ET.fromstring(theme_xml)
    except ET.ParseError:
        return []
    scheme = root.find(f".//{ns}clrScheme")
    if scheme is None:
        return []
    palette = []
    for slot in _THEME_SLOTS:
        node = scheme.find(f"{ns}{slot}")
        colour = node[0] if node is not None and len(node) else None
        value = (
            None
            if colour is None
            else (colour.get("val") if colour.tag.endswith("srgbClr") else colour.get("lastClr"))
        )
        palette.append(value if value and len(value) == 6 else "")
    return palette


def _tinted(hex6: str, tint: float) -> str:
    """Excel's tint: lighten (tint > 0) or darken (tint < 0) in HLS lightness."""
    import colorsys

    r, g, b = (int(hex6[i : i + 2], 16) / 255 for i in (0, 2, 4))
    h, light, sat = colorsys.rgb_to_hls(r, g, b)
    light = light * (1 + tint) if tint < 0 else light * (1 - tint) + tint
    r, g, b = colorsys.hls_to_rgb(h, min(1.0, max(0.0, light)), sat)
    return "".join(f"{round(v * 255):02X}" for v in (r, g, b))


_PALETTE: list[str] = []  # the theme of the workbook being described (one at a time)


def _colour(color: Any) -> str | None:
    """A described openpyxl Color, or None for none/automatic/default."""
    if color is None:
        return None
    kind = getattr(color, "type", None)
    if kind == "rgb" and isinstance(color.rgb, str) and len(color.rgb) >= 6:
        if color.rgb.upper() in ("00000000",):
            return None
        return colour_name(color.rgb)
    if kind == "theme" and color.theme is not None:
        tint = f", tint {color.tint:+.2f}" if color.tint else ""
        if color.theme == 1 and not color.tint:
            return "theme colour 1"  # the default text colour
        if 0 <= color.theme < len(_PALETTE) and _PALETTE[color.theme]:
            rgb = _tinted(_PALETTE[color.theme], float(color.tint or 0.0))
            return f"{colour_name(rgb)}, theme colour {color.theme}{tint}"
        return f"theme colour {color.theme}{tint}"
    if kind == "indexed" and color.indexed is not None and color.indexed not in (64, 65):
        from openpyxl.styles.colors import COLOR_INDEX

        if 0 <= color.indexed < len(COLOR_INDEX):
            return colour_name(COLOR_INDEX[color.indexed])
        return f"indexed colour {color.indexed}"
    return None


def _ranges(cells: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Cells (row, col) merged into vertical runs, then runs side by side into rectangles."""
    from itertools import groupby

    runs: list[tuple[int, int, int, int]] = []  # (col, top, bottom) as (top, left, bottom, right)
    for col, group in groupby(sorted(cells, key=lambda c: (c[1], c[0])), key=lambda c: c[1]):
        rows = [r for r, _ in group]
        start = prev = rows[0]
        for r in rows[1:]:
            if r != prev + 1:
                runs.append((start, col, prev, col))
                start = r
            prev = r
        runs.append((start, col, prev, col))
    merged: list[tuple[int, int, int, int]] = []
    for top, left, bottom, right in runs:
        if (
            merged
            and merged[-1][0] == top
            and merged[-1][2] == bottom
            and merged[-1][3] == left - 1
        ):
            merged[-1] = (top, merged[-1][1], bottom, right)
        else:
            merged.append((top, left, bottom, right))
    return merged


def _ref(top: int, left: int, bottom: int, right: int) -> str:
    from openpyxl.utils import get_column_letter as col

    first = f"{col(left)}{top}"
    return first if (top, left) == (bottom, right) else f"{first}:{col(right)}{bottom}"


def _show(value: Any) -> str:
    text = " ".join(str(value).split()) if value is not None else "(empty)"
    return text[:80] + ("..." if len(text) > 80 else "")


def describe_xlsx(path: Path) -> str:
    """The formatting section for every sheet of an xlsx/xlsm workbook ('' if none)."""
    import openpyxl

    formulas_wb = openpyxl.load_workbook(path, data_only=False)
    _PALETTE[:] = theme_palette(formulas_wb.loaded_theme)
    values_wb = openpyxl.load_workbook(path, data_only=True)
    parts = [
        f"# Formatting and formulas ({len(formulas_wb.sheetnames)} sheets: "
        + ", ".join(repr(n) for n in formulas_wb.sheetnames)
        + ")"
    ]
    for ws in formulas_wb.worksheets:
        parts.append(_sheet(ws, values_wb[ws.title]))
    return "\n\n".join(parts)


def _sheet(ws: Any, values: Any) -> str:
    fills: dict[str, list[tuple[int, int]]] = defaultdict(list)
    fonts: dict[str, list[tuple[int, int]]] = defaultdict(list)
    comments: list[str] = []
    formulas: list[str] = []
    cell_values: dict[tuple[int, int], Any] = {}
    for row in ws.iter_rows():
        for cell in row:
            if not hasattr(cell, "column"):
                continue
            at = (cell.row, cell.column)
            value = values.cell(row=cell.row, column=cell.column).value
            cell_values[at] = value
            fill = cell.fill
            if fill is not None and fill.fill_type == "solid":
                name = _colour(fill.fgColor) or _colour(fill.start_color)
                if name:
                    fills[name].append(at)
            font = _colour(cell.font.color) if cell.font is not None else None
            if font and cell.value is not None and font not in _DEFAULT_FONTS:
                fonts[font].append(at)
            if cell.comment is not None and len(comments) < MAX_LISTED:
                author = f" ({cell.comment.author})" if cell.comment.author else ""
                comments.append(f"- {cell.coordinate}{author}: {_show(cell.comment.text)}")
            if (
                isinstance(cell.value, str)
                and cell.value.startswith("=")
                and len(formulas) < MAX_LISTED
            ):
                formulas.append(f"- {cell.coordinate}: `{cell.value}` = {_show(value)}")
    lines = [f"## Sheet {ws.title!r}: formatting"]
    lines += _colour_lines("Fill", fills, cell_values)
    lines += _colour_lines("Font colour", fonts, cell_values)
    if ws.merged_cells.ranges:
        lines.append("Merged ranges: " + ", ".join(str(r) for r in ws.merged_cells.ranges))
    if comments:
        lines.append("Comments:")
        lines += comments
    if formulas:
        lines.append("Formulas (with the values last saved in the file):")
        lines += formulas
    if len(lines) == 1:
        lines.append("(no fill or font colours, comments, merged ranges or formulas)")
    return "\n".join(lines)


def _colour_lines(
    what: str, groups: dict[str, list[tuple[int, int]]], values: dict[tuple[int, int], Any]
) -> list[str]:
    from openpyxl.utils import get_column_letter as col

    lines = []
    for name, cells in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        ranges = ", ".join(_ref(*r) for r in _ranges(cells))
        lines.append(f"{what} {name}: {len(cells)} cells, {ranges}")
        if len(cells) <= MAX_VALUED:
            shown = "; ".join(f"{col(c)}{r}={_show(values.get((r, c)))}" for r, c in sorted(cells))
            lines.append(f"  values: {shown}")
    return lines


XLS_NOTE = (
    "(An Excel 97 .xls workbook: the cell values of every sheet are shown above; fill and "
    "font colours, comments and formulas are not read from this older format. Ask the "
    "ComputerTerminal to convert it to .xlsx with LibreOffice if they matter.)"
)
