"""The suite's attached files (PDF, XLSX, DOCX, CSV, PNG), rendered from world.py.

Office files and PDFs carry the time they were made; those stamps are pinned so that the
same versions of fpdf2, openpyxl, python-docx and Pillow write the same bytes every time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

from _gen.world import (
    COMMITTEE,
    CONTRACTOR_ORDER,
    LIBRARY_VOTE,
    MONTHS,
    PARCEL,
    POLICY_DATE,
    PRODUCTS,
    TEMPERATURE_STATION,
    TRACKING_NUMBER,
    TREASURER,
    TRIP_LEGS,
    RandomData,
)

STAMP = dt.datetime(2025, 1, 15, 9, 30, tzinfo=dt.timezone.utc)
ZIP_STAMP = (2025, 1, 15, 9, 30, 0)


def write_files(root: Path, data: RandomData) -> None:
    root.mkdir(parents=True, exist_ok=True)
    minutes_pdf(root / "council-minutes.pdf")
    travel_plan_pdf(root / "travel-plan.pdf")
    sales_xlsx(root / "sales-2024.xlsx", data)
    contractor_xlsx(root / "contractor-order.xlsx")
    memo_docx(root / "facilities-memo.docx")
    transactions_csv(root / "transactions.csv", data)
    temperatures_csv(root / f"{TEMPERATURE_STATION.lower()}-temperatures-2023.csv", data)
    label_png(root / "shipping-label.png")


def _pdf():  # type: ignore[no-untyped-def]
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(STAMP)
    pdf.set_margins(20, 20)
    pdf.add_page()
    return pdf


def minutes_pdf(path: Path) -> None:
    pdf = _pdf()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 10, "Riverton Town Council", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    votes = LIBRARY_VOTE
    paragraphs = [
        "Minutes of the regular meeting held on 9 October 2024 at Town Hall, 7:00 pm.",
        "Present: Mayor Ruth Calloway (chair) and councillors Luis Carvajal, Marguerite Osei, "
        "Henrik Dahl, Beatriz Lima, Samuel Achebe and Grace Whitfield.",
        "1. The minutes of the September meeting were approved without changes.",
        f"2. Election of officers. {TREASURER} was elected treasurer by five votes to two, "
        "succeeding Henrik Dahl, who stepped down after six years. Luis Carvajal was "
        "re-elected secretary unopposed.",
        "3. Library budget. Councillor Lima moved to approve the library budget for 2025 "
        f"as presented. The motion carried with {votes['for']} votes for, "
        f"{votes['against']} against and {votes['abstained']} abstention.",
        "4. Harbor Point drainage. The council asked staff to report on repair costs in November.",
        "The meeting closed at 8:40 pm. Next meeting: 13 November 2024.",
    ]
    for text in paragraphs:
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.output(str(path))


def travel_plan_pdf(path: Path) -> None:
    pdf = _pdf()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 10, "Riverside Hiking Club - bus plan for Saturday", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(
        0,
        6,
        "Each leg is one ticket for one rider on Riverton Transit. Zones are the transit "
        "fare zones; 'peak' and 'off-peak' are the transit agency's time periods.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    for n, (rider, origin, dest, period) in enumerate(TRIP_LEGS, start=1):
        when = "peak" if period == "peak" else "off-peak"
        line = f"Leg {n}: one {rider}, from zone {origin} to zone {dest}, {when}."
        pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def _pin_zip(path: Path) -> None:
    """Rewrite an OOXML zip with fixed entry times and fixed created/modified properties."""
    entries = []
    with zipfile.ZipFile(path) as source:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "docProps/core.xml":
                text = body.decode("utf-8")
                stamp = STAMP.strftime("%Y-%m-%dT%H:%M:%SZ")
                text = re.sub(
                    r"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rf"\g<1>{stamp}\2",
                    text,
                )
                body = text.encode("utf-8")
            entries.append((info.filename, body))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, body in entries:
            info = zipfile.ZipInfo(name, ZIP_STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, body)
    path.write_bytes(buffer.getvalue())


def sales_xlsx(path: Path, data: RandomData) -> None:
    from openpyxl import Workbook

    book = Workbook()
    quarterly = book.active
    quarterly.title = "Quarterly"
    quarterly.append(["Region", "Q1", "Q2", "Q3", "Q4"])
    for row in data.quarterly:
        quarterly.append(list(row))
    orders = book.create_sheet("Orders")
    orders.append(["Order ID", "Date", "Customer", "Product", "Quantity", "Unit price"])
    for order_id, date, customer, product, quantity, cents in data.orders:
        orders.append([order_id, date, customer, product, quantity, cents / 100])
        orders.cell(row=orders.max_row, column=6).number_format = "0.00"
    book.properties.creator = "Riverton Office Supply"
    book.save(path)
    _pin_zip(path)


def contractor_xlsx(path: Path) -> None:
    from openpyxl import Workbook

    names = {p.sku: p.name for p in PRODUCTS}
    book = Workbook()
    sheet = book.active
    sheet.title = "Order"
    sheet.append(["Okafor Renovations - order for Harbor Hardware"])
    sheet.append([])
    sheet.append(["SKU", "Description", "Quantity"])
    for sku, quantity in CONTRACTOR_ORDER:
        sheet.append([sku, names[sku], quantity])
    book.properties.creator = "Okafor Renovations"
    book.save(path)
    _pin_zip(path)


def memo_docx(path: Path) -> None:
    from docx import Document

    year, month, day = POLICY_DATE
    members = ", ".join(COMMITTEE[:-1]) + f" and {COMMITTEE[-1]}"
    doc = Document()
    doc.core_properties.author = "Riverton Facilities Office"
    doc.add_heading("Memo: remote work and supplies", level=1)
    doc.add_paragraph("To: all staff. From: the Facilities Office.")
    doc.add_paragraph(
        "After a year of trials, the new remote-work policy takes effect on "
        f"{day} {MONTHS[month - 1]} {year}. Staff may work from home up to two days a week."
    )
    doc.add_paragraph(
        f"A policy review committee will meet each quarter. Its members are {members}; "
        f"{COMMITTEE[0].split()[0]} chairs it."
    )
    doc.add_paragraph(
        "Supplies: the community garden needs another of the Greenleaf Outdoor products with "
        "the longest warranty sold by Harbor Hardware. Please check that it is in stock "
        "before you order."
    )
    doc.core_properties.created = STAMP.replace(tzinfo=None)
    doc.core_properties.modified = STAMP.replace(tzinfo=None)
    doc.save(str(path))
    _pin_zip(path)


def transactions_csv(path: Path, data: RandomData) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["transaction_id", "date", "customer", "amount_usd"])
        for tid, date, customer, cents in data.transactions:
            writer.writerow([tid, date, customer, f"{cents / 100:.2f}"])


def temperatures_csv(path: Path, data: RandomData) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["station", "date", "min_temp_c", "max_temp_c"])
        for date, low, high in data.temperatures:
            writer.writerow([TEMPERATURE_STATION, date, f"{low / 10:.1f}", f"{high / 10:.1f}"])


def label_png(path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont
    from PIL.PngImagePlugin import PngInfo

    contents = ", ".join(f"{qty} x {sku}" for sku, qty in PARCEL)
    lines = [
        "RIVERTON PARCEL SERVICE",
        "From: Harbor Hardware, 12 Wharf St, Riverton",
        "To: Riverton Community Garden, 3 Elm Rd",
        f"Tracking: {TRACKING_NUMBER}",
        f"Contents: {contents}",
    ]
    image = Image.new("L", (640, 220), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=20)
    for n, line in enumerate(lines):
        draw.text((16, 14 + 40 * n), line, fill=0, font=font)
    draw.rectangle((4, 4, 635, 215), outline=0, width=2)
    info = PngInfo()
    info.add_text("Title", "Shipping label")
    info.add_text("Description", " | ".join(lines))
    image.save(path, pnginfo=info, optimize=True)
