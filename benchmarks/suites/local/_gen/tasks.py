"""The local suite's tasks: each question, its level, its file, and how its truth is computed.

Every truth function takes the written suite folder and reads only the artifacts (see
readers.py), following links the way a person would. Ambiguity (two stations tied for the
most rain, an average on a rounding edge) raises SuiteError instead of picking one.

Three tasks are meant for scripted end-to-end tests, each needing exactly one kind of agent:
`web-station-elevation` (one site page), `file-minutes-treasurer` (read an attached PDF) and
`code-transactions-total` (run code over an attached CSV).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

from _gen.readers import (
    Page,
    SuiteError,
    csv_rows,
    docx_text,
    embedded_json,
    flat,
    only,
    pdf_text,
    png_text,
    read_json,
    read_page,
    unique_max,
    unique_min,
    xlsx_rows,
)

MONTH_NAMES = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


@dataclass(frozen=True)
class Task:
    task_id: str
    level: int
    question: str
    truth: Callable[[Path], str]
    steps: str
    tools: str
    file_name: str = ""


# -- shared lookups, all from the artifacts -------------------------------------------------


def sites(root: Path) -> Path:
    return root / "sites"


def station_rows(root: Path) -> list[dict]:
    return read_page(sites(root) / "city" / "stations.html").tables[0].records()


def station_page(root: Path, name: str) -> Page:
    row = only([r for r in station_rows(root) if r["Station"].text == name], f"station {name}")
    return read_page(sites(root) / "city" / "stations.html").follow(row["Station"].href)


def rainfall(page: Page, year: int) -> dict[str, Decimal]:
    table = page.table(f"Monthly rainfall, {year}")
    return {r["Month"].text: Decimal(r["Rainfall (mm)"].text) for r in table.records()}


def search_index(root: Path) -> list[dict]:
    return read_json(sites(root) / "shop" / "products.json")


def product_page(root: Path, sku: str) -> Page:
    item = only([p for p in search_index(root) if p["sku"] == sku], f"product {sku}")
    return read_page(sites(root) / "shop" / item["url"])


def money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def kilograms(text: str) -> Decimal:
    return Decimal(text.removesuffix(" kg"))


def plain(value: Decimal) -> str:
    """A decimal without trailing zeros: 3.540 -> 3.54, 7.0 -> 7."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rounded(value: Fraction, places: int) -> str:
    """Half-up rounding that refuses values on a rounding edge, where solvers may differ."""
    scaled = value * 10**places
    if abs(scaled - math.floor(scaled) - Fraction(1, 2)) < Fraction(1, 100):
        raise SuiteError(f"{float(value)} is too close to a rounding edge at {places} places")
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def fares(root: Path) -> dict[str, int]:
    return embedded_json(read_page(sites(root) / "transit" / "fare-result.html"), "FARES")


def parcel(root: Path) -> list[tuple[str, int]]:
    description = png_text(root / "shipping-label.png")["Description"]
    contents = re.search(r"Contents: ([^|]+)", description).group(1)  # type: ignore[union-attr]
    return [(sku, int(qty)) for qty, sku in re.findall(r"(\d+) x (HH-\d+)", contents)]


# -- truths ------------------------------------------------------------------------------------


def station_elevation(root: Path) -> str:
    row = only([r for r in station_rows(root) if r["Station"].text == "Ashford Ridge"], "station")
    return row["Elevation (m)"].text


def lantern_sku(root: Path) -> str:
    return only([p["sku"] for p in search_index(root) if "lantern" in p["name"].lower()], "lantern")


def treasurer(root: Path) -> str:
    text = flat(pdf_text(root / "council-minutes.pdf"))
    return only(re.findall(r"\. ([A-Z]\w+ [A-Z]\w+) was elected treasurer", text), "treasurer")


def votes_against(root: Path) -> str:
    text = flat(pdf_text(root / "council-minutes.pdf"))
    return only(re.findall(r"(\d+) against", text), "vote against")


def transactions_total(root: Path) -> str:
    total = sum(Decimal(r["amount_usd"]) for r in csv_rows(root / "transactions.csv"))
    return f"{total:.2f}"


def policy_date(root: Path) -> str:
    text = docx_text(root / "facilities-memo.docx")
    day, month, year = only(re.findall(r"takes effect on (\d+) (\w+) (\d{4})", text), "date")
    return f"{year}-{MONTH_NAMES.index(month) + 1:02d}-{int(day):02d}"


def top_q3_region(root: Path) -> str:
    header, *rows = xlsx_rows(root / "sales-2024.xlsx", "Quarterly")
    q3 = header.index("Q3")
    return unique_max({row[0]: row[q3] for row in rows}, "Q3 sales")


def tracking_number(root: Path) -> str:
    description = png_text(root / "shipping-label.png")["Description"]
    return only(re.findall(r"Tracking: (\S+)", description), "tracking number")


def millbrook_2023_total(root: Path) -> str:
    return f"{sum(rainfall(station_page(root, 'Millbrook'), 2023).values()):.1f}"


def senior_fare(root: Path) -> str:
    return f"{fares(root)['1-4-senior-peak'] / 100:.2f}"


def best_paint_maker_city(root: Path) -> str:
    category = read_page(sites(root) / "shop" / "paint.html")
    pages = [category.follow(r["Product"].href) for r in category.tables[0].records()]
    sold = {
        n: int(page.fields["Units sold in 2024"].replace(",", "")) for n, page in enumerate(pages)
    }
    best = pages[unique_max(sold, "units sold")]
    href = re.search(r'<dt>Manufacturer</dt><dd><a href="([^"]+)"', best.html).group(1)  # type: ignore[union-attr]
    return best.follow(href).fields["Headquarters"].split(",")[0]


def kestrel_weight(root: Path) -> str:
    skus = [p["sku"] for p in search_index(root) if p["maker"] == "Kestrel Tools"]
    return plain(sum(kilograms(product_page(root, s).fields["Weight"]) for s in skus))


def lumen_mean_price(root: Path) -> str:
    header, *rows = xlsx_rows(root / "sales-2024.xlsx", "Orders")
    customer, price = header.index("Customer"), header.index("Unit price")
    prices = [Fraction(str(round(r[price], 2))) for r in rows if r[customer] == "Lumen Labs"]
    return rounded(sum(prices) / len(prices), 2)


def repeat_customers(root: Path) -> str:
    counts = Counter(r["customer"] for r in csv_rows(root / "transactions.csv"))
    return str(sum(1 for n in counts.values() if n > 3))


def committee_last_names(root: Path) -> str:
    text = docx_text(root / "facilities-memo.docx")
    members = only(re.findall(r"Its members are ([^;]+);", text), "member list")
    names = re.split(r", | and ", members)
    return ", ".join(sorted(name.split()[-1] for name in names))


def zone3_departures(root: Path) -> str:
    table = read_page(sites(root) / "transit" / "routes.html").tables[0]
    headways = {
        r["Route"].text: int(r["Headway (min)"].text)
        for r in table.records()
        if "3" in r["Zones served"].text.split(", ")
    }
    best = headways[unique_min(headways, "headway")]
    if 60 % best:
        raise SuiteError(f"headway {best} does not divide an hour")
    return str(60 // best)


def contractor_total(root: Path) -> str:
    rows = xlsx_rows(root / "contractor-order.xlsx", "Order")
    start = rows.index(("SKU", "Description", "Quantity")) + 1
    total = sum(
        money(product_page(root, sku).fields["Price"]) * qty for sku, _, qty in rows[start:]
    )
    return f"{total:.2f}"


def trip_total(root: Path) -> str:
    text = flat(pdf_text(root / "travel-plan.pdf"))
    legs = re.findall(r"one (\w+), from zone (\d) to zone (\d), (peak|off-peak)", text)
    table = fares(root)
    cents = sum(table[f"{o}-{d}-{rider}-{when.replace('-', '')}"] for rider, o, d, when in legs)
    return f"{cents / 100:.2f}"


def wettest_high_station(root: Path) -> str:
    high = [r["Station"].text for r in station_rows(root) if int(r["Elevation (m)"].text) > 300]
    totals = {name: sum(rainfall(station_page(root, name), 2022).values()) for name in high}
    name = unique_max(totals, "2022 rainfall")
    return f"{name}; {totals[name]:.1f}"


def rain_in_widest_month(root: Path) -> str:
    rows = csv_rows(root / "mlb-temperatures-2023.csv")
    code = only(sorted({r["station"] for r in rows}), "station code")
    spans: dict[int, Decimal] = {}
    for month in range(1, 13):
        days = [r for r in rows if int(r["date"][5:7]) == month]
        high = max(Decimal(r["max_temp_c"]) for r in days)
        low = min(Decimal(r["min_temp_c"]) for r in days)
        spans[month] = high - low
    month = unique_max(spans, "monthly temperature range")
    station = only([r for r in station_rows(root) if r["Code"].text == code], "station")
    page = station_page(root, station["Station"].text)
    return f"{rainfall(page, 2023)[MONTH_NAMES[month - 1]]:.1f}"


def greenleaf_stock(root: Path) -> str:
    text = docx_text(root / "facilities-memo.docx")
    maker = only(
        re.findall(r"another of the (.+?) products with the longest warranty", text), "maker"
    )
    pages = {
        p["sku"]: product_page(root, p["sku"]) for p in search_index(root) if p["maker"] == maker
    }
    months = {sku: int(page.fields["Warranty"].split()[0]) for sku, page in pages.items()}
    sku = unique_max(months, "warranty")
    return pages[sku].fields["In stock"].split()[0]


def parcel_weight(root: Path) -> str:
    total = sum(
        kilograms(product_page(root, sku).fields["Weight"]) * qty for sku, qty in parcel(root)
    )
    return plain(total)


# -- the suite -------------------------------------------------------------------------------

SHOP = "{site}/shop/index.html"
CITY = "{site}/city/index.html"

TASKS = [
    Task("web-station-elevation", 1,
         "Open {site}/city/stations.html. What is the elevation, in meters, of the Ashford "
         "Ridge weather station? Answer with the number only.",
         station_elevation, "Open the stations page; read the Ashford Ridge row.", "web browser"),
    Task("web-search-lantern", 1,
         f"The Harbor Hardware shop at {SHOP} has a product search. Which product's name "
         "contains the word \"lantern\"? Answer with its SKU.",
         lantern_sku, "Search the shop for 'lantern'; read the SKU of the one result.", "web browser"),
    Task("file-minutes-treasurer", 1,
         "The attached PDF holds the minutes of a Riverton Town Council meeting. Who was "
         "elected treasurer at that meeting? Answer with the person's full name.",
         treasurer, "Read the minutes; item 2 names the new treasurer.", "PDF reader",
         "council-minutes.pdf"),
    Task("file-minutes-vote", 1,
         "According to the attached council minutes, how many council members voted against "
         "the motion on the library budget?",
         votes_against, "Read item 3 of the minutes.", "PDF reader", "council-minutes.pdf"),
    Task("code-transactions-total", 1,
         "The attached CSV lists a shop's card transactions in 2024. What is the sum of the "
         "amount_usd column, in dollars, rounded to two decimal places?",
         transactions_total, "Load the CSV and add up amount_usd.", "code execution",
         "transactions.csv"),
    Task("file-memo-effective-date", 1,
         "According to the attached memo, on what date does the new remote-work policy take "
         "effect? Answer in the form YYYY-MM-DD.",
         policy_date, "Read the memo's second paragraph; convert the date.", "DOCX reader",
         "facilities-memo.docx"),
    Task("file-sales-top-region", 1,
         "The attached workbook has a Quarterly sheet of sales by region. Which region had the "
         "highest sales in the third quarter (Q3)?",
         top_q3_region, "Open the Quarterly sheet; find the largest Q3 value.", "spreadsheet reader",
         "sales-2024.xlsx"),
    Task("file-label-tracking", 1,
         "The attached image is a shipping label. What is the parcel's tracking number?",
         tracking_number, "Look at the label (or its PNG text metadata).", "image viewer",
         "shipping-label.png"),
    Task("web-rainfall-total", 2,
         f"Using Riverton Open Data at {CITY}, what was the total rainfall, in millimeters, at "
         "the Millbrook weather station over the year 2023? Round to one decimal place.",
         millbrook_2023_total, "Open the stations page, then Millbrook; add the 2023 months.",
         "web browser, calculator"),
    Task("web-fare-senior", 2,
         "Use the fare calculator of Riverton Transit at {site}/transit/index.html. What is the "
         "fare, in dollars, for one senior rider traveling from zone 1 to zone 4 at peak time?",
         senior_fare, "Open the fare calculator; submit senior, zone 1 to 4, peak.", "web browser"),
    Task("web-maker-city", 2,
         f"In the Harbor Hardware shop at {SHOP}, which product of the Paint & Supplies "
         "department sold the most units in 2024? In which city is that product's manufacturer "
         "headquartered? Answer with the city name only.",
         best_paint_maker_city, "Open each paint product; compare units sold; open its maker.",
         "web browser"),
    Task("web-kestrel-weight", 2,
         f"Using the product search of the Harbor Hardware shop at {SHOP}, find every product "
         "made by Kestrel Tools. What is their combined weight in kilograms?",
         kestrel_weight, "Search 'Kestrel'; open each result; add the weights.",
         "web browser, calculator"),
    Task("code-orders-avg-price", 2,
         "In the Orders sheet of the attached workbook, what is the mean of the Unit price "
         "column over the orders placed by the customer Lumen Labs? Answer in dollars, rounded "
         "to two decimal places.",
         lumen_mean_price, "Filter the Orders sheet to Lumen Labs; average Unit price.",
         "code execution", "sales-2024.xlsx"),
    Task("code-repeat-customers", 2,
         "In the attached CSV of card transactions, how many distinct customers made more than "
         "three transactions?",
         repeat_customers, "Count transactions per customer; count those above three.",
         "code execution", "transactions.csv"),
    Task("file-committee-members", 2,
         "The attached memo names the members of the policy review committee. List their last "
         "names in alphabetical order, separated by commas.",
         committee_last_names, "Read the memo's third paragraph; sort the last names.",
         "DOCX reader", "facilities-memo.docx"),
    Task("web-route-frequency", 2,
         "On the routes page of Riverton Transit ({site}/transit/routes.html), consider the "
         "routes that serve zone 3. How many departures per hour does the most frequent of them "
         "have?",
         zone3_departures, "Keep routes serving zone 3; smallest headway; 60 / headway.",
         "web browser, calculator"),
    Task("mixed-contractor-order", 3,
         "The attached spreadsheet is a contractor's order from Harbor Hardware, by SKU and "
         f"quantity. Using the prices in the shop at {SHOP}, what is the order's total cost in "
         "dollars?",
         contractor_total, "Read the order; look up each SKU's price in the shop; sum price x qty.",
         "spreadsheet reader, web browser, calculator", "contractor-order.xlsx"),
    Task("mixed-trip-fares", 3,
         "The attached PDF is a hiking club's bus plan. Using the Riverton Transit fare "
         "calculator at {site}/transit/fares.html, what do all the legs of the plan cost "
         "together, in dollars?",
         trip_total, "Read each leg; get its fare from the calculator; add them.",
         "PDF reader, web browser, calculator", "travel-plan.pdf"),
    Task("web-highest-station-rain", 3,
         f"Using Riverton Open Data at {CITY}: among the weather stations higher than 300 m, "
         "which one had the most rainfall over 2022, and how much? Answer as: station name; "
         "total in mm rounded to one decimal place.",
         wettest_high_station, "Pick stations above 300 m; add each one's 2022 months; compare.",
         "web browser, calculator"),
    Task("mixed-temperature-rain", 3,
         "The attached CSV holds a year of daily temperatures from one Riverton weather station. "
         "Find the month with the widest temperature range (highest maximum minus lowest minimum "
         f"in that month). According to Riverton Open Data at {CITY}, how many millimeters of "
         "rain fell at that station in that month?",
         rain_in_widest_month, "Compute monthly ranges in code; open the station's page; read "
         "that month of the same year.", "code execution, web browser", "mlb-temperatures-2023.csv"),
    Task("mixed-memo-stock", 3,
         "The attached memo asks for one product to be ordered from Harbor Hardware. Using the "
         f"shop at {SHOP}, how many units of that product are in stock?",
         greenleaf_stock, "Read the memo; search the maker's products; compare warranties; read "
         "the stock of the longest.", "DOCX reader, web browser", "facilities-memo.docx"),
    Task("mixed-label-weight", 3,
         "The attached image is the shipping label of a parcel from Harbor Hardware. Using the "
         f"product pages of the shop at {SHOP}, what do the parcel's contents weigh in total, in "
         "kilograms (products only, without packaging)?",
         parcel_weight, "Read the contents line; open each SKU's page; sum weight x quantity.",
         "image viewer, web browser, calculator", "shipping-label.png"),
]  # fmt: skip
