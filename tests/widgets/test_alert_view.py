"""AlertView: filters, and every acknowledge gesture emits the right alert ids."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.widgets.alert_support import NOW, mixed_alerts
from widgets.alert_model import AlertTableModel, Column
from widgets.alert_view import AlertView


class Prompt:
    """Answers the comment/reason dialog like an operator would; None is Cancel."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.asked: list[str] = []
        self.labels: list[str] = []

    def __call__(self, _parent, title: str, label: str) -> str | None:
        self.asked.append(title)
        self.labels.append(label)
        return self.answer


def make_view(qtbot, prompt: Prompt | None = None) -> AlertView:
    model = AlertTableModel()
    model.upsert(mixed_alerts())
    view = AlertView(model, prompt=prompt or Prompt(""), clock=lambda: NOW.timestamp())
    qtbot.addWidget(view)
    view.resize(1400, 700)
    view.show()
    qtbot.waitExposed(view)
    return view


def cell_centre(view: AlertView, alert_id: int, column: Column) -> QPoint:
    index = view.view_index(alert_id, column)
    assert index.isValid()
    return view.table.visualRect(index).center()


def double_click(view: AlertView, point: QPoint) -> None:
    """What a real double-click delivers: press, release, double-click, release."""
    viewport = view.table.viewport()
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    QTest.mouseDClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def test_filters_by_severity_robot_state_and_time(qtbot):
    view = make_view(qtbot)
    assert view.visible_ids() == [1, 2, 3, 4, 5, 6]
    view.set_filters(severity="critical")
    assert view.visible_ids() == [1, 5, 6]
    view.set_filters(robot="tonypi_02")
    assert view.visible_ids() == [2, 3]
    view.set_filters(state="Unacknowledged")
    assert view.visible_ids() == [1, 2, 4, 6]
    view.set_filters(state="Active, acknowledged")
    assert view.visible_ids() == [3]
    view.set_filters(state="Cleared")
    assert view.visible_ids() == [4, 5]
    view.set_filters(time_range="Last hour")
    assert view.visible_ids() == [1, 2]
    view.set_filters(time_range="Last 24 h")
    assert view.visible_ids() == [1, 2, 3, 4]
    view.set_filters(time_range="Last 7 days", severity="warning", state="Unacknowledged")
    assert view.visible_ids() == [2, 4]
    assert view.summary_label.text() == "2 of 6 alerts shown"
    # The robot combo lists every robot the model knows.
    robots = [view.robot_filter.itemText(i) for i in range(view.robot_filter.count())]
    assert robots == ["All robots", "tonypi_01", "tonypi_02", "tonypi_03"]


def test_a_row_changing_state_leaves_or_enters_a_state_filter(qtbot):
    from tests.widgets.alert_support import acknowledged

    view = make_view(qtbot)
    view.set_filters(state="Unacknowledged")
    view.model.upsert([acknowledged(view.model.alert(2))])
    assert view.visible_ids() == [1, 4, 6]


def test_the_row_button_acknowledges_that_row_with_one_click(qtbot):
    view = make_view(qtbot)
    with qtbot.waitSignal(view.acknowledge_requested) as signal:
        QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, cell_centre(view, 2, Column.ACTION))
    assert signal.args == [[2], ""]
    # An acknowledged row has no button: a click there asks for nothing.
    with qtbot.assertNotEmitted(view.acknowledge_requested):
        QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, cell_centre(view, 3, Column.ACTION))


def test_double_click_acknowledges_an_unacknowledged_row_and_opens_details_otherwise(qtbot):
    view = make_view(qtbot)
    with qtbot.waitSignal(view.acknowledge_requested) as signal:
        double_click(view, cell_centre(view, 4, Column.ROBOT))
    assert signal.args == [[4], ""]
    with qtbot.assertNotEmitted(view.acknowledge_requested), \
            qtbot.waitSignal(view.details_requested) as details:
        double_click(view, cell_centre(view, 5, Column.STATE))
    assert details.args == [5]
    assert view.details.alert().id == 5
    # A double-click on the row's button is the button's click, not a second request.
    requests = []
    view.acknowledge_requested.connect(lambda *args: requests.append(list(args)))
    double_click(view, cell_centre(view, 1, Column.ACTION))
    qtbot.wait(50)
    assert requests == [[[1], ""]]


def test_context_menu_acknowledge_asks_for_a_comment_and_covers_the_selection(qtbot):
    prompt = Prompt("fan replaced")
    view = make_view(qtbot, prompt)
    view.select_alerts([1, 2, 3])
    menu = view.context_menu_for(view.view_index(2))
    actions = {a.text(): a for a in menu.actions()}
    assert list(actions) == ["Acknowledge...", "Resolve...", "Details"]
    with qtbot.waitSignal(view.acknowledge_requested) as signal:
        actions["Acknowledge..."].trigger()
    assert signal.args == [[1, 2], "fan replaced"]  # 3 was acknowledged already
    assert prompt.asked == ["Acknowledge"]

    # A right-click outside the selection acts on the clicked row only.
    menu = view.context_menu_for(view.view_index(6))
    with qtbot.waitSignal(view.acknowledge_requested) as signal:
        next(a for a in menu.actions() if a.text() == "Acknowledge...").trigger()
    assert signal.args == [[6], "fan replaced"]

    prompt.answer = None  # Cancel in the dialog
    menu = view.context_menu_for(view.view_index(6))
    with qtbot.assertNotEmitted(view.acknowledge_requested):
        next(a for a in menu.actions() if a.text() == "Acknowledge...").trigger()


def test_context_menu_entries_follow_the_row_state(qtbot):
    view = make_view(qtbot)
    menu = view.context_menu_for(view.view_index(5))  # cleared and acknowledged
    enabled = {a.text(): a.isEnabled() for a in menu.actions()}
    assert enabled == {"Acknowledge...": False, "Resolve...": False, "Details": True}
    with qtbot.waitSignal(view.details_requested) as signal:
        menu.actions()[2].trigger()
    assert signal.args == [5]


def test_resolve_needs_a_reason_and_says_what_happens_while_the_condition_holds(qtbot):
    prompt = Prompt("sensor unplugged for maintenance")
    view = make_view(qtbot, prompt)
    menu = view.context_menu_for(view.view_index(1))
    with qtbot.waitSignal(view.resolve_requested) as signal:
        next(a for a in menu.actions() if a.text() == "Resolve...").trigger()
    assert signal.args == [1, "sensor unplugged for maintenance"]

    prompt.answer = ""
    menu = view.context_menu_for(view.view_index(1))
    with qtbot.assertNotEmitted(view.resolve_requested):
        next(a for a in menu.actions() if a.text() == "Resolve...").trigger()
    assert "needs a reason" in view.notice_text()
    # The dialog tells the operator the rule is held, not re-raised seconds later.
    label = prompt.labels[-1]
    assert "no new alert is raised" in label and "back in range" in label
    # The missing-reason notice goes once a resolve with a reason is asked for.
    prompt.answer = "unplugged"
    next(a for a in view.context_menu_for(view.view_index(1)).actions()
         if a.text() == "Resolve...").trigger()
    assert view.notice_text() == ""


def test_a_notice_goes_when_its_cause_does_and_only_then(qtbot):
    view = make_view(qtbot)
    view.show_notice("Alerts may be out of date: database down", "warning", "reload")
    view.clear_notice("acknowledge")
    assert view.notice_cause() == "reload" and "out of date" in view.notice_text()
    view.clear_notice("reload")
    assert view.notice_text() == "" and view.notice_cause() == ""
    view.show_notice("Refused: vera may not resolve alerts")  # no cause: stays
    view.clear_notice("")
    assert "Refused" in view.notice_text()


def test_acknowledge_selected_sends_every_selected_unacknowledged_alert(qtbot):
    prompt = Prompt("")
    view = make_view(qtbot, prompt)
    assert not view.acknowledge_selected_button.isEnabled()
    # Select like an operator: click one row, ctrl-click two more.
    QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, cell_centre(view, 2, Column.ROBOT))
    for alert_id in (3, 6):
        QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.ControlModifier,
                         cell_centre(view, alert_id, Column.ROBOT))
    assert [r.id for r in view.selected_alerts()] == [2, 3, 6]
    assert view.acknowledge_selected_button.isEnabled()
    assert view.acknowledge_selected_button.text() == "Acknowledge 2 selected..."
    with qtbot.waitSignal(view.acknowledge_requested) as signal:
        QTest.mouseClick(view.acknowledge_selected_button, Qt.MouseButton.LeftButton)
    assert signal.args == [[2, 6], ""]


def test_selecting_a_row_shows_it_in_the_details_pane(qtbot):
    view = make_view(qtbot)
    with qtbot.waitSignal(view.details_requested) as signal:
        QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.NoModifier, cell_centre(view, 3, Column.SOURCE))
    assert signal.args == [3]
    assert "#3" in view.details.summary.text()


def test_sorting_by_severity_puts_critical_first(qtbot):
    view = make_view(qtbot)
    view.table.sortByColumn(Column.SEVERITY, Qt.SortOrder.DescendingOrder)
    assert view.visible_ids()[:3] == [1, 5, 6]
    view.table.sortByColumn(Column.VALUE, Qt.SortOrder.DescendingOrder)
    assert view.visible_ids()[-2:] in ([4, 6], [6, 4])  # no value: last either way
    view.table.sortByColumn(Column.VALUE, Qt.SortOrder.AscendingOrder)
    assert sorted(view.visible_ids()[-2:]) == [4, 6]
