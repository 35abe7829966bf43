"""The suite's three static sites, rendered from world.py into sites/.

Harbor Hardware (shop/): category tables, product pages, manufacturer pages and a search
page (JavaScript over products.json). Riverton Open Data (city/): weather stations and
monthly rainfall tables. Riverton Transit (transit/): a routes table and a fare calculator,
a GET form whose result page computes the fare from a table embedded in it.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from _gen.world import (
    CATEGORIES,
    MAKERS,
    MONTHS,
    PERIODS,
    PRODUCTS,
    RAIN_YEARS,
    RIDERS,
    ROUTES,
    STATIONS,
    ZONES,
    Product,
    RandomData,
    fare_cents,
)

STYLE = (
    "body{font-family:sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#222}"
    "nav a{margin-right:1rem}table{border-collapse:collapse;margin:1rem 0}"
    "th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left}caption{font-weight:bold}"
    "dt{font-weight:bold}dd{margin:0 0 .5rem 1rem}"
)


def page(title: str, body: str, nav: list[tuple[str, str]]) -> str:
    links = "".join(f'<a href="{href}">{escape(text)}</a>' for href, text in nav)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><nav>{links}</nav>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def table(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    """Cells are HTML already (some hold links); header cells are plain text."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>\n" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table>"


def dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_sites(root: Path, data: RandomData) -> None:
    write(
        root,
        "index.html",
        page(
            "Local test sites",
            '<ul><li><a href="shop/index.html">Harbor Hardware</a></li>'
            '<li><a href="city/index.html">Riverton Open Data</a></li>'
            '<li><a href="transit/index.html">Riverton Transit</a></li></ul>',
            [],
        ),
    )
    _shop(root / "shop")
    _city(root / "city", data)
    _transit(root / "transit")


# -- Harbor Hardware ---------------------------------------------------------------------

SHOP_NAV = [("index.html", "Home"), ("search.html", "Search")] + [
    (f"{slug}.html", name) for slug, name in CATEGORIES.items()
]


def _shop_nav(depth: int) -> list[tuple[str, str]]:
    return [("../" * depth + href, text) for href, text in SHOP_NAV]


def _product_page(product: Product) -> str:
    maker = next(m for m in MAKERS if m.slug == product.maker)
    warranty = f"{product.warranty_months} months" if product.warranty_months else "None"
    fields = [
        ("SKU", escape(product.sku)),
        ("Category", f'<a href="../{product.category}.html">{CATEGORIES[product.category]}</a>'),
        ("Manufacturer", f'<a href="../makers/{maker.slug}.html">{escape(maker.name)}</a>'),
        ("Price", dollars(product.price_cents)),
        ("Weight", f"{product.weight_g / 1000:.2f} kg"),
        ("Warranty", warranty),
        ("Units sold in 2024", f"{product.sold_2024:,}"),
        ("In stock", f"{product.stock} units"),
    ]
    body = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in fields) + "</dl>"
    return page(product.name, body, _shop_nav(1))


def _shop(root: Path) -> None:
    categories = "".join(
        f'<li><a href="{slug}.html">{escape(name)}</a></li>' for slug, name in CATEGORIES.items()
    )
    write(
        root,
        "index.html",
        page(
            "Harbor Hardware",
            "<p>Tools, garden and paint supplies for Riverton since 1994.</p>"
            f"<h2>Departments</h2><ul>{categories}</ul>"
            '<p>Looking for something? Use the <a href="search.html">product search</a>. '
            'See also <a href="makers/index.html">our manufacturers</a>.</p>',
            _shop_nav(0),
        ),
    )
    for slug, name in CATEGORIES.items():
        rows = [
            [f'<a href="product/{p.sku}.html">{escape(p.name)}</a>', p.sku, dollars(p.price_cents)]
            for p in PRODUCTS
            if p.category == slug
        ]
        body = "<p>Select a product for details, stock and shipping weight.</p>" + table(
            ["Product", "SKU", "Price"], rows
        )
        write(root, f"{slug}.html", page(name, body, _shop_nav(0)))
    for product in PRODUCTS:
        write(root, f"product/{product.sku}.html", _product_page(product))
    makers = "".join(f'<li><a href="{m.slug}.html">{escape(m.name)}</a></li>' for m in MAKERS)
    write(root, "makers/index.html", page("Our manufacturers", f"<ul>{makers}</ul>", _shop_nav(1)))
    for maker in MAKERS:
        body = (
            f"<p>{escape(maker.name)} has supplied Harbor Hardware for many years.</p>"
            f"<dl><dt>Headquarters</dt><dd>{maker.city}, {maker.state}</dd>"
            f"<dt>Founded</dt><dd>{maker.founded}</dd></dl>"
        )
        write(root, f"makers/{maker.slug}.html", page(maker.name, body, _shop_nav(1)))
    index = [
        {
            "sku": p.sku,
            "name": p.name,
            "category": CATEGORIES[p.category],
            "maker": next(m.name for m in MAKERS if m.slug == p.maker),
            "price": dollars(p.price_cents),
            "url": f"product/{p.sku}.html",
        }
        for p in PRODUCTS
    ]
    write(root, "products.json", json.dumps(index, indent=1) + "\n")
    search_body = (
        '<form action="search.html" method="get"><label for="q">Search products</label> '
        '<input id="q" name="q" type="search"> <button type="submit">Search</button></form>\n'
        '<p id="count"></p><ul id="results"></ul>\n<script src="search.js"></script>'
    )
    write(root, "search.html", page("Product search", search_body, _shop_nav(0)))
    write(root, "search.js", SEARCH_JS)


SEARCH_JS = """// Matches every word of ?q= against a product's name, SKU, maker and category.
const query = new URLSearchParams(location.search).get("q") || "";
document.getElementById("q").value = query;
const words = query.toLowerCase().split(/\\s+/).filter(Boolean);
fetch("products.json").then((r) => r.json()).then((items) => {
  const count = document.getElementById("count");
  if (!words.length) { count.textContent = "Type a word and press Search."; return; }
  const hits = items.filter((p) => {
    const text = [p.name, p.sku, p.maker, p.category].join(" ").toLowerCase();
    return words.every((w) => text.includes(w));
  });
  count.textContent = `${hits.length} product(s) match "${query}"`;
  const list = document.getElementById("results");
  for (const p of hits) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.name;
    item.append(link, ` (${p.sku}), by ${p.maker}, ${p.price}`);
    list.append(item);
  }
});
"""

# -- Riverton Open Data ------------------------------------------------------------------

CITY_NAV = [("index.html", "Open Data home"), ("stations.html", "Weather stations")]


def _city(root: Path, data: RandomData) -> None:
    write(
        root,
        "index.html",
        page(
            "Riverton Open Data",
            "<p>Public data sets of the Town of Riverton.</p><ul>"
            '<li><a href="stations.html">Weather stations and monthly rainfall</a></li>'
            '<li><a href="about.html">About these data</a></li></ul>',
            CITY_NAV,
        ),
    )
    write(
        root,
        "about.html",
        page(
            "About these data",
            "<p>Rainfall is measured with tipping-bucket gauges and reported as monthly totals "
            "in millimetres, to one decimal place. Elevations are above mean sea level.</p>",
            CITY_NAV,
        ),
    )
    rows = [
        [
            f'<a href="station/{s.code}.html">{escape(s.name)}</a>',
            s.code,
            str(s.elevation_m),
            str(s.opened),
        ]
        for s in STATIONS
    ]
    write(
        root,
        "stations.html",
        page(
            "Weather stations",
            "<p>Select a station for its monthly rainfall.</p>"
            + table(["Station", "Code", "Elevation (m)", "Opened"], rows),
            CITY_NAV,
        ),
    )
    nav = [("../" + href, text) for href, text in CITY_NAV]
    for station in STATIONS:
        tables = "".join(
            table(
                ["Month", "Rainfall (mm)"],
                [
                    [month, f"{tenths / 10:.1f}"]
                    for month, tenths in zip(
                        MONTHS, data.rain_tenths[station.code, year], strict=True
                    )
                ],
                caption=f"Monthly rainfall, {year}",
            )
            for year in RAIN_YEARS
        )
        body = (
            f"<p>Station code {station.code}, elevation {station.elevation_m} m, "
            f"in service since {station.opened}.</p>{tables}"
        )
        write(root, f"station/{station.code}.html", page(f"{station.name} station", body, nav))


# -- Riverton Transit --------------------------------------------------------------------

TRANSIT_NAV = [("index.html", "Transit home"), ("routes.html", "Routes"), ("fares.html", "Fares")]


def _transit(root: Path) -> None:
    write(
        root,
        "index.html",
        page(
            "Riverton Transit",
            "<p>Buses across Riverton's five fare zones.</p><ul>"
            '<li><a href="routes.html">Routes and frequencies</a></li>'
            '<li><a href="fares.html">Fare calculator</a></li></ul>',
            TRANSIT_NAV,
        ),
    )
    rows = [
        [
            str(r.number),
            escape(r.name),
            ", ".join(map(str, r.zones)),
            r.first_bus,
            str(r.headway_min),
        ]
        for r in ROUTES
    ]
    write(
        root,
        "routes.html",
        page(
            "Routes",
            "<p>Buses leave every <em>headway</em> minutes from the first bus of the day.</p>"
            + table(["Route", "Name", "Zones served", "First bus", "Headway (min)"], rows),
            TRANSIT_NAV,
        ),
    )

    def select(name: str, label: str, options: list[tuple[str, str]]) -> str:
        opts = "".join(f'<option value="{v}">{escape(t)}</option>' for v, t in options)
        return f'<p><label for="{name}">{label}</label> <select id="{name}" name="{name}">{opts}</select></p>'

    zones = [(str(z), f"Zone {z}") for z in ZONES]
    form = (
        "<p>Fares depend on the zones you travel through, who rides, and when.</p>"
        '<form action="fare-result.html" method="get">'
        + select("from", "From", zones)
        + select("to", "To", zones)
        + select("rider", "Rider", [(r, r.capitalize()) for r in RIDERS])
        + select("period", "Time of travel", [("peak", "Peak"), ("offpeak", "Off-peak")])
        + '<p><button type="submit">Calculate fare</button></p></form>'
    )
    write(root, "fares.html", page("Fare calculator", form, TRANSIT_NAV))
    fares = {
        f"{o}-{d}-{rider}-{period}": fare_cents(rider, o, d, period)
        for o in ZONES
        for d in ZONES
        for rider in RIDERS
        for period in PERIODS
    }
    result_body = (
        '<p id="fare">Calculating...</p><p><a href="fares.html">Calculate another fare</a></p>'
        f"<script>\nconst FARES = {json.dumps(fares, separators=(',', ':'))};\n{RESULT_JS}</script>"
    )
    write(root, "fare-result.html", page("Your fare", result_body, TRANSIT_NAV))


RESULT_JS = """const p = new URLSearchParams(location.search);
const key = [p.get("from"), p.get("to"), p.get("rider"), p.get("period")].join("-");
const out = document.getElementById("fare");
if (key in FARES) {
  const cents = FARES[key];
  const when = p.get("period") === "peak" ? "at peak time" : "off-peak";
  out.textContent = `Fare for one ${p.get("rider")} rider from zone ${p.get("from")} ` +
    `to zone ${p.get("to")}, ${when}: $${(cents / 100).toFixed(2)}`;
} else {
  out.textContent = "Please choose both zones, a rider type and a time of travel.";
}
"""
