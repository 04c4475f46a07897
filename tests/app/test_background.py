import threading

from app.background import BackgroundWork


def test_results_and_failures_come_back_on_the_gui_thread(qtbot):
    work = BackgroundWork("testing")
    gui_thread = threading.get_ident()
    ran_on = []
    received = []
    work.succeeded.connect(lambda token, result: received.append(
        ("ok", token, result, threading.get_ident() == gui_thread)))
    work.failed.connect(lambda token, text: received.append(
        ("failed", token, text, threading.get_ident() == gui_thread)))

    def compute():
        ran_on.append(threading.get_ident())
        return 42

    def explode():
        raise RuntimeError("server gone")

    work.start(1, compute)
    work.start(2, explode)
    qtbot.waitUntil(lambda: len(received) == 2, timeout=5000)
    assert received == [("ok", 1, 42, True), ("failed", 2, "server gone", True)]
    assert ran_on and ran_on[0] != gui_thread
    work.shutdown()
