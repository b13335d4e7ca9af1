"""A real browser: JupyterLab runs the replay notebook (02); we click the replayer's
"go to problem" and step buttons and read what the widget shows; the projections notebook
(07) runs and its live status widget is read.  Every notebook
(01-07) runs top to bottom ("Run All"): no error or stderr output (a failure a cell expects
prints one line), no MathJax-typeset payloads, every chart rendered.

Headless Chromium from Debian (``/usr/bin/chromium``) driven by Playwright (never
``playwright install``).  Skipped, with the reason, when Chromium is not installed —
except where the browser is required (``ACTORPG_REQUIRE_BROWSER=1``, set by ``.ci/run``,
whose ``make test`` installs Chromium first): there a missing browser fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab._notebook_expectations import CHARTS, EXPECTED_FAILURES, FAILURE_MARK

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "02_replay_debugging.ipynb"
#: The schemas the notebooks write to (dropped after the test).
SCHEMAS = ("nb01_explore", "nb02_replay", "nb03_conflicts", "nb03_demo_app", "nb04_pruning",
           "nb04_demo_app", "nb05_schema", "nb06_scale", "nb07_projections",
           "nb08_boundaries")


pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_status(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"jupyter lab did not answer within {timeout}s:\n{log.read_text()}")


@pytest.fixture
def jupyter_lab(tmp_path: Path, pg_server: object) -> Iterator[str]:
    """JupyterLab on a free port, serving a copy of the replay notebook; always terminated."""
    if not CHROMIUM.exists():
        if os.environ.get("ACTORPG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is not installed but ACTORPG_REQUIRE_BROWSER=1 "
                        f"(CI): scripts/ensure-browser.sh should have installed it")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); "
                    f"`make test` installs it in CI")
    root = tmp_path / "root"
    root.mkdir()
    for name in CHARTS:
        shutil.copy(NOTEBOOKS / name, root / name)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    dsn = pg_server.dsn  # type: ignore[attr-defined]
    env = {
        **os.environ,
        "ACTORPG_DSN": dsn,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    env.pop("MPLBACKEND", None)  # the kernel's inline backend: charts show as images
    port = _free_port()
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
               "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = tmp_path / "jupyter.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_status(f"{base}/api/status", proc, log, timeout=90)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)  # JupyterLab shuts its kernels down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        import psycopg
        from psycopg import sql

        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in SCHEMAS:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))


def _shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``$ACTORPG_SCREENSHOTS`` when set (to look at them after the
    run, e.g. for a before/after comparison), else the test's tmp_path."""
    wanted = os.environ.get("ACTORPG_SCREENSHOTS")
    if not wanted:
        return tmp_path
    folder = Path(wanted)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _launch(pw: Any, tmp_path: Path) -> Any:
    """Headless Chromium with a fresh profile under ``tmp_path`` (both browser tests)."""
    return pw.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path / "chromium-profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync"],
        viewport={"width": 1400, "height": 1000},
    )


def _start_run_all(page: Any, url: str) -> None:
    """Open a notebook, accept the kernel dialog if one shows (fresh settings may ask
    which kernel to use: the default is fine), and start Run All."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        accept.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        pass
    else:
        accept.click()
        accept.wait_for(state="hidden")
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


def _open_and_run_all(page: Any, url: str) -> None:
    """:func:`_start_run_all`, then wait until every code cell has an execution count
    (no sleeps: the page says when it is done)."""
    _start_run_all(page, url)
    _wait_until_all_ran(page)


def _wait_until_all_ran(page: Any) -> None:
    """Wait until every code cell of the open notebook has an execution count."""
    page.wait_for_function(
        r"""() => {
            const prompts = [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')];
            return prompts.length > 0 && prompts.every(p => /\[\d+\]/.test(p.textContent));
        }""", timeout=int(os.environ.get("ACTORPG_BROWSER_RUN_ALL_MS", "600000")))
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")


def test_notebooks_run_all_without_errors_maths_or_missing_charts(
        jupyter_lab: str, tmp_path: Path) -> None:
    """Every notebook after "Run All" in JupyterLab: no error or stderr output (expected
    failures print one line on stdout), no payload typeset by MathJax, every chart an
    image that loaded; a screenshot of each is kept (see :func:`_shots`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = _launch(pw, tmp_path)
        page = context.new_page()
        page.set_default_timeout(int(os.environ.get("ACTORPG_BROWSER_TIMEOUT_MS", "90000")))
        try:
            for name, charts in CHARTS.items():
                # ?reset: a fresh workspace, so only this notebook is open
                _open_and_run_all(page, f"{jupyter_lab}/lab/tree/{name}?reset")
                shot = _shots(tmp_path) / f"{Path(name).stem}.png"
                page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").screenshot(
                    path=str(shot))
                assert shot.stat().st_size > 10_000, name
                outputs = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output"
                errors = page.locator(
                    f"{outputs}[data-mime-type='application/vnd.jupyter.stderr']")
                assert errors.count() == 0, (name, errors.first.text_content())
                stdout = page.locator(
                    f"{outputs}[data-mime-type='application/vnd.jupyter.stdout']")
                failures = [line for text in stdout.all_text_contents()
                            for line in text.splitlines() if line.startswith(FAILURE_MARK)]
                assert len(failures) == EXPECTED_FAILURES.get(name, 0), (name, failures)
                assert all("Traceback" not in t and "(" in t for t in failures), failures
                maths = page.locator(f"{outputs} .MathJax, {outputs} mjx-container")
                assert maths.count() == 0, (name, maths.first.text_content())
                images = page.locator(f"{outputs} img")
                assert images.count() == charts, (name, images.count())
                for i in range(images.count()):
                    images.nth(i).scroll_into_view_if_needed()
                    assert images.nth(i).evaluate(
                        "img => img.complete && img.naturalWidth > 100"), (name, i)
        except BaseException:
            page.screenshot(path=str(_shots(tmp_path) / "failure.png"), full_page=True)
            raise
        finally:
            context.close()


def test_go_to_problem_shows_the_failing_event_and_step_changes_the_state(
        jupyter_lab: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = _launch(pw, tmp_path)
        page = context.new_page()
        try:
            page.set_default_timeout(int(os.environ.get("ACTORPG_BROWSER_TIMEOUT_MS", "90000")))
            _start_run_all(page, f"{jupyter_lab}/lab/tree/{NOTEBOOK.name}")
            # The first widget is the replayer of the stream the current code cannot fold
            # (check_streams found it); a healthy one follows.  Wait for the last cell.
            page.wait_for_function(
                "document.querySelectorAll('.actorpg-replayer').length >= 3")
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")

            # -- the broken stream: opened just before its problem; go to it ------------
            broken = page.locator(".actorpg-replayer").first
            broken.scroll_into_view_if_needed()
            goto = broken.locator(".actorpg-goto-problem")
            goto.wait_for(state="visible")
            assert "problem" in (goto.text_content() or "").lower()
            assert broken.locator(".actorpg-problem-mark").count() == 1  # marked on the slider
            event = broken.locator(".actorpg-event")
            # The notebook stepped onto the failing event; step back off it first.
            broken.locator(".actorpg-back").click()
            page.wait_for_function(
                "el => !el.textContent.includes('AccountFrozen')", arg=event.element_handle())
            assert broken.locator(".actorpg-error").count() == 0
            assert goto.is_enabled()
            goto.click()
            error = broken.locator(".actorpg-error")
            error.wait_for(state="visible")
            shown = event.text_content() or ""
            assert "bank.AccountFrozen" in shown and "sanctions screening hit" in shown, shown
            # How the event was stored and read (schema evolution): the current version.
            assert "stored as bank.AccountFrozen v1 (current version)" in shown, shown
            message = error.text_content() or ""
            assert "TypeError" in message and "unknown event AccountFrozen" in message, message
            assert "Traceback" in message and "on_event" in message, message
            assert event.is_visible() and error.is_visible()
            broken.screenshot(path=str(_shots(tmp_path) / "problem.png"))

            # -- a healthy stream: Step applies the next event ---------------------------
            healthy = page.locator(".actorpg-replayer:not(:has(.actorpg-problem))").first
            step = healthy.locator(".actorpg-step")
            state = healthy.locator(".actorpg-state").last
            step.scroll_into_view_if_needed()
            step.wait_for(state="visible")
            assert (step.text_content() or "").strip() == "Step ▶"
            assert step.is_enabled()
            before = state.text_content() or ""
            assert "balance" in before and "owner" in before
            step.click()
            page.wait_for_function(
                "([el, text]) => el.textContent !== text",
                arg=[state.element_handle(), before],
            )
            after = state.text_content() or ""
            assert after != before and "balance" in after
            assert page.locator(".actorpg-problem").count() >= 2
            shot = _shots(tmp_path) / "replayer.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        except BaseException:
            page.screenshot(path=str(_shots(tmp_path) / "failure.png"), full_page=True)
            raise
        finally:
            context.close()


EXPLORE_NOTEBOOK = NOTEBOOKS / "01_explore_journal.ipynb"


def test_explorer_filters_opens_a_stream_and_the_replayer_and_a_chart_hover_shows_its_row(
        jupyter_lab: str, tmp_path: Path) -> None:
    """Notebook 01 in JupyterLab: the explorer (``wb.explore()``) filters by id prefix,
    shows a stream's events, opens the replayer at the chosen event; hovering a dot of the
    interactive recovery-cost chart (``wb.charts``) shows that stream's row.  Waits go
    through locators (re-resolved: widgets may re-render), never element handles."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        context = _launch(pw, tmp_path)
        page = context.new_page()
        timeout = int(os.environ.get("ACTORPG_BROWSER_TIMEOUT_MS", "90000"))
        page.set_default_timeout(timeout)
        expect.set_options(timeout=timeout)
        try:
            _open_and_run_all(page, f"{jupyter_lab}/lab/tree/{EXPLORE_NOTEBOOK.name}?reset")
            app = page.locator(".actorpg-explorer").first
            app.scroll_into_view_if_needed()
            # -- filter: id prefix, no tag --------------------------------------------
            app.locator(".actorpg-explorer-tag input").fill("")
            app.locator(".actorpg-explorer-prefix input").fill("account-0")
            app.locator(".actorpg-explorer-apply").click()
            status = app.locator(".actorpg-explorer-status")
            expect(status).to_contain_text("id starts with 'account-0'")
            expect(status).not_to_contain_text("large")
            streams = app.locator(".actorpg-explorer-streams select")
            labels = [t.replace("\xa0", " ").strip()  # the list pads its columns with nbsp
                      for t in streams.locator("option").all_text_contents()]
            assert labels and all(label.startswith("account-0") for label in labels), labels
            assert any("⚠ undecodable" in label for label in labels), labels  # account-07
            page.screenshot(path=str(_shots(tmp_path) / "explorer-list.png"))
            # -- open a stream -----------------------------------------------------------
            wanted = next(i for i, label in enumerate(labels) if label.startswith("account-05"))
            streams.select_option(index=wanted)
            pane = app.get_by_text("account-05 · events 1..")  # the pane's title
            expect(pane).to_be_visible()
            shown = re.search(r"showing #(\d+)", pane.text_content() or "")
            assert shown, pane.text_content()
            seq = int(shown.group(1))  # the first event of the pane, chosen below
            choice = app.locator(".actorpg-explorer-event select")
            expect(choice.locator("option").first).to_contain_text(f"#{seq} ")
            expect(app.locator(".actorpg-explorer-events")).to_contain_text("bank.")
            expect(app.locator(".actorpg-explorer-events")).to_contain_text("account, ")  # tags
            # every payload line is drawn on one line (JupyterLab's CSS breaks words anywhere)
            assert app.locator(".actorpg-explorer-events pre").count() > 0
            wrapped = app.locator(".actorpg-explorer-events pre").evaluate_all(
                """pres => pres.filter(pre => {
                    const range = document.createRange();
                    range.selectNodeContents(pre);
                    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                    return tops.size > pre.textContent.split('\\n').length;
                }).map(pre => pre.textContent)""")
            assert wrapped == [], wrapped
            choice.select_option(index=0)
            # -- jump into the replayer at that event ------------------------------------
            app.locator(".actorpg-explorer-open").click()
            replayer = app.locator(".actorpg-explorer-replay .actorpg-replayer")
            expect(replayer).to_have_count(1)  # the one of the notebook's cell is replaced
            expect(replayer).to_contain_text("account-05 — replayed")
            expect(replayer.locator(".actorpg-event").first).to_contain_text(f"#{seq}")
            expect(replayer.locator(".actorpg-state").last).to_contain_text("balance")
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
                   ).to_have_count(1)
            replayer.scroll_into_view_if_needed()
            page.screenshot(path=str(_shots(tmp_path) / "explorer-replayer.png"))
            # -- a chart: hover a point, read its tooltip --------------------------------
            chart = page.locator(".actorpg-chart").first
            chart.scroll_into_view_if_needed()
            point = chart.locator(".scatterlayer .trace .points path").first
            point.wait_for(state="visible")
            point.hover(force=True)
            tooltip = chart.locator(".hoverlayer .hovertext")
            expect(tooltip).to_contain_text("account-")
            expect(tooltip).to_contain_text("head")
            expect(tooltip).to_contain_text("replays")
            chart.screenshot(path=str(_shots(tmp_path) / "chart-hover.png"))
            # -- click the point: its stream opens in an explorer under the chart --------
            hovered = re.search(r"account-\d+", tooltip.text_content() or "")
            assert hovered, tooltip.text_content()
            point.click(force=True)
            detail = chart.locator(".actorpg-chart-detail .actorpg-explorer")
            expect(detail).to_contain_text(f"{hovered.group(0)} · events")
            expect(detail.locator(".actorpg-explorer-events")).to_contain_text("bank.")
            page.screenshot(path=str(_shots(tmp_path) / "chart-click.png"))
        except BaseException:
            page.screenshot(path=str(_shots(tmp_path) / "failure.png"), full_page=True)
            raise
        finally:
            context.close()


def test_the_projection_status_widget_refreshes_in_place(jupyter_lab: str,
                                                        tmp_path: Path) -> None:
    """Notebook 07 in JupyterLab: one status widget, redrawn in place while the notebook
    runs (the table shown carries a refresh count of several; no second table appears),
    that ends showing the balances projection caught up, owned by the runner that
    resumed the rebuild."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = _launch(pw, tmp_path)
        page = context.new_page()
        page.set_default_timeout(int(os.environ.get("ACTORPG_BROWSER_TIMEOUT_MS", "90000")))
        try:
            _start_run_all(page, f"{jupyter_lab}/lab/tree/07_projections.ipynb?reset")
            widget = page.locator(".actorpg-projections")
            row = widget.locator("tr.actorpg-projection[data-name='balances']")
            row.wait_for(state="visible")
            _wait_until_all_ran(page)
            refreshed = widget.locator(".actorpg-refreshed")
            assert widget.count() == 1  # redrawn in place, never appended
            assert row.get_attribute("data-state") == "caught_up", row.text_content()
            assert "runner-d" in (row.locator(".actorpg-owner").text_content() or "")
            # The table the browser shows is the last of several redraws of one widget.
            assert int(refreshed.get_attribute("data-count") or "0") >= 3
            row.scroll_into_view_if_needed()
            widget.screenshot(path=str(_shots(tmp_path) / "projections-widget.png"))
        except BaseException:
            page.screenshot(path=str(_shots(tmp_path) / "failure.png"), full_page=True)
            raise
        finally:
            context.close()
