"""The server against a hostile user: images in messages are links (never loaded), the page
sends a Content-Security-Policy, --basic-auth never turns a mistyped path into a password, and
a deeply nested segment is one line, not a RecursionError."""

from __future__ import annotations

import urllib.request

import pytest

import cellsync
from cellsync import chat
from cellsync.errors import CellsyncError
from cellsync.segments import SegmentError, Segment
from cellsync.store import CellRun, Store
from cellsync.ui import CONTENT_SECURITY_POLICY, basic_auth_setting, render_markdown
from helpers import run
from test_cli import invoke, one_line_error

PIXEL = "http://203.0.113.7/pixel.png"  # TEST-NET-3: routes nowhere, so a fetch is a bug, not a leak


def test_a_markdown_image_is_a_link_not_an_image():
    out = render_markdown(f"look ![tracking]({PIXEL}) here")
    assert "<img" not in out
    assert f'<a href="{PIXEL}"' in out and "image: tracking" in out and 'rel="noopener noreferrer nofollow"' in out


# --- segments nested too deep ----------------------------------------------------------------

DEEP = "(" * 400 + "age > 1" + ")" * 400  # 807 characters: under the 2,000 limit


def test_a_deeply_nested_segment_is_one_line():
    with pytest.raises(SegmentError) as info:
        Segment.from_text(DEEP)
    assert "\n" not in str(info.value) and "nested more than 32 deep" in str(info.value)
    with pytest.raises(SegmentError, match="nested"):
        Segment.from_text("not " * 200 + "age > 1")
    assert Segment.from_text("(" * 30 + "age > 1" + ")" * 30).spec["column"] == "age"


def test_a_deep_segment_from_the_notebook_is_one_line_not_a_traceback(shell, capsys):
    run(shell, "df = pd.DataFrame({'age': [85, 40]})")
    capsys.readouterr()
    run(shell, f"cellsync_seg = __import__('cellsync').segment('deep', {DEEP!r})")
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "RecursionError" not in out.out + out.err
    lines = [line for line in (out.out + out.err).splitlines() if line.strip()]
    assert len(lines) == 1 and "nested more than 32 deep" in lines[0]


def test_a_deep_segment_on_the_command_line_is_one_line(tmp_path):
    st = Store(tmp_path / "s")
    st.close()
    res = invoke("snapgrid", tmp_path / "s", "--frame", "df", "--segment", DEEP)
    one_line_error(res, r"^Error: .*nested more than 32 deep")


# --- --basic-auth ------------------------------------------------------------------------------

def test_basic_auth_values(tmp_path):
    with pytest.raises(CellsyncError, match="no such file"):
        basic_auth_setting(str(tmp_path / "missing-password.txt"), environ={})
    with pytest.raises(CellsyncError, match="no such file"):
        basic_auth_setting("users.json", environ={})
    secret = "".join(["co", "rrect-", "horse"])
    (tmp_path / "pw").write_text(secret + "\n")
    assert basic_auth_setting(str(tmp_path / "pw"), environ={}) == secret  # from a file: not in `ps`
    (tmp_path / "users.json").write_text('{"ann": "x"}')
    assert basic_auth_setting(str(tmp_path / "users.json"), environ={}) == str(tmp_path / "users.json")
    assert basic_auth_setting(None, environ={"CELLSYNC_BASIC_AUTH": secret}) == secret
    assert basic_auth_setting(None, environ={"CELLSYNC_BASIC_AUTH": str(tmp_path / "pw")}) == secret
    assert basic_auth_setting(None, environ={}) is None
    assert basic_auth_setting(secret, environ={}) == secret  # a plain password still works


def test_serve_with_a_basic_auth_path_that_does_not_exist_fails_in_one_line(tmp_path):
    Store(tmp_path / "s").close()
    res = invoke("serve", tmp_path / "s", "--port", 0, "--basic-auth", tmp_path / "nope" / "pw.txt")
    one_line_error(res, r"^Error: --basic-auth .*no such file")


# --- the page in a real browser ---------------------------------------------------------------

@pytest.mark.browser
def test_the_page_sends_a_csp_and_loads_nothing_from_a_message_image(tmp_path):
    from ui_helpers import CHROMIUM, LAUNCH_ARGS, Page, start_server

    import os

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    st = Store(tmp_path / "s")
    st.start_session("s1", None, {})
    cell = st.write_cell(CellRun(session_id="s1", seq=1, execution_count=1, cell_id=None, notebook=None,
                                 code="df = df.dropna()", started_at="2026-01-01T00:00:00", duration_s=0.1,
                                 status="ok"), [])
    chat.start_thread(st, f"Look at this ![chart]({PIXEL}) please", "eve", "expert", cell=cell)
    st.close()
    proc, url = start_server(tmp_path / "s")
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "img-src 'self' data: blob:" in CONTENT_SECURITY_POLICY and "default-src 'self'" in CONTENT_SECURITY_POLICY
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            p = Page(browser, url)
            violations = []
            p.page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            p.row("dropna").click()
            message = p.page.locator(".cs-message", has_text="Look at this").first
            message.wait_for(timeout=10_000)
            link = message.locator("a.cs-image-link")
            assert link.get_attribute("href") == PIXEL and link.inner_text().startswith("image: chart")
            assert message.locator("img").count() == 0
            p.page.wait_for_timeout(500)
            assert p.external() == [] and p.dialogs == []
            # and if an <img> from elsewhere got into the page anyway, the browser blocks it
            failed = []
            p.page.on("requestfailed", lambda r: failed.append((r.url, r.failure)))
            p.page.evaluate(f"() => {{ const i = document.createElement('img'); i.src = '{PIXEL}'; document.body.appendChild(i); }}")
            p.page.wait_for_timeout(1000)
            assert failed == [(PIXEL, "csp")], failed  # Chromium blocked it before any connection
            assert any("img-src" in v for v in violations), violations
            p.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
