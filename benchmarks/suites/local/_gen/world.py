"""The source data of the local suite: a small town (Riverton), its shop, weather and buses.

Everything the sites and attached files show is rendered from here. Random parts use one
seeded `random.Random` and only integer draws (tenths of a millimetre, cents, tenths of a
degree), so the data are the same on every machine and every Python version we support.
Truths are *not* computed from this module: they are read back from the written artifacts
(see tasks.py), so what an agent can see is what the truth is made of.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SEED = 20250314
MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


@dataclass(frozen=True)
class Maker:
    slug: str
    name: str
    city: str
    state: str
    founded: int


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str  # tools / garden / paint
    maker: str  # Maker.slug
    price_cents: int
    stock: int
    weight_g: int
    warranty_months: int
    sold_2024: int


MAKERS = [
    Maker("kestrel-tools", "Kestrel Tools", "Duluth", "Minnesota", 1987),
    Maker("greenleaf-outdoor", "Greenleaf Outdoor", "Boise", "Idaho", 2003),
    Maker("brightcoat-paints", "Brightcoat Paints", "Akron", "Ohio", 1952),
    Maker("northlight-supply", "Northlight Supply", "Tacoma", "Washington", 1979),
]

CATEGORIES = {"tools": "Tools", "garden": "Garden", "paint": "Paint & Supplies"}

PRODUCTS = [
    Product("HH-1001", "Cordless Drill 18V", "tools", "kestrel-tools", 8999, 14, 1650, 24, 412),
    Product("HH-1002", "Claw Hammer 16 oz", "tools", "kestrel-tools", 1849, 52, 680, 12, 958),
    Product("HH-1003", "Folding Utility Knife", "tools", "northlight-supply", 1195, 75, 140, 6, 1204),
    Product("HH-1004", "Digital Tape Measure", "tools", "kestrel-tools", 3450, 21, 310, 12, 377),
    Product("HH-1005", "Socket Set, 40 pieces", "tools", "northlight-supply", 5299, 9, 2400, 36, 215),
    Product("HH-2001", "Cedar Garden Bench", "garden", "greenleaf-outdoor", 21900, 4, 18500, 24, 61),
    Product("HH-2002", "Bypass Pruning Shears", "garden", "greenleaf-outdoor", 2475, 38, 260, 24, 540),
    Product("HH-2003", "Expandable Garden Hose 50 ft", "garden", "greenleaf-outdoor", 3999, 27, 1900, 12, 633),
    Product("HH-2004", "Solar Path Lantern, 4-pack", "garden", "northlight-supply", 4599, 18, 1200, 18, 290),
    Product("HH-2005", "Raised Bed Kit", "garden", "greenleaf-outdoor", 8950, 7, 14200, 60, 88),
    Product("HH-2006", "Rotating Compost Bin", "garden", "greenleaf-outdoor", 6499, 11, 6800, 36, 140),
    Product("HH-3001", "Interior Eggshell Paint, White, 1 gal", "paint", "brightcoat-paints", 3899, 40, 4800, 12, 1510),
    Product("HH-3002", "Exterior Satin Paint, Slate, 1 gal", "paint", "brightcoat-paints", 4599, 22, 4900, 12, 870),
    Product("HH-3003", "Stain-Blocking Primer, 1 gal", "paint", "northlight-supply", 3275, 33, 5100, 6, 1630),
    Product("HH-3004", "Paint Roller Kit", "paint", "kestrel-tools", 1699, 60, 900, 12, 1120),
    Product("HH-3005", "Painter's Tape, 3-pack", "paint", "brightcoat-paints", 1299, 85, 450, 0, 1475),
]  # fmt: skip


@dataclass(frozen=True)
class Station:
    code: str
    name: str
    elevation_m: int
    opened: int


STATIONS = [
    Station("ASH", "Ashford Ridge", 412, 1961),
    Station("MLB", "Millbrook", 88, 1974),
    Station("HRB", "Harbor Point", 6, 1958),
    Station("CDR", "Cedar Hollow", 305, 1990),
    Station("PNE", "Pine Summit", 655, 2002),
]
RAIN_YEARS = (2022, 2023)
TEMPERATURE_STATION = "MLB"
TEMPERATURE_YEAR = 2023
HEAT_SPIKE_MONTH, HEAT_SPIKE_TENTHS = 5, 85  # a hot spell that makes one month's range stand out


@dataclass(frozen=True)
class Route:
    number: int
    name: str
    zones: tuple[int, ...]
    first_bus: str
    headway_min: int


ROUTES = [
    Route(2, "Harbor Loop", (1, 2), "05:40", 10),
    Route(5, "Ridge Express", (1, 3, 5), "06:15", 20),
    Route(7, "Millbrook Line", (2, 3), "05:55", 12),
    Route(9, "Crosstown", (3, 4), "06:05", 15),
    Route(12, "Airport Shuttle", (1, 4, 5), "04:50", 30),
    Route(14, "Night Owl", (1, 2, 3, 4), "22:30", 45),
]
ZONES = (1, 2, 3, 4, 5)
RIDERS = {"adult": (1, 1), "senior": (1, 2), "student": (3, 4), "child": (1, 4)}  # share of fare
PERIODS = {"peak": (5, 4), "offpeak": (1, 1)}  # multiplier as a fraction
BASE_FARE_CENTS, PER_ZONE_CENTS = 200, 85

# The group trip in the travel-plan PDF: (rider, from zone, to zone, period).
TRIP_LEGS = [
    ("adult", 1, 3, "peak"),
    ("senior", 2, 4, "offpeak"),
    ("student", 3, 1, "offpeak"),
    ("child", 2, 2, "peak"),
    ("adult", 4, 1, "offpeak"),
    ("senior", 5, 3, "peak"),
]

# The contractor's order (XLSX) and the parcel on the shipping label (PNG).
CONTRACTOR_ORDER = [("HH-1002", 3), ("HH-1003", 5), ("HH-3001", 4), ("HH-3003", 2), ("HH-2003", 1)]
PARCEL = [("HH-2004", 2), ("HH-1005", 1), ("HH-1002", 3)]
TRACKING_NUMBER = "RVT-48213-KX"

COMMITTEE = ["Priya Nandakumar", "Tomasz Wielgosz", "Aiyana Redcloud", "Daniel Okafor"]
POLICY_DATE = (2025, 3, 14)
TREASURER = "Marguerite Osei"
LIBRARY_VOTE = {"for": 4, "against": 2, "abstained": 1}


def fare_cents(rider: str, origin: int, dest: int, period: str) -> int:
    """The fare rule the transit site's calculator applies, rounded half up to a cent."""
    zones = abs(dest - origin) + 1
    base = BASE_FARE_CENTS + PER_ZONE_CENTS * (zones - 1)
    num_r, den_r = RIDERS[rider]
    num_p, den_p = PERIODS[period]
    numerator, denominator = base * num_r * num_p, den_r * den_p
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class RandomData:
    rain_tenths: dict[tuple[str, int], list[int]]  # (station, year) -> 12 monthly totals
    temperatures: list[tuple[str, int, int]]  # (ISO date, tmin tenths, tmax tenths)
    transactions: list[tuple[str, str, str, int]]  # (id, ISO date, customer, cents)
    quarterly: list[tuple[str, int, int, int, int]]  # (region, Q1..Q4 dollars)
    orders: list[tuple[str, str, str, str, int, int]]  # (id, date, customer, product, qty, cents)


CUSTOMERS = [
    "Avery Quinn", "Blake Moreno", "Cleo Hart", "Dev Patel", "Elena Rossi", "Farah Haddad",
    "Gus Lindqvist", "Hana Sato", "Ivan Petrov", "Jada Brooks", "Kofi Mensah", "Lena Vogel",
    "Mateo Cruz", "Nia Adeyemi", "Oscar Berg", "Pia Laine", "Quentin Roy", "Rosa Alves",
    "Sami Karim", "Tess Murphy", "Umar Siddiqui", "Vera Novak", "Wes Carter", "Xin Li",
    "Yara Haddad", "Zane Fischer", "Ada Byrne", "Bruno Costa", "Chloe Martin", "Diego Ramos",
    "Esme Clarke", "Felix Wong", "Greta Holm", "Hugo Silva", "Iris Keller", "Jonah Reed",
]  # fmt: skip
COMPANIES = [
    "Lumen Labs", "Orchard & Vine", "Pelican Freight", "Quarry Road Studio", "Ridgeline Dental",
    "Saltmarsh Bakery", "Tidewater Clinic", "Union Street Books",
]  # fmt: skip
CATALOG = ["Desk lamp", "Office chair", "Monitor arm", "Label printer", "Paper, 5 reams",
           "Toner cartridge", "Headset", "Webcam", "Whiteboard", "Shredder"]  # fmt: skip
REGIONS = ["North", "South", "East", "West", "Central", "Coastal"]
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MEAN_TEMPS = (2, 3, 7, 11, 15, 19, 22, 21, 17, 12, 7, 3)


def random_data() -> RandomData:
    rng = random.Random(SEED)
    rain: dict[tuple[str, int], list[int]] = {}
    for station in STATIONS:
        wetter = 100 + station.elevation_m // 8  # hills catch more rain (percent)
        for year in RAIN_YEARS:
            rain[station.code, year] = [rng.randint(180, 1400) * wetter // 100 for _ in MONTHS]
    temperatures = []
    for month, days in enumerate(_DAYS, start=1):
        spread = rng.randint(20, 60)  # how jumpy this month is, in tenths
        for day in range(1, days + 1):
            mean = _MEAN_TEMPS[month - 1] * 10 + rng.randint(-spread, spread)
            low = mean - rng.randint(20, 70)
            high = (
                mean
                + rng.randint(20, 70)
                + (HEAT_SPIKE_TENTHS if month == HEAT_SPIKE_MONTH and day == 18 else 0)
            )
            temperatures.append((f"{TEMPERATURE_YEAR}-{month:02d}-{day:02d}", low, high))
    transactions = []
    for customer in CUSTOMERS:
        for _ in range(rng.randint(1, 7)):
            month = rng.randint(1, 12)
            day = rng.randint(1, _DAYS[month - 1])
            transactions.append((f"2024-{month:02d}-{day:02d}", customer, rng.randint(499, 24999)))
    rng.shuffle(transactions)
    transactions.sort(key=lambda t: t[0])
    numbered = [(f"T{n:04d}", *t) for n, t in enumerate(transactions, start=1)]
    quarterly = [
        (region, *(rng.randint(40, 160) * 1000 + rng.randint(0, 999) for _ in range(4)))
        for region in REGIONS
    ]
    orders = []
    for n in range(1, 61):
        month = rng.randint(1, 12)
        day = rng.randint(1, _DAYS[month - 1])
        orders.append(
            (
                f"SO-{2400 + n}",
                f"2024-{month:02d}-{day:02d}",
                rng.choice(COMPANIES),
                rng.choice(CATALOG),
                rng.randint(1, 20),
                rng.randint(500, 9000),
            )
        )
    return RandomData(rain, temperatures, numbered, quarterly, orders)
