"""Certificates drawn with PIL in DejaVu Sans (which has every Vietnamese glyph), with known text: the evidence
reader's tests and bench/reader.py read them through the real Tesseract and check what it found."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


@dataclass(frozen=True)
class Certificate:
    """What is printed: a title, the holder, a body line, the date line; ``dates`` are the ISO dates on it."""

    title: str
    name: str
    body: str
    date_line: str
    dates: tuple[str, ...]


# A small generated set: each indicator's typical paper, dates in each written form.
SET = (
    Certificate(
        "GIẤY CHỨNG NHẬN",
        "Nguyễn Văn An",
        "Đã hoàn thành khóa học Bình dân học vụ số",
        "Hà Nội, ngày 12 tháng 5 năm 2026",
        ("2026-05-12",),
    ),
    Certificate(
        "THẺ THƯ VIỆN",
        "Trần Thị Bình",
        "Thư viện xã Tân Hòa - phiếu mượn sách",
        "Cấp ngày 03/02/2026",
        ("2026-02-03",),
    ),
    Certificate(
        "GIẤY CÔNG NHẬN",
        "Lê Văn Cường",
        "Gia đình văn hóa năm 2025",
        "Ngày 20-12-2025",
        ("2025-12-20",),
    ),
    Certificate(
        "DANH SÁCH ỦNG HỘ QUỸ",
        "Phạm Thị Dung",
        "Ủng hộ quỹ khuyến học thôn Đông",
        "Tháng 9/2026",
        ("2026-09",),
    ),
    Certificate(
        "CHỨNG CHỈ NGOẠI NGỮ",
        "Hoàng Văn Em",
        "Tiếng Anh bậc 2 theo khung 6 bậc",
        "Ngày 15/11/2026",
        ("2026-11-15",),
    ),
    Certificate(
        "SỔ THU CHI",
        "Võ Thị Phượng",
        "Thu chi vụ lúa, chi phí phân bón",
        "Ngày 7 tháng 3 năm 2026",
        ("2026-03-07",),
    ),
)


def draw(cert: Certificate, *, width: int = 1200, height: int = 700) -> Image.Image:
    """The certificate on white, black text, a thin frame: what a fair phone photo of a printed paper gives."""
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    pen.rectangle((20, 20, width - 20, height - 20), outline="black", width=3)
    title, text = ImageFont.truetype(str(BOLD), 52), ImageFont.truetype(str(FONT), 38)
    pen.text((width // 2, 90), cert.title, font=title, fill="black", anchor="mm")
    lines = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", f"Cấp cho: {cert.name}", cert.body, cert.date_line)
    for i, line in enumerate(lines):
        pen.text((70, 180 + i * 110), line, font=text, fill="black")
    return image


def blurred(image: Image.Image, radius: float = 4) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def darkened(image: Image.Image, factor: float = 0.12) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


def as_jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
