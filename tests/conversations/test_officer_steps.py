"""The officer's typed steps (conversations.officer_steps): what a line means for the step owed."""

from __future__ import annotations

from conversations import officer_steps as steps
from conversations.officer_steps import MenuItem, Step, StepKind

CARD = (MenuItem("o|rc|1|3|2", ("xác nhận", "confirm")), MenuItem("o|ra|1|3|2", ("điều chỉnh",)))


def test_a_menu_takes_numbers_keycaps_and_words_and_nothing_else() -> None:
    menu = Step(StepKind.MENU, CARD)
    assert steps.read(menu, "1") == steps.Pick("o|rc|1|3|2")
    assert steps.read(menu, "2️⃣") == steps.Pick("o|ra|1|3|2")
    assert steps.read(menu, "Xac Nhan!") == steps.Pick("o|rc|1|3|2")
    assert steps.read(menu, "7") == steps.OutOfMenu(2)
    assert steps.read(menu, "Nguyễn Văn An") == steps.NotMine()  # the citizen's, not the officer's


def test_a_reason_is_collapsed_and_kept_within_its_limits() -> None:
    adjust = Step(StepKind.ADJUST)
    assert steps.read(adjust, "  ảnh   mờ,\n không đọc được ") == steps.Text("ảnh mờ, không đọc được")
    assert steps.read(adjust, " ok ") == steps.TooShort(3)
    assert steps.read(adjust, "x" * 1001) == steps.TooLong(1000)
    assert steps.read(Step(StepKind.DECISION), "5") == steps.Text("5")  # a number is text where no menu is kept


def test_a_broadcast_keeps_its_lines() -> None:
    typed = "Mời bà con\n\n\n  họp   lúc 8h\nmang sổ "
    assert steps.read(Step(StepKind.BROADCAST), typed) == steps.Text("Mời bà con\n\nhọp lúc 8h\nmang sổ")


def test_the_return_picker_takes_only_its_choices() -> None:
    picker = Step(StepKind.RETURN_PICK, CARD)
    assert steps.read(picker, "2") == steps.Pick("o|ra|1|3|2")
    assert steps.read(picker, "9") == steps.OutOfMenu(2)
    assert steps.read(picker, "vì sao") == steps.UseChoices()


def test_a_stored_step_reads_back_and_an_unknown_kind_is_a_plain_menu() -> None:
    stored = steps.menu_of([("o|rc|1|3|2", ("xác nhận",), "✅ Xác nhận")])
    assert Step.of("adjust", stored) == Step(StepKind.ADJUST, (MenuItem("o|rc|1|3|2", ("xác nhận",)),))
    assert Step.of("something-new").kind is StepKind.MENU
