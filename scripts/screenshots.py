"""Screenshots of every tab and dialog of the console, for the README and for review.

Runs the real console (`app.main.main(["--demo", ...])`, the embedded demo) and, once it
has been up for a while, visits every tab, opens a live page and the overlay of all
robots, and shows the sign-in and connection-settings dialogs, saving each as
docs/screenshots/<scheme>-<name>.png.  The colour scheme comes from
TONYPI_COLOR_SCHEME (scripts/screenshots.sh runs this once per scheme under Xvfb).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

logger = logging.getLogger("screenshots")

WARM_UP_S = 25.0  # alerts raised, jobs running, history filled
SETTLE_MS = 1200  # after switching a tab: its worker answers, charts draw


def _name(text: str) -> str:
    """A stable file name: "Alerts (2 critical)" -> alerts; a live page -> live, or
    overlay when it shows several robots."""
    if "tonypi" in text.lower():
        return "overlay" if "+" in text else "live"
    return re.sub(r"[^a-z0-9]+", "-", text.split("(")[0].lower()).strip("-") or "tab"


class Tour:
    def __init__(self, out_dir: Path, scheme: str) -> None:
        self.out_dir, self.scheme = out_dir, scheme
        self.steps: list = []
        self.saved: list[Path] = []

    def save(self, widget: QWidget, name: str) -> None:
        path = self.out_dir / f"{self.scheme}-{name}.png"
        widget.grab().save(str(path))
        self.saved.append(path)
        logger.info("saved %s", path)

    def run(self, steps) -> None:
        self.steps = list(steps)
        self._next()

    def _next(self) -> None:
        if not self.steps:
            return
        step, delay_ms = self.steps.pop(0)
        try:
            step()
        except Exception:  # one broken view must not cost the other pictures
            logger.exception("screenshot step failed")
        QTimer.singleShot(delay_ms, self._next)


def main_window():
    from app.main_window import MainWindow

    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow) and widget.isVisible():
            return widget
    raise RuntimeError("the console's main window is not up")


def plan(tour: Tour, robots: list[str]):
    """(step, delay after it in ms) pairs, run one after the other on the GUI thread."""
    steps = []

    def tab(index: int):
        def show():
            window = main_window()
            window.tabs.setCurrentIndex(index)
        def shoot():
            window = main_window()
            tour.save(window, _name(window.tabs.tabText(index)))
        return [(show, SETTLE_MS), (shoot, 100)]

    def open_pages():
        window = main_window()
        window.open_live_page(robots[:1])
        window.open_live_page(robots)

    steps.append((open_pages, 3000))
    count = 12  # fixed tabs plus the two live pages; missing indexes are skipped below
    for index in range(count):
        def guarded(index=index):
            return index < main_window().tabs.count()
        for step, delay in tab(index):
            steps.append((lambda s=step, g=guarded: s() if g() else None, delay))
    steps.append((lambda: dialogs(tour), 500))
    steps.append((lambda: main_window().close(), 500))
    return steps


def dialogs(tour: Tour) -> None:
    from app.login_dialog import LoginDialog
    from app.settings_dialog import SettingsDialog
    from services.connection_profile import ProfileStore

    def refuse(username: str, password: str):
        raise ValueError("not used")

    login = LoginDialog(refuse, QSettings(), notice="Demo account: user <b>demo</b>, "
                                                    "password shown in the terminal.")
    login.show()
    QApplication.processEvents()
    tour.save(login, "sign-in")
    login.close()
    with tempfile.TemporaryDirectory() as tmp:
        settings = SettingsDialog(ProfileStore(Path(tmp) / "connections.toml"))
        settings.show()
        QApplication.processEvents()
        tour.save(settings, "connection-settings")
        settings.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--warm-up", type=float, default=WARM_UP_S)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    scheme = os.environ.get("TONYPI_COLOR_SCHEME", "light")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.demo_stack import demo_robots
    from app.main import main as console_main

    tour = Tour(args.out, scheme)
    robots = list(demo_robots(4))
    QTimer.singleShot(int(args.warm_up * 1000), lambda: tour.run(plan(tour, robots)))
    # --run-for: signs in with the demo account unattended; long enough for the tour.
    code = console_main(["--demo", "--log-level", "WARNING",
                         "--run-for", str(args.warm_up + 120)])
    del app
    logger.info("%d screenshots in %s", len(tour.saved), args.out)
    return code if tour.saved else 1


if __name__ == "__main__":
    raise SystemExit(main())
