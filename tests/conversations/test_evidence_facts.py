"""What an evidence file's text says: dates in every written form (and as OCR mangles them), the person's name,
the indicators its words point to, the flags a follow-up is owed for, and the hash bands. No fixtures, no I/O."""

from __future__ import annotations

import pytest
import yaml

from conversations import evidence_facts as ef
from conversations.criteria import PACKS_DIR, PackError, default_registry, parse_pack


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("Ngày 12/05/2026", ["2026-05-12"]),
        ("12-5-2026", ["2026-05-12"]),
        ("12.05.2026", ["2026-05-12"]),
        ("12 / 05 / 2026", ["2026-05-12"]),
        ("Hà Nội, ngày 12 tháng 5 năm 2026", ["2026-05-12"]),
        ("NGÀY 12 THÁNG 5 NĂM 2026", ["2026-05-12"]),
        ("ngay 12 thang 5 nam 2026", ["2026-05-12"]),  # diacritics lost
        ("ngày12tháng5năm2026", ["2026-05-12"]),  # spaces lost
        ("ngày 12, tháng 05, năm 2026", ["2026-05-12"]),
        ("Tháng 5/2026", ["2026-05"]),
        ("tháng 05 - 2026", ["2026-05"]),
        ("trong tháng 5 năm 2026", ["2026-05"]),
        ("2026-05-12", ["2026-05-12"]),
        ("ngày 3l/0l/2O26", ["2026-01-31"]),  # OCR's letters for digits, inside a date only
        ("Lớp học tháng 3/2026, cấp ngày 02/04/2026", ["2026-03", "2026-04-02"]),
        ("ký ngày 1 tháng 12 năm 2025; hiệu lực 02/01/2026", ["2025-12-01", "2026-01-02"]),
        ("12/05/2026 và lại 12/05/2026", ["2026-05-12"]),  # each once
    ],
)
def test_dates_in_every_form(text: str, dates: list[str]) -> None:
    assert ef.find_dates(text) == dates


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2026",  # no such day
        "12/13/2026",  # no such month
        "12/05/1890",  # no year of anyone's evidence
        "Số 12/2026/QĐ-UBND",  # a decision's number, not a date
        "SĐT 0912/345/6789",
        "tháng 13/2026",
        "lo/lo/loll",
        "Bình dân học vụ số",
        "",
    ],
)
def test_what_is_not_a_date(text: str) -> None:
    assert ef.find_dates(text) == []


def test_a_date_in_words_is_not_also_read_as_a_month() -> None:
    assert ef.find_dates("ngày 12 tháng 5 năm 2026") == ["2026-05-12"]


@pytest.mark.parametrize(
    ("dates", "outside"),
    [
        ([], False),  # nothing to judge by
        (["2026-05-12"], False),
        (["2025-12-31"], True),
        (["2027-01-01"], True),
        (["2025-12-01", "2026-01-02"], False),  # one date within the year is enough
        (["2026-05"], False),
        (["2025-05"], True),
    ],
)
def test_outside_the_year(dates: list[str], outside: bool) -> None:
    assert ef.outside_year(dates, 2026) is outside


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Cấp cho ông Nguyễn Văn An, sinh năm 1960", True),
        ("CẤP CHO: NGUYEN  VAN AN", True),  # case, accents, double space
        ("Họ tên:NguyễnVăn An", True),  # a space lost
        ("Nguyễn-Văn-An", True),
        ("Nguyễn Văn Anh", False),  # another person
        ("Trần Nguyễn Văn Ân", True),  # accents differ only: still the name as OCR gives it
        ("Nguyễn Thị An", False),
        ("", False),
    ],
)
def test_the_persons_name(text: str, found: bool) -> None:
    assert ef.name_found(text, "Nguyễn Văn An") is found


def test_no_name_known_is_never_found() -> None:
    assert not ef.name_found("Nguyễn Văn An", None)
    assert not ef.name_found("Nguyễn Văn An", "  ")


KEYWORDS = {
    2: ["kế hoạch học tập", "khóa học", "danh sách học viên"],
    5: ["VNeID", "dịch vụ công", "Bình dân học vụ số", "kỹ năng số"],
    6: ["ngoại ngữ", "tiếng Anh"],
}


def test_keywords_count_once_each_by_their_words_whatever_the_accents() -> None:
    text = "GIAY CHUNG NHAN hoan thanh khoa hoc Binh dan hoc vu so; khóa học kỹ năng số"
    assert ef.keyword_scores(text, KEYWORDS) == {2: 2, 5: 5 + 3}
    assert ef.matched(ef.keyword_scores(text, KEYWORDS)) == [5, 2]


def test_a_keyword_is_a_whole_word() -> None:
    assert ef.keyword_scores("tiếng Anhxyz", KEYWORDS) == {}
    assert ef.keyword_scores("vneid", KEYWORDS) == {5: 1}
    assert ef.keyword_scores("tiếng  anh", KEYWORDS) == {6: 2}


def test_a_file_that_fits_another_indicator_better_is_flagged() -> None:
    text = "Giấy chứng nhận hoàn thành khóa học Bình dân học vụ số, ngày 12/05/2026"
    facts = ef.read_facts(text, year=2026, indicator=6, keywords=KEYWORDS)
    assert facts.flags == [ef.OTHER_INDICATOR] and facts.better == 5 and facts.matched == [5, 2]
    assert facts.dates == ["2026-05-12"]


def test_a_file_that_fits_its_indicator_as_well_is_not_flagged() -> None:
    text = "Chứng chỉ tiếng Anh, khóa học 3 tháng"
    assert ef.read_facts(text, year=2026, indicator=6, keywords=KEYWORDS).flags == []  # 6 has 1, 2 has 1: a tie
    assert ef.read_facts("ảnh chụp bữa cơm", year=2026, indicator=6, keywords=KEYWORDS).flags == []  # no words


def test_every_flag_together_in_the_order_a_followup_names_them() -> None:
    facts = ef.read_facts(
        "VNeID ngày 12/05/2025",
        year=2026,
        indicator=6,
        keywords=KEYWORDS,
        full_name="Nguyễn Văn An",
        unreadable=True,
    )
    assert facts.flags == [ef.OUTSIDE_YEAR, ef.UNREADABLE, ef.OTHER_INDICATOR]
    assert not facts.name_found
    assert list(ef.FOLLOWUP_FLAGS) == facts.flags


def test_phash_bands_are_the_four_16_bit_quarters() -> None:
    assert ef.phash_bands("0123456789abcdef") == (0x0123, 0x4567, 0x89AB, 0xCDEF)
    assert ef.phash_bands("ffffffffffffffff") == (0xFFFF,) * 4
    with pytest.raises(ValueError):
        ef.phash_bands("abc")
    assert ef.hamming("0000000000000000", "0000000000000007") == 3


def test_hashes_three_bits_apart_share_a_band() -> None:
    a = 0x0123456789ABCDEF
    for bits in ((0, 17, 40), (15, 31, 47), (63, 62, 61)):
        b = a
        for bit in bits:
            b ^= 1 << bit
        assert set(ef.phash_bands(f"{a:016x}")) & set(ef.phash_bands(f"{b:016x}"))


# --------------------------------------------------------------------------- the packs' keywords


def test_every_shipped_indicator_has_keywords() -> None:
    registry = default_registry()
    for pack_id in registry.ids():
        pack = registry.latest(pack_id)
        for number, words in pack.evidence_keywords().items():
            assert len(words) >= 5, (pack_id, number)


def test_the_override_takes_the_donors_keywords() -> None:
    registry = default_registry()
    i67, donor = registry.latest("phu-luc-iv-i67"), registry.latest("phu-luc-i")
    assert i67.indicator(6).evidence_keywords == donor.indicator(6).evidence_keywords
    assert i67.indicator(1).evidence_keywords == registry.latest("phu-luc-iv").indicator(1).evidence_keywords


@pytest.mark.parametrize(
    ("pack_id", "text", "indicator"),
    [
        ("phu-luc-i", "Giấy chứng nhận hoàn thành khóa học Bình dân học vụ số", 5),
        ("phu-luc-i", "THẺ THƯ VIỆN xã Tân Hòa, phiếu mượn sách", 1),
        ("phu-luc-i", "Giấy công nhận Gia đình văn hóa năm 2026", 9),
        ("phu-luc-i", "Danh sách ủng hộ quỹ khuyến học thôn Đông", 10),
        ("phu-luc-i", "Chứng chỉ tiếng Anh bậc 2", 6),
        ("phu-luc-i", "Sổ thu chi vụ lúa, chi phí phân bón", 7),
        ("phu-luc-iv", "Quyết định công nhận sáng kiến cấp cơ sở", 6),
        ("phu-luc-iv", "Giấy mời dự hội nghị tập huấn, danh sách điểm danh", 3),
        ("phu-luc-iv", "Kế hoạch bồi dưỡng thường xuyên năm học 2026", 2),
    ],
)
def test_shipped_keywords_point_a_typical_document_at_its_indicator(pack_id: str, text: str, indicator: int) -> None:
    pack = default_registry().latest(pack_id)
    assert ef.matched(ef.keyword_scores(text, pack.evidence_keywords()))[0] == indicator


def _pack_with(keywords: object) -> dict:
    """The shipped Phụ lục I with indicator 1's keywords replaced."""
    data = yaml.safe_load((PACKS_DIR / "phu-luc-i.yaml").read_text(encoding="utf-8"))
    data["indicators"][0]["evidence_keywords"] = keywords
    return data


@pytest.mark.parametrize(
    ("keywords", "problem"),
    [
        ("thư viện", "expected a list of words"),
        (["thư viện", ""], "evidence_keywords[1]"),
        (["thư viện", 3], "evidence_keywords[1]"),
        (["thư viện", "Thư viện"], "listed twice"),
        (["x" * 61], "1..60 characters"),
    ],
)
def test_bad_keywords_are_reported_with_their_place(keywords: object, problem: str) -> None:
    with pytest.raises(PackError) as err:
        parse_pack(_pack_with(keywords))
    assert any(problem in p and p.startswith("indicators[0].evidence_keywords") for p in err.value.problems)


def test_keywords_are_optional() -> None:
    data = _pack_with([])
    del data["indicators"][0]["evidence_keywords"]
    assert parse_pack(data).indicator(1).evidence_keywords == ()
