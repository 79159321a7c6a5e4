"""The library's web app in a real browser (Playwright driving Debian's Chromium).

Run by tests/it/library_browser.rs (scripts/test-browser), which starts a simulator and a daemon
recording it and passes a JSON spec as the only argument:
  base       the listener, e.g. http://127.0.0.1:9464
  chromium   the browser executable
  artifacts  where screenshots go (target/test-artifacts)
  config     the daemon's config file (accounts are added and removed in it)
  finished   the id of a finished recording with a video, by `account`
  live       the id of a broadcast being recorded now
  query      a word that occurs in exactly one comment of `finished`
  hostile_users  usernames that must be shown as text

Every step asserts behaviour a person sees; any failure exits non-zero with the reason.
"""

import json
import os
import sys
import time

from playwright.sync_api import expect, sync_playwright

SPEC = json.loads(sys.argv[1])
BASE = SPEC["base"]
ART = SPEC["artifacts"]
os.makedirs(ART, exist_ok=True)
expect.set_options(timeout=30_000)

problems = []


def shot(page, name):
    path = os.path.join(ART, name)
    page.screenshot(path=path, full_page=False)
    print("screenshot", path, flush=True)


def watch(page):
    """Collects page errors, CSP violations and dialogs a hostile text could open."""
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def console(msg):
        if "Content Security Policy" in msg.text or "Refused to" in msg.text:
            problems.append(f"CSP: {msg.text}")

    page.on("console", console)

    def dialog(d):
        if d.type == "confirm":
            d.accept()
        else:
            problems.append(f"unexpected {d.type} dialog: {d.message!r}")
            d.dismiss()

    page.on("dialog", dialog)


def inert(page, where):
    """No element or script came out of the data: only the app's own."""
    found = page.evaluate(
        """() => ({
            imgs: [...document.images].filter(i => !i.src.includes('/assets/')).length,
            scripts: [...document.scripts].filter(s => !s.src.includes('/assets/')).length,
            onerror: document.querySelectorAll('[onerror]').length,
        })"""
    )
    assert found == {"imgs": 0, "scripts": 0, "onerror": 0}, f"{where}: hostile data became markup: {found}"


def step(name):
    print(f"== {name}", flush=True)


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=SPEC["chromium"],
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
        )
        ctx = browser.new_context(viewport={"width": 1280, "height": 860})
        page = ctx.new_page()
        watch(page)

        step("the list, filtered by account")
        page.goto(BASE + "/")
        rows = page.locator("#recordings tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#summary")).to_contain_text("Showing 2 recordings")
        inert(page, "list")
        for h in SPEC["hostile_users"]:
            expect(page.locator("#recordings")).to_contain_text(h)
        shot(page, "library-recordings.png")
        page.select_option("#f-account", SPEC["account"])
        expect(rows).to_have_count(1)
        assert "account=" + SPEC["account"] in page.url, page.url
        expect(rows.first).to_have_attribute("data-id", SPEC["finished"])
        page.select_option("#f-status", "failed")
        expect(rows).to_have_count(0)
        expect(page.locator("#summary")).to_have_text("No recordings match.")
        page.select_option("#f-status", "finished")
        expect(rows).to_have_count(1)

        step("a recording plays, with its chat and chart")
        page.keyboard.press("Tab")
        expect(page.locator("a.skip")).to_be_focused()
        rows.first.locator("a").click()
        page.wait_for_url(f"**/recording/{SPEC['finished']}")
        expect(page.locator("#title")).to_contain_text(SPEC["account_name"])
        page.wait_for_function("() => document.getElementById('video').readyState >= 1")
        page.evaluate("document.getElementById('video').play()")
        page.wait_for_function(
            "() => { const v = document.getElementById('video'); return v.readyState >= 3 && v.currentTime > 1.5; }",
            timeout=30_000,
        )
        expect(page.locator("#chat li").first).to_be_visible()
        expect(page.locator("#chart svg polyline.viewers")).to_have_count(1)
        expect(page.locator("#facts")).to_contain_text("Segments")
        expect(page.locator("#downloads a")).to_have_count(4)
        shown_before = int(page.locator("main").get_attribute("data-shown-comments"))
        page.wait_for_function(
            "(n) => Number(document.getElementById('main').dataset.shownComments) > n",
            arg=shown_before,
            timeout=30_000,
        )
        page.evaluate("document.getElementById('video').pause()")
        inert(page, "recording")
        shot(page, "library-recording.png")

        step("a search hit opens the recording at that comment")
        page.goto(BASE + "/search")
        page.fill("#q", SPEC["query"])
        page.press("#q", "Enter")
        hits = page.locator("#hits li")
        expect(hits).to_have_count(1)
        expect(hits.first.locator("mark")).to_have_count(1)
        shot(page, "library-search.png")
        link = hits.first.locator("a")
        href = link.get_attribute("href")
        t = float(href.split("t=")[1].split("&")[0])
        link.click()
        page.wait_for_url("**/recording/**")
        page.wait_for_function("() => document.getElementById('video').readyState >= 1")
        page.wait_for_function(
            "(t) => Math.abs(document.getElementById('video').currentTime - t) < 1.0", arg=t
        )
        hit = page.locator("#chat li.hit")
        expect(hit).to_have_count(1)
        expect(hit).to_contain_text(SPEC["query"])
        expect(hit).to_be_in_viewport()
        # The chat stops at that moment: nothing later than the video's position is shown.
        now = page.evaluate("document.getElementById('video').currentTime")
        last = float(page.locator("#chat li").last.get_attribute("data-offset"))
        assert last <= now + 0.01, f"a comment from {last} s is shown at {now} s"
        inert(page, "recording at a hit")
        shot(page, "library-recording-hit.png")

        step("hostile comments stay text")
        page.goto(BASE + "/search")
        page.fill("#q", "script alert")
        page.press("#q", "Enter")
        expect(hits.first).to_be_visible()
        expect(page.locator("#hits")).to_contain_text("<script>alert(1)</script>")
        inert(page, "search")

        step("the live page updates in place")
        page.goto(BASE + "/live")
        card = page.locator(f'article.card[data-id="{SPEC["live"]}"]')
        expect(card).to_be_visible()
        expect(page.locator("#conn")).to_contain_text("Connected")
        segments = card.locator('[data-field="segments"]')
        expect(segments).to_contain_text("captured")
        before = segments.inner_text()
        handle = card.element_handle()
        page.wait_for_function(
            "([el, before]) => el.querySelector('[data-field=segments]').textContent !== before",
            arg=[handle, before],
            timeout=30_000,
        )
        assert handle.evaluate("el => el.isConnected"), "the card was replaced, not updated"
        elapsed = card.locator('[data-field="elapsed"]').inner_text()
        page.wait_for_function(
            "([el, e]) => el.querySelector('[data-field=elapsed]').textContent !== e",
            arg=[handle, elapsed],
        )
        expect(card.locator("ol li").first).to_be_visible()
        inert(page, "live")
        shot(page, "library-live.png")

        step("an account is added and removed")
        page.goto(BASE + "/accounts")
        expect(page.locator("#accounts tbody tr").first).to_be_visible()
        page.fill("#a-user", "5999")
        page.fill("#a-label", "added by the browser test")
        page.click("#add button[type=submit]")
        row = page.locator('#accounts tr[data-user="5999"]')
        expect(row).to_be_visible()
        expect(page.locator("#msg")).to_contain_text("Added")
        with open(SPEC["config"]) as f:
            text = f.read()
        assert 'user_id = "5999"' in text and "added by the browser test" in text, text
        expect(row).to_contain_text("watching")
        shot(page, "library-accounts.png")
        row.get_by_role("button", name="Remove").click()
        expect(row).to_have_count(0)
        expect(page.locator("#msg")).to_contain_text("Removed")
        with open(SPEC["config"]) as f:
            assert "5999" not in f.read()

        step("sessions, system and the API docs")
        page.goto(BASE + "/pool")
        expect(page.locator("#sessions tbody tr")).to_have_count(1)
        expect(page.locator("#sessions")).to_contain_text("ok")
        page.goto(BASE + "/system")
        expect(page.locator("#deps")).to_contain_text("ffmpeg")
        expect(page.locator("#build")).to_contain_text("version")
        page.goto(BASE + "/docs")
        page.wait_for_selector("body[data-docs-loaded=true]")
        expect(page.locator("#doc")).to_contain_text("/api/v1/recordings")
        shot(page, "library-docs.png")

        step("on a phone")
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
        )
        pp = phone.new_page()
        watch(pp)
        pp.goto(BASE + "/")
        expect(pp.locator("#recordings tbody tr")).to_have_count(2)
        overflow = pp.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the list is wider than the phone by {overflow}px"
        shot(pp, "library-phone.png")
        pp.goto(BASE + f"/recording/{SPEC['finished']}?t=20")
        expect(pp.locator("#chat li").first).to_be_visible()
        overflow = pp.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the recording page is wider than the phone by {overflow}px"
        shot(pp, "library-phone-recording.png")

        browser.close()
    if problems:
        raise AssertionError("\n".join(problems))
    print("browser test passed", flush=True)


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"took {time.time() - started:.1f} s")
