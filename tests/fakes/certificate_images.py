"""Certificate-like pictures drawn with Pillow (DejaVu has the Vietnamese letters), and the copies people
make of them: re-compressed JPEGs and crops. For the duplicate search's tests and bench/duplicates.py."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = Path("/usr/share/fonts/truetype/dejavu")
TITLES = ("GIẤY CHỨNG NHẬN", "GIẤY KHEN", "CHỨNG CHỈ TIN HỌC", "BẰNG KHEN", "THẺ THƯ VIỆN", "GIẤY XÁC NHẬN")
NAMES = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em", "Vũ Thị Phương")


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = FONTS / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    return ImageFont.truetype(str(path), size) if path.exists() else ImageFont.load_default(size)


def certificate(
    seed: int, *, title: str | None = None, name: str | None = None, when: str | None = None
) -> Image.Image:
    """A certificate whose frame, colours, sizes and lines follow ``seed``: different seeds, different pictures."""
    r = random.Random(seed)
    w, h = 1100 + 100 * (seed % 4), 800 + 60 * (seed % 5)
    image = Image.new("RGB", (w, h), (255, 250, 235) if seed % 2 else (245, 245, 255))
    d = ImageDraw.Draw(image)
    ink = (r.randint(0, 150), r.randint(0, 150), r.randint(0, 150))
    d.rectangle((20, 20, w - 20, h - 20), outline=ink, width=r.randint(6, 18))
    d.text(
        (w // 2, 140), title or TITLES[seed % len(TITLES)], font=_font(r.randint(46, 64), True), fill=ink, anchor="mm"
    )
    d.text((w // 2, 290), name or NAMES[(seed * 5) % len(NAMES)], font=_font(52, True), fill=(0, 0, 0), anchor="mm")
    y = 390
    for _ in range(r.randint(2, 4)):
        d.text((120, y), "Đã hoàn thành khóa học " + "x" * r.randint(5, 25), font=_font(34), fill=(30, 30, 30))
        y += 60
    d.text((w - 460, h - 220), when or f"ngày {seed % 28 + 1} tháng 5 năm 2026", font=_font(34), fill=(0, 0, 0))
    cx, cy = r.randint(200, 400), h - 180
    d.ellipse((cx - 90, cy - 90, cx + 90, cy + 90), outline=(200, 0, 0), width=8)
    return image


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def recompressed(image: Image.Image, quality: int = 30) -> Image.Image:
    return Image.open(io.BytesIO(jpeg(image, quality))).convert("RGB")


def cropped(image: Image.Image, share: float) -> Image.Image:
    """``share`` cut off each edge."""
    w, h = image.size
    return image.crop((round(w * share), round(h * share), round(w * (1 - share)), round(h * (1 - share))))
