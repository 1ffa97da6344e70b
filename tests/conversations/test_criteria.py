"""The shipped criteria packs, and how the loader reports a broken pack, versions and overrides."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conversations.criteria import (
    PACKS_DIR,
    Pack,
    PackError,
    Registry,
    Text,
    default_registry,
    load_dir,
    load_file,
    parse_pack,
    scan_dir,
)

FULL_PACKS = ("phu-luc-i", "phu-luc-iv")
OVERRIDE = "phu-luc-iv-i67"
ALL_PACKS = ("phu-luc-i", "phu-luc-iv", "phu-luc-iv-i67")

CRITERIA_VI = {
    1: "Năng lực tự học và học tập suốt đời",
    2: "Năng lực sử dụng công cụ học tập, làm việc",
    3: "Năng lực xây dựng và thực hiện các mối quan hệ xã hội",
}
# indicator number -> criterion number, the same in every pack
CRITERION_OF = {1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 2, 7: 2, 8: 2, 9: 3, 10: 3}

# Phụ lục I wording (2020 draft, as in shared/reference/criteria.md)
FRAMEWORK_VI = {
    1: "Đọc, cập nhật thông tin và tri thức trên sách báo, tivi, máy tính, điện thoại di động",
    2: "Xây dựng kế hoạch học tập theo các chương trình phục vụ yêu cầu công việc hoặc do nhà nước, "
    "cơ quan, đoàn thể quy định",
    3: "Sắp xếp hợp lý công việc để có thời gian tham gia hoạt động tại nhà văn hóa, câu lạc bộ, thư viện, "
    "hội thảo, hội nghị",
    4: "Động viên, tạo điều kiện cho người thân trong gia đình và đồng nghiệp học tập thường xuyên",
    5: "Sử dụng công nghệ thông tin (máy tính, điện thoại thông minh) đáp ứng yêu cầu công việc",
    6: "Sử dụng ngoại ngữ theo yêu cầu công việc, vị trí đảm nhận",
    7: "Kỹ năng tính toán để công việc luôn được cải tiến, sáng tạo, năng suất ngày càng cao",
    8: "Tư duy biện chứng và tư duy phản biện trong công việc, sản xuất, kinh doanh, dịch vụ và hoạt động xã hội",
    9: "Tạo mối quan hệ thân thiện với mọi người, điều hòa các quan hệ để tránh xung đột",
    10: "Hợp tác, chia sẻ trong lao động, hoạt động xã hội với đồng nghiệp, cộng đồng",
}


# --------------------------------------------------------------------------- helpers


def _raw(pack_id: str) -> dict[str, Any]:
    """The shipped YAML of a pack, as plain data."""
    return yaml.safe_load((PACKS_DIR / f"{pack_id}.yaml").read_text(encoding="utf-8"))


def _write(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _texts(pack: Pack) -> Iterator[tuple[str, Text]]:
    """Every bilingual text of a pack, with its place."""
    yield "title", pack.title
    for c in pack.criteria:
        yield f"criterion {c.number}", c.title
    for g in pack.groups:
        yield f"group {g.code}", g.label
        if g.short is not None:
            yield f"group {g.code} short", g.short
    for ind in pack.indicators:
        where = f"indicator {ind.number}"
        yield f"{where} text", ind.text
        yield f"{where} explanation", ind.explanation
        for name, text in (("summary", ind.summary), ("evidence hint", ind.evidence_hint)):
            if text is not None:
                yield f"{where} {name}", text
        for lv in ind.levels:
            yield f"{where} level {lv.points}", lv.label
        for j, ex in enumerate(ind.evidence_examples):
            yield f"{where} evidence {j}", ex


def _problems_of(path: Path) -> list[str]:
    with pytest.raises(PackError) as caught:
        load_file(path, Registry())
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    return caught.value.problems


# --------------------------------------------------------------------------- the shipped packs


def test_shipped_packs_load_through_default_registry_and_load_dir():
    registry = default_registry()
    assert registry.ids() == sorted(ALL_PACKS)
    assert len(registry) == len(ALL_PACKS)
    assert load_dir().ids() == registry.ids()
    assert load_dir(PACKS_DIR).ids() == registry.ids()
    for pack_id in ALL_PACKS:
        pack = registry.get(pack_id, 1)
        assert pack.key == (pack_id, 1)
        assert registry.latest(pack_id) is pack


@pytest.mark.parametrize("pack_id", ALL_PACKS)
def test_each_pack_has_ten_indicators_in_three_criteria(pack_id):
    pack = default_registry().get(pack_id, 1)
    assert pack.numbers == tuple(range(1, 11))
    assert [c.number for c in pack.criteria] == [1, 2, 3]
    assert {c.number: c.title.vi for c in pack.criteria} == CRITERIA_VI
    assert {ind.number: ind.criterion for ind in pack.indicators} == CRITERION_OF
    assert pack.criterion(2).title.en == "Capacity to use tools for learning and work"


@pytest.mark.parametrize("pack_id", ALL_PACKS)
def test_every_text_is_given_in_vietnamese_and_english(pack_id):
    pack = default_registry().get(pack_id, 1)
    seen = 0
    for where, text in _texts(pack):
        seen += 1
        assert text.vi.strip(), f"{pack_id} {where}: no Vietnamese"
        assert text.en.strip(), f"{pack_id} {where}: no English"
        assert text.vi != text.en, f"{pack_id} {where}: not translated"
        assert text.get("vi") == text.vi
        assert text.get("en") == text.en
    assert seen > 100  # titles, 10 texts, 10 explanations, 30+ levels, 30+ evidence examples


@pytest.mark.parametrize("pack_id", FULL_PACKS)
def test_full_packs_give_usable_levels_and_evidence(pack_id):
    pack = default_registry().get(pack_id, 1)
    assert pack.reconstructed is True
    assert pack.source.startswith(f"QĐ 324/QĐ-KHVN, Phụ lục {pack_id.removeprefix('phu-luc-').upper()} ")
    assert pack.digital_skill_min_points == 8
    assert [ind.number for ind in pack.indicators if ind.digital_skill] == [5]
    for ind in pack.indicators:
        points = [lv.points for lv in ind.levels]
        assert 3 <= len(points) <= 4, ind.number
        assert points == sorted(points, reverse=True), ind.number
        assert points[0] == 10 and points[-1] == 0, ind.number
        assert ind.level(0) is not None and ind.level(0).label.vi.startswith("Chưa thực hiện")
        assert ind.level(0).label.en.startswith("Not yet")
        assert 3 <= len(ind.evidence_examples) <= 5, ind.number
        for lang in ("vi", "en"):
            explanation = ind.explanation.get(lang)
            assert "01/01" in explanation and "31/12" in explanation, (ind.number, lang)
        assert ind.origin == ""


def test_framework_keeps_the_reported_indicator_wording():
    pack = default_registry().get("phu-luc-i", 1)
    assert {ind.number: ind.text.vi for ind in pack.indicators} == FRAMEWORK_VI


def test_staff_pack_indicators_6_and_7_differ_from_the_framework():
    registry = default_registry()
    framework, staff = registry.get("phu-luc-i", 1), registry.get("phu-luc-iv", 1)
    for n in (6, 7):
        assert staff.indicator(n).text != framework.indicator(n).text
        assert staff.indicator(n).evidence_examples != framework.indicator(n).evidence_examples


def test_override_swaps_in_framework_indicators_6_and_7():
    registry = default_registry()
    framework, staff = registry.get("phu-luc-i", 1), registry.get("phu-luc-iv", 1)
    pack = registry.get(OVERRIDE, 1)
    assert pack.derived_from == "phu-luc-iv@1"
    assert pack.source == "QĐ 324/QĐ-KHVN: Phụ lục IV, chỉ tiêu 6 và 7 thay bằng chỉ tiêu 6 và 7 của Phụ lục I"
    assert pack.title.vi and pack.title.en
    assert pack.groups == ()  # a unit chooses it; no population group maps to it
    assert pack.criteria == staff.criteria
    for n in range(1, 11):
        ind = pack.indicator(n)
        if n in (6, 7):
            assert ind.origin == f"phu-luc-i:{n}"
            assert ind.text == framework.indicator(n).text
            assert dataclasses.replace(ind, origin="") == framework.indicator(n)
        else:
            assert ind.origin == ""
            assert ind == staff.indicator(n)
    assert pack.indicator(5).digital_skill


def test_population_groups_map_to_their_packs():
    registry = default_registry()
    assert {g.code: pack_id for g, pack_id in registry.groups()} == {
        "community": "phu-luc-i",
        "worker": "phu-luc-i",
        "staff": "phu-luc-iv",
    }
    labels = {g.code: g.label for g, _ in registry.groups()}
    assert labels["community"].en == "Community residents (farmers, self-employed, homemakers, retirees...)"
    assert labels["worker"].vi == "Công nhân, người lao động trong doanh nghiệp, thợ thủ công"
    assert labels["staff"].vi.startswith("Cán bộ, công chức, viên chức, người lao động")
    assert registry.pack_for_group("community").id == "phu-luc-i"
    assert registry.pack_for_group("staff").id == "phu-luc-iv"
    with pytest.raises(KeyError):
        registry.pack_for_group("student")


# --------------------------------------------------------------------------- broken packs


def _drop_en_text(d: dict[str, Any]) -> None:
    del d["indicators"][2]["text"]["en"]


def _points_11(d: dict[str, Any]) -> None:
    d["indicators"][0]["levels"][0]["points"] = 11


def _duplicate_number(d: dict[str, Any]) -> None:
    d["indicators"][4]["number"] = 4


def _only_nine(d: dict[str, Any]) -> None:
    del d["indicators"][9]


def _highest_not_10(d: dict[str, Any]) -> None:
    d["indicators"][1]["levels"][0]["points"] = 9


def _long_short_label(d: dict[str, Any]) -> None:
    d["groups"][0]["short"]["vi"] = "Người dân trong cộng đồng, nông dân"


def _summary_in_two_lines(d: dict[str, Any]) -> None:
    d["indicators"][3]["summary"]["en"] = "One line.\nAnd a second one."


def _long_pack_short(d: dict[str, Any]) -> None:
    d["short"]["en"] = "Framework criteria and indicators (Appendix I)"


def _misspelt_group_key(d: dict[str, Any]) -> None:
    d["groups"][1]["shrot"] = d["groups"][1].pop("short")


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("missing-en-text", _drop_en_text, ["indicators[2].text.en: missing or empty"]),
    (
        "points-11",
        _points_11,
        [
            "indicators[0].levels[0].points: 11 is outside 0..10",
            "indicators[0].levels: the highest level must give 10 points",
        ],
    ),
    (
        "duplicated-number",
        _duplicate_number,
        ["indicators: expected numbers 1..10 once each, got [1, 2, 3, 4, 4, 6, 7, 8, 9, 10]"],
    ),
    ("only-9", _only_nine, ["indicators: expected numbers 1..10 once each, got [1, 2, 3, 4, 5, 6, 7, 8, 9]"]),
    ("highest-not-10", _highest_not_10, ["indicators[1].levels: the highest level must give 10 points"]),
    ("long-short-label", _long_short_label, ["groups[0].short.vi: one line of at most 25 characters, got 35"]),
    (
        "two-line-summary",
        _summary_in_two_lines,
        ["indicators[3].summary.en: one line of at most 160 characters, got 27"],
    ),
    ("misspelt-group-key", _misspelt_group_key, ["groups[1]: unknown key 'shrot'"]),
    ("long-pack-short", _long_pack_short, ["pack.short.en: one line of at most 40 characters, got 46"]),
]


@pytest.mark.parametrize(("fault", "break_it", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_pack_reports_its_fault(tmp_path, fault, break_it, expected):
    data = _raw("phu-luc-i")
    break_it(data)
    problems = _problems_of(_write(tmp_path / f"{fault}.yaml", data))
    assert problems == expected


def test_broken_pack_reports_every_fault_at_once(tmp_path):
    data = _raw("phu-luc-i")
    _drop_en_text(data)
    _points_11(data)
    _highest_not_10(data)
    _duplicate_number(data)
    problems = _problems_of(_write(tmp_path / "all.yaml", data))
    assert "indicators[2].text.en: missing or empty" in problems
    assert "indicators[0].levels[0].points: 11 is outside 0..10" in problems
    assert "indicators[1].levels: the highest level must give 10 points" in problems
    assert any(p.startswith("indicators: expected numbers 1..10 once each, got [1, 2, 3, 4, 4,") for p in problems)
    # parse_pack on the data itself says the same
    with pytest.raises(PackError) as caught:
        parse_pack(data, "pasted")
    assert caught.value.problems == problems


def test_broken_pack_in_a_folder_stops_load_dir(tmp_path):
    data = _raw("phu-luc-i")
    _only_nine(data)
    _write(tmp_path / "phu-luc-i.yaml", data)
    with pytest.raises(PackError) as caught:
        load_dir(tmp_path)
    assert any("got [1, 2, 3, 4, 5, 6, 7, 8, 9]" in p for p in caught.value.problems)


def test_file_that_is_not_yaml_syntax(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: phu-luc-i\nindicators: [1, 2\n  - : : :\n", encoding="utf-8")
    problems = _problems_of(path)
    assert len(problems) == 1 and problems[0].startswith("not valid YAML:")


def test_file_that_is_prose_not_a_pack(tmp_path):
    path = tmp_path / "decision.yaml"
    path.write_text("QUYẾT ĐỊNH về việc ban hành Bộ tiêu chí đánh giá mô hình Công dân học tập\n", encoding="utf-8")
    assert _problems_of(path) == ["the file must hold a mapping"]


def test_file_that_is_binary_not_text(tmp_path):
    path = tmp_path / "phu-luc-iv.yaml"  # e.g. the official .docx renamed
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\xff\xfe\x00word/document.xml")
    problems = _problems_of(path)
    assert len(problems) == 1 and problems[0].startswith("not a UTF-8 text file")


def test_missing_file(tmp_path):
    problems = _problems_of(tmp_path / "nowhere.yaml")
    assert len(problems) == 1 and problems[0].startswith("cannot read:")


# --------------------------------------------------------------------------- versions


def _v2_data() -> dict[str, Any]:
    data = copy.deepcopy(_raw("phu-luc-i"))
    data["version"] = 2
    data["indicators"][0]["text"]["vi"] = "Đọc sách, báo và cập nhật tri thức (văn bản chính thức)"
    return data


def test_version_lookup_keeps_old_versions():
    v1 = parse_pack(_raw("phu-luc-i"), "v1")
    v2 = parse_pack(_v2_data(), "v2")
    registry = Registry([v2, v1])
    assert len(registry) == 2
    assert registry.ids() == ["phu-luc-i"]
    assert registry.get("phu-luc-i", 1) is v1
    assert registry.get("phu-luc-i", 1).indicator(1).text.vi == FRAMEWORK_VI[1]
    assert registry.latest("phu-luc-i") is v2
    assert registry.latest("phu-luc-i").indicator(1).text.vi.endswith("(văn bản chính thức)")
    assert registry.pack_for_group("community") is v2
    assert [pack_id for _, pack_id in registry.groups()] == ["phu-luc-i", "phu-luc-i"]  # not listed twice
    with pytest.raises(KeyError):
        registry.get("phu-luc-i", 3)
    with pytest.raises(KeyError):
        registry.latest("phu-luc-ii")
    with pytest.raises(PackError) as caught:
        registry.add(v1)
    assert caught.value.problems == ["phu-luc-i version 1 is already loaded"]


def test_a_version_added_later_is_the_newest_at_once():
    v1 = parse_pack(_raw("phu-luc-i"), "v1")
    registry = Registry([v1])
    assert registry.latest("phu-luc-i") is v1 and registry.pack_for_group("community") is v1  # both remembered
    v2 = parse_pack(_v2_data(), "v2")
    registry.add(v2)
    assert registry.latest("phu-luc-i") is v2
    assert registry.pack_for_group("community") is v2


def test_version_lookup_from_a_folder(tmp_path):
    _write(tmp_path / "phu-luc-i.yaml", _raw("phu-luc-i"))
    _write(tmp_path / "phu-luc-i-v2.yaml", _v2_data())
    registry = load_dir(tmp_path)
    assert registry.get("phu-luc-i", 1).indicator(1).text.vi == FRAMEWORK_VI[1]
    assert registry.latest("phu-luc-i").version == 2
    assert registry.latest("phu-luc-i").indicator(2) == registry.get("phu-luc-i", 1).indicator(2)


# --------------------------------------------------------------------------- overrides


def _override_data(**changes: Any) -> dict[str, Any]:
    data = _raw(OVERRIDE)
    data.update(changes)
    return data


def test_override_with_a_missing_base_reports_it(tmp_path):
    _write(tmp_path / "phu-luc-i.yaml", _raw("phu-luc-i"))
    _write(tmp_path / "unit.yaml", _override_data(base={"id": "phu-luc-x", "version": 1}))
    with pytest.raises(PackError) as caught:
        load_dir(tmp_path)
    assert caught.value.problems == ["override.base: no pack phu-luc-x version 1"]


def test_override_with_a_missing_base_version_reports_it(tmp_path):
    path = _write(tmp_path / "unit.yaml", _override_data(base={"id": "phu-luc-iv", "version": 2}))
    with pytest.raises(PackError) as caught:
        load_file(path, default_registry())
    assert caught.value.problems == ["override.base: no pack phu-luc-iv version 2"]


def test_override_reports_every_problem(tmp_path):
    data = _override_data(donor={"id": "phu-luc-ix", "version": 1}, indicators=[6, 11])
    del data["version"]
    path = _write(tmp_path / "unit.yaml", data)
    with pytest.raises(PackError) as caught:
        load_file(path, Registry([default_registry().get("phu-luc-iv", 1)]))
    assert caught.value.problems == [
        "override: missing 'version'",
        "override.donor: no pack phu-luc-ix version 1",
        "override.indicators: 11 is not an indicator number",
    ]


def test_override_file_loads_against_a_registry(tmp_path):
    registry = default_registry()
    path = _write(tmp_path / "unit.yaml", _override_data(id="truong-mn-tam-hung-a", indicators=[7]))
    pack = load_file(path, registry)
    assert pack.key == ("truong-mn-tam-hung-a", 1)
    assert pack.indicator(7).origin == "phu-luc-i:7"
    assert pack.indicator(6) == registry.get("phu-luc-iv", 1).indicator(6)


def test_misspelt_keys_and_non_boolean_flags_are_reported(tmp_path: Path) -> None:
    data = yaml.safe_load((PACKS_DIR / "phu-luc-i.yaml").read_text(encoding="utf-8"))
    data["indicators"][4]["digital_skil"] = True
    data["indicators"][3]["digital_skill"] = "false"
    data["reconstructed"] = "yes"
    data["version"] = 0
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PackError) as caught:
        load_file(path)
    problems = caught.value.problems
    assert "indicators[4]: unknown key 'digital_skil'" in problems
    assert "indicators[3].digital_skill: expected true or false, got 'false'" in problems
    assert "pack.reconstructed: expected true or false, got 'yes'" in problems
    assert "pack.version: must be 1 or more" in problems


# --------------------------------------------------------------------------- a folder with a bad file


def test_a_file_reusing_an_id_and_version_is_named_with_the_first_file(tmp_path: Path) -> None:
    _write(tmp_path / "a-phu-luc-i.yaml", _raw("phu-luc-i"))
    _write(tmp_path / "b-copy.yaml", _raw("phu-luc-i"))
    with pytest.raises(PackError) as caught:
        load_dir(tmp_path)
    assert caught.value.source.endswith("b-copy.yaml")
    assert caught.value.problems == [f"phu-luc-i version 1 is already loaded from {tmp_path / 'a-phu-luc-i.yaml'}"]


def test_scan_dir_keeps_the_good_packs_and_names_each_bad_file(tmp_path: Path) -> None:
    for pack_id in ALL_PACKS:
        _write(tmp_path / f"{pack_id}.yaml", _raw(pack_id))
    (tmp_path / "x.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    _write(tmp_path / "z-copy.yaml", _raw("phu-luc-iv"))
    registry, errors = scan_dir(tmp_path)
    assert registry.ids() == sorted(ALL_PACKS)
    assert [Path(e.source).name for e in errors] == ["x.yaml", "z-copy.yaml"]
    assert "\n" not in errors[0].summary() and errors[0].summary().startswith(f"{tmp_path / 'x.yaml'}: not valid YAML")


def test_default_registry_names_the_broken_file_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("conversations.criteria.PACKS_DIR", tmp_path)
    _write(tmp_path / "phu-luc-i.yaml", _raw("phu-luc-i"))
    (tmp_path / "x.yaml").write_text("id: phu-luc-x\nindicators: [1, 2\n  - : : :\n", encoding="utf-8")
    with pytest.raises(PackError) as caught:
        default_registry()
    line = caught.value.summary()
    assert line.startswith(f"{tmp_path / 'x.yaml'}: not valid YAML: line ") and "\n" not in line


def test_a_long_list_of_problems_is_summarised_on_one_line() -> None:
    error = PackError("x.yaml", [f"problem {n}" for n in range(5)])
    assert error.summary() == "x.yaml: problem 0; problem 1; problem 2 (and 2 more: cdht criteria check x.yaml)"


# --------------------------------------------------------------------------- which override a unit may use


def test_a_unit_may_replace_a_group_pack_only_by_an_override_built_on_it() -> None:
    registry = default_registry()
    assert registry.replacements("phu-luc-iv") == ["phu-luc-iv-i67"]
    assert registry.override_problem("phu-luc-iv", "phu-luc-iv-i67") is None
    assert registry.override_problem("phu-luc-iv", "nonexistent") == (
        "no criteria pack nonexistent; packs that can replace phu-luc-iv: phu-luc-iv-i67"
    )
    assert registry.override_problem("phu-luc-iv", "phu-luc-i") == (
        "phu-luc-i is not an override of phu-luc-iv; packs that can replace phu-luc-iv: phu-luc-iv-i67"
    )
    assert registry.override_problem("phu-luc-i", "phu-luc-iv-i67") == "phu-luc-iv-i67 is not an override of phu-luc-i"
    misspelt = registry.override_problem("phu-luc-4", "phu-luc-iv-i67")
    assert misspelt is not None and misspelt.startswith("phu-luc-4 is not a pack people are assigned by their group")
    assert registry.override_problem("phu-luc-iv-i67", "phu-luc-iv-i67") is not None  # not a group pack
    assert (
        registry.override_problem("phu-luc-iv", "phu-luc-iv")
        == "phu-luc-iv is phu-luc-iv itself: clear the override instead"
    )


# --------------------------------------------------------------------------- what small screens show


@pytest.mark.parametrize("pack_id", FULL_PACKS)
def test_every_indicator_has_one_line_to_explain_it_and_one_to_say_what_counts(pack_id):
    """The level screen's line and the evidence step's line: short, in both languages (issue 10)."""
    pack = default_registry().latest(pack_id)
    for ind in pack.indicators:
        assert ind.summary is not None and ind.evidence_hint is not None, ind.number
        for text in (ind.summary, ind.evidence_hint):
            assert all(0 < len(text.get(lang)) <= 110 for lang in ("vi", "en")), (ind.number, text)
    for group in pack.groups:
        assert group.short is not None and all(len(group.short.get(lang)) <= 25 for lang in ("vi", "en"))


def test_each_pack_has_a_short_name_for_the_export() -> None:
    """The export's pack column says "Phụ lục I", not the hundred-character title nor "phu-luc-i v1"."""
    registry = default_registry()
    assert registry.get("phu-luc-i", 1).short_title == Text("Phụ lục I", "Appendix I")
    assert registry.get("phu-luc-iv", 1).short_title == Text("Phụ lục IV", "Appendix IV")
    swapped = registry.get("phu-luc-iv-i67", 1).short_title  # an override has its own, not its base's
    assert swapped.vi == "Phụ lục IV (CT 6, 7 của Phụ lục I)" and swapped.en.startswith("Appendix IV (")


def test_without_the_short_texts_a_pack_falls_back_to_its_long_ones(tmp_path):
    data = _raw("phu-luc-i")
    for ind in data["indicators"]:
        del ind["summary"], ind["evidence_hint"]
    for group in data["groups"]:
        del group["short"]
    del data["short"]
    pack = load_file(_write(tmp_path / "old-style.yaml", data), Registry())
    assert pack.short is None and pack.short_title == pack.title
    first = pack.indicator(1)
    assert first.summary is None and first.short_explanation().vi == (
        "Bạn thường xuyên đọc, xem, nghe để biết thêm tin tức và kiến thức có ích cho công việc, cuộc sống."
    )
    assert first.short_evidence() == first.evidence_examples[0]
    assert pack.groups[0].choice_label == pack.groups[0].label
