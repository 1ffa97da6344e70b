"""Small real documents, built in memory, for the evidence content check: DOCX, XLSX, ODT and PDF files that
their programs would open, and look-alikes that are not what their names say."""

from __future__ import annotations

import io
import zipfile

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)


def _document_xml(text: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
    )


def docx(text: str = "Giấy chứng nhận") -> bytes:
    """A minimal Word document (the three parts Word needs)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("word/document.xml", _document_xml(text))
    return out.getvalue()


def zip_bomb_docx(inflated_mb: int = 64) -> bytes:
    """A Word document whose body inflates to ``inflated_mb`` MB from a few dozen KB: harmless unless opened."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            zeros = bytes(1024 * 1024)
            for _ in range(inflated_mb):
                member.write(zeros)
    return out.getvalue()


def xlsx() -> bytes:
    """A real workbook, written by openpyxl."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Chỉ tiêu", "Điểm"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def odt(*, mimetype_compressed: bool = False) -> bytes:
    """A minimal OpenDocument text: its ``mimetype`` entry first and stored, as the format requires."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        kind = zipfile.ZIP_DEFLATED if mimetype_compressed else zipfile.ZIP_STORED
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=kind)
        archive.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def pdf() -> bytes:
    """A one-page PDF, written by matplotlib."""
    from matplotlib.figure import Figure

    out = io.BytesIO()
    Figure(figsize=(1, 1)).savefig(out, format="pdf")
    return out.getvalue()


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run"
TEXT = "Đây là một tệp văn bản, không phải tài liệu Word.\n".encode()
