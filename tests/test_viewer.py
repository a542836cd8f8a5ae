"""The story viewer, viewer/instapipe.js, in a real Chromium against a local API.

One browser serves the whole session; each test gets a fresh context (own storage) and
a fresh set of scripted stories.json answers. Photos show for a fraction of a second
(the `photo-duration` attribute) so the run stays quick.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.viewer_support import (
    ARTIFACTS_DIR,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXPIRED_SIGNATURE,
    USER_ID,
    VIEWER_DIR,
    StoriesServer,
    standard_media,
)

WAIT_MS = 5_000
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
SIZE_BUDGET_BYTES = 8 * 1024
HOUR_S = 3_600

# What the page sees of the viewer, read through its open shadow root.
STATE = """el => {
  const root = el.shadowRoot, media = root.querySelector('.stage > *');
  return {
    ring: el.dataset.state,
    open: root.querySelector('dialog').open,
    said: root.querySelector('.sr').textContent,
    media: media ? media.getAttribute('src') : null,
    notice: root.querySelector('.notice').textContent,
  };
}"""
SAYS = "([el, text]) => el.shadowRoot.querySelector('.sr').textContent.startsWith(text)"
NO_AUTOPLAY = """
  // Refuses to play until the visitor presses a play control, as iOS in low-power mode
  // does even for muted video.
  let allowed = false;
  addEventListener('pointerdown', event => {
    allowed ||= event.isTrusted && !!event.composedPath()[0].closest?.('.tap');
  }, true);
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    return allowed ? play.call(this)
      : Promise.reject(new DOMException('refused', 'NotAllowedError'));
  };
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def served() -> Iterator[StoriesServer]:
    server = StoriesServer(media=standard_media())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(served: StoriesServer) -> StoriesServer:
    served.reset()
    return served


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    yield opened
    context.close()


def three_photos(server: StoriesServer, **overrides: Any) -> list[dict[str, Any]]:
    return [
        server.story(1, "red.jpg", age_s=3 * HOUR_S, **overrides),
        server.story(2, "orange.jpg", age_s=2 * HOUR_S, location="Lisbon", **overrides),
        server.story(3, "blue.jpg", age_s=HOUR_S, **overrides),
    ]


def viewer_page(
    page: Page,
    server: StoriesServer,
    stories: list[dict[str, Any]],
    photo_s: float = 60,
    extra: str = "",
) -> str:
    server.feeds[USER_ID] = [stories]
    url = server.page(
        f'<p>Before</p><instapipe-stories id="v" src="{server.feed_url()}" name="Ada"'
        f' avatar="{server.url}/media/avatar.png" photo-duration="{photo_s}"'
        f" {extra}></instapipe-stories><p>After</p>"
    )
    page.goto(url)
    return url


def state(page: Page, selector: str = "#v") -> dict[str, Any]:
    return page.locator(selector).evaluate(STATE)  # type: ignore[no-any-return]


def wait_ring(page: Page, ring: str, selector: str = "#v") -> None:
    page.wait_for_function(
        "([sel, ring]) => document.querySelector(sel)?.dataset.state === ring",
        arg=[selector, ring],
    )


def wait_says(page: Page, text: str, selector: str = "#v") -> None:
    page.wait_for_function(SAYS, arg=[page.locator(selector).element_handle(), text])


def open_viewer(page: Page, selector: str = "#v") -> None:
    wait_ring(page, "new", selector)
    page.locator(selector).locator(".ring").click()
    wait_says(page, "Story", selector)


def media_shown(page: Page, story_number: int) -> bool:
    return f"story={story_number}&" in (state(page)["media"] or "")


def wait_media(page: Page, story_number: int) -> None:
    page.wait_for_function(
        "n => (document.querySelector('#v').shadowRoot.querySelector('.stage > *')"
        "?.getAttribute('src') || '').includes(`story=${n}&`)",
        arg=story_number,
    )


def wait_closed(page: Page, selector: str = "#v") -> None:
    page.wait_for_function(
        "sel => !document.querySelector(sel).shadowRoot.querySelector('dialog').open",
        arg=selector,
    )


def wait_requested(page: Page, story_number: int) -> None:
    """Waits until the page has fetched the story's media, shown or not."""
    page.wait_for_function(
        "n => performance.getEntriesByType('resource')"
        ".some(e => e.name.includes(`story=${n}&`))",
        arg=story_number,
    )


def wait_video_time(page: Page, seconds: float) -> None:
    page.wait_for_function(
        "s => document.querySelector('#v').shadowRoot.querySelector('video')"
        "?.currentTime > s",
        arg=seconds,
    )


def wait_running(page: Page) -> None:
    """Waits until the first story's timer runs: its photo is decoded and on screen."""
    page.wait_for_function(
        "document.querySelector('#v').shadowRoot.querySelector('.bars b')"
        ".style.transform !== 'scaleX(0)'"
    )


def progress(page: Page, bar: int) -> float:
    transform = page.locator("#v").evaluate(
        "(el, i) => el.shadowRoot.querySelectorAll('.bars b')[i].style.transform", bar
    )
    return float(re.search(r"scaleX\(([\d.e-]+)\)", transform).group(1))  # type: ignore[union-attr]


# ---- the file


def test_the_file_fits_the_size_budget() -> None:
    source = (VIEWER_DIR / "instapipe.js").read_bytes()

    size = len(gzip.compress(source, compresslevel=9))

    assert size <= SIZE_BUDGET_BYTES, f"{size} bytes gzipped"


def test_the_file_names_its_attributes_and_never_puts_data_into_html() -> None:
    source = (VIEWER_DIR / "instapipe.js").read_text()

    header = source.split("*/", 1)[0]
    assert all(
        a in header for a in ("src", "name", "avatar", "profile", "photo-duration")
    )
    assert source.count("innerHTML") == 1
    assert "root.innerHTML = HTML;" in source
    assert "</script" not in source.lower() and "<!--" not in source  # can be inlined


def test_the_demo_page_keeps_its_stories_url_in_one_attribute() -> None:
    demo = (VIEWER_DIR / "index.html").read_text()

    assert len(re.findall(r'src="[^"]*stories\.json\?user_id=\d+"', demo)) == 1
    assert "<instapipe-stories" in demo


# ---- the ring


def test_the_ring_says_new_then_seen_and_remembers_it(
    page: Page, server: StoriesServer
) -> None:
    url = viewer_page(page, server, three_photos(server), photo_s=0.2)
    wait_ring(page, "new")

    page.locator("#v .ring").click()
    wait_closed(page)

    assert state(page)["ring"] == "seen"
    page.goto(url)
    wait_ring(page, "seen")
    server.feeds[USER_ID] = [
        [*three_photos(server), server.story(4, "green.jpg", age_s=60)]
    ]
    page.goto(url)
    wait_ring(page, "new")


def test_the_ring_with_no_stories_is_empty_and_does_not_open(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, [])

    wait_ring(page, "empty")
    page.locator("#v .ring").click(force=True)

    assert state(page)["open"] is False
    assert page.locator("#v .ring").is_disabled()


def test_an_api_error_leaves_a_quiet_ring_and_a_console_message(
    page: Page, server: StoriesServer
) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    server.feeds[USER_ID] = [
        (400, {"error": "user_id must be one of the watched accounts"})
    ]

    page.goto(
        server.page(
            f'<instapipe-stories id="v" src="{server.feed_url()}"></instapipe-stories>'
        )
    )

    wait_ring(page, "error")
    assert any("user_id must be one of the watched accounts" in m for m in messages)


def test_the_ring_works_when_storage_is_refused(
    page: Page, server: StoriesServer
) -> None:
    page.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() {"
        " throw new DOMException('storage is off', 'SecurityError'); }});"
    )
    viewer_page(page, server, three_photos(server)[:1], photo_s=0.2)
    wait_ring(page, "new")

    page.locator("#v .ring").click()

    wait_ring(page, "seen")


def test_the_ring_shows_the_avatar_and_names_itself(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server))

    wait_ring(page, "new")

    ring = page.locator("#v .ring")
    assert ring.get_attribute("aria-label") == "Ada: new stories"
    page.wait_for_function(
        "document.querySelector('#v').shadowRoot.querySelector('.ring img').complete"
    )
    assert ring.locator("img").evaluate("img => img.naturalWidth") == 96


# ---- opening


def test_opening_shows_the_first_unseen_story_with_its_header(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(
        page, server, three_photos(server), extra='profile="https://example.org/ada"'
    )
    first = three_photos(server)[0]["timestamp"]
    page.evaluate(
        "([key, seen]) => localStorage.setItem(key, seen)",
        [f"instapipe-seen:{server.feed_url()}", str(first)],
    )
    page.reload()

    open_viewer(page)

    viewer = page.locator("#v")
    assert state(page)["said"] == "Story 2 of 3, 2 hours ago"
    assert media_shown(page, 2)
    assert viewer.locator("dialog").evaluate("d => d.open && d.matches(':modal')")
    assert viewer.locator(".name").text_content() == "Ada"
    assert viewer.locator(".name").get_attribute("href") == "https://example.org/ada"
    assert viewer.locator(".ago").text_content() == "2h"
    assert viewer.locator(".place").text_content() == "Lisbon"
    assert viewer.locator(".bars i").count() == 3
    assert progress(page, 0) == 1


def test_each_opening_pings_the_api_once(page: Page, server: StoriesServer) -> None:
    viewer_page(page, server, three_photos(server))

    open_viewer(page)
    page.keyboard.press("Escape")
    wait_closed(page)
    page.locator("#v .ring").click()

    page.wait_for_function(
        "performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('event=open')).length === 2"
    )
    assert server.pings() == [f"/api/stories.json?user_id={USER_ID}&event=open"] * 2


def test_the_relative_time_stays_current(page: Page, server: StoriesServer) -> None:
    page.clock.install()
    viewer_page(page, server, [server.story(1, "red.jpg", age_s=40)])
    open_viewer(page)
    ago = page.locator("#v .ago")
    before = ago.text_content()

    page.clock.fast_forward(30_000)

    assert re.fullmatch(r"4\ds", before or ""), before
    page.wait_for_function(
        "document.querySelector('#v').shadowRoot.querySelector('.ago')"
        ".textContent === '1m'"
    )


def test_the_default_profile_link_is_the_instagram_account(
    page: Page, server: StoriesServer
) -> None:
    page.goto(
        server.page(
            f'<instapipe-stories id="v" src="{server.feed_url()}"></instapipe-stories>'
        )
    )
    server.feeds[USER_ID] = [three_photos(server)]
    page.reload()

    open_viewer(page)

    assert page.locator("#v .name").text_content() == "owner"
    assert (
        page.locator("#v .name").get_attribute("href")
        == "https://www.instagram.com/owner/"
    )


def test_a_video_archived_as_its_cover_shows_as_a_photo(
    page: Page, server: StoriesServer
) -> None:
    cover = server.story(1, "red.jpg", age_s=60)
    cover.update(is_video=True, media_is_cover=True, duration_s=7.5)
    viewer_page(page, server, [cover])

    open_viewer(page)

    wait_running(page)
    assert page.locator("#v .stage > img").count() == 1
    assert page.locator("#v .mute").is_hidden()
    assert state(page)["notice"] == ""


def test_photos_and_videos_keep_their_aspect_ratio(
    page: Page, server: StoriesServer
) -> None:
    stories = [
        server.story(1, "wide.png", age_s=60),
        server.story(2, "clip.mp4", age_s=30),
    ]
    viewer_page(page, server, stories)
    open_viewer(page)
    fit = (
        "el => [getComputedStyle(el).objectFit,"
        " el.naturalWidth ?? el.videoWidth, el.naturalHeight ?? el.videoHeight]"
    )

    wait_running(page)
    photo = page.locator("#v .stage > img").evaluate(fit)
    page.keyboard.press("ArrowRight")
    wait_video_time(page, 0)
    video = page.locator("#v .stage > video").evaluate(fit)

    assert photo == ["contain", 640, 360]
    assert video == ["contain", 180, 320]


# ---- navigation


def test_arrow_keys_go_forward_and_back(page: Page, server: StoriesServer) -> None:
    viewer_page(page, server, three_photos(server))
    open_viewer(page)

    page.keyboard.press("ArrowRight")
    wait_says(page, "Story 2 of 3")
    page.keyboard.press("ArrowRight")
    wait_says(page, "Story 3 of 3")
    page.keyboard.press("ArrowLeft")

    wait_says(page, "Story 2 of 3")
    assert media_shown(page, 2)


def test_keys_do_nothing_while_closed(page: Page, server: StoriesServer) -> None:
    viewer_page(page, server, three_photos(server))
    wait_ring(page, "new")

    for key in ("ArrowRight", "ArrowLeft", "Space", "m", "Escape"):
        page.keyboard.press(key)

    assert state(page) == {
        "ring": "new",
        "open": False,
        "said": "",
        "media": None,
        "notice": "",
    }
    assert page.locator("#v .mute").get_attribute("aria-label") == "Unmute"


def test_a_tap_on_the_left_third_goes_back_and_elsewhere_forward(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server))
    open_viewer(page)
    card = page.locator("#v .card").bounding_box()
    assert card is not None
    middle_y = card["y"] + card["height"] / 2

    page.mouse.click(card["x"] + card["width"] * 0.5, middle_y)
    wait_says(page, "Story 2 of 3")
    page.mouse.click(card["x"] + card["width"] * 0.9, middle_y)
    wait_says(page, "Story 3 of 3")
    page.mouse.click(card["x"] + card["width"] * 0.2, middle_y)

    wait_says(page, "Story 2 of 3")


def test_the_side_buttons_go_forward_and_back(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server))
    open_viewer(page)

    page.locator("#v .next").click()
    wait_says(page, "Story 2 of 3")
    page.locator("#v .prev").click()
    wait_says(page, "Story 1 of 3")
    page.keyboard.press("Space")  # the clicked button has focus, yet Space pauses

    assert page.locator("#v .pause").get_attribute("aria-label") == "Play"
    assert state(page)["said"].startswith("Story 1 of 3")


def test_holding_pauses_and_letting_go_resumes(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server), photo_s=2)
    open_viewer(page)
    wait_running(page)
    card = page.locator("#v .card").bounding_box()
    assert card is not None

    page.mouse.move(card["x"] + card["width"] * 0.6, card["y"] + card["height"] / 2)
    page.mouse.down()
    held_at = progress(page, 0)
    page.wait_for_timeout(900)
    still = state(page)["said"], progress(page, 0)
    page.mouse.up()

    assert still[0].startswith("Story 1 of 3")
    assert still[1] == pytest.approx(held_at, abs=0.1)
    wait_says(page, "Story 2 of 3")


def test_space_and_the_pause_button_pause_and_resume(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server), photo_s=2)
    open_viewer(page)
    wait_running(page)

    page.keyboard.press("Space")
    paused_at = progress(page, 0)
    page.wait_for_timeout(800)

    assert progress(page, 0) == pytest.approx(paused_at, abs=0.05)
    assert page.locator("#v .pause").get_attribute("aria-label") == "Play"
    page.locator("#v .pause").click()
    wait_says(page, "Story 2 of 3")
    assert page.locator("#v .pause").get_attribute("aria-label") == "Pause"


def test_photos_advance_on_their_own_and_the_last_one_closes(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server), photo_s=0.25)

    open_viewer(page)

    wait_closed(page)
    assert server.media_requests(3) == 1


def swipe_down(page: Page) -> None:
    card = page.locator("#v .card").bounding_box()
    assert card is not None
    x, y = card["x"] + card["width"] / 2, card["y"] + card["height"] / 3
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 150, steps=5)
    page.mouse.up()


DISMISSALS = {
    "escape": lambda page: page.keyboard.press("Escape"),
    "close button": lambda page: page.locator("#v .close").click(),
    "dimmed area": lambda page: page.mouse.click(20, 400),
    "swipe down": swipe_down,
}


@pytest.mark.parametrize("how", DISMISSALS)
def test_every_dismissal_closes_and_returns_focus(
    page: Page, server: StoriesServer, how: str
) -> None:
    viewer_page(page, server, three_photos(server))
    open_viewer(page)

    DISMISSALS[how](page)

    wait_closed(page)
    focused = page.evaluate(
        "() => [document.activeElement.id,"
        " document.activeElement.shadowRoot.activeElement.className]"
    )
    assert focused == ["v", "ring"]
    assert state(page)["said"].startswith("Story 1 of 3")


def test_m_and_the_sound_button_mute_and_unmute(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, [server.story(1, "long.mp4", age_s=60)])
    open_viewer(page)
    video = page.locator("#v .stage > video")
    wait_video_time(page, 0)

    page.keyboard.press("m")
    unmuted = (
        video.evaluate("v => v.muted"),
        page.locator("#v .mute").get_attribute("aria-label"),
    )
    page.keyboard.press("M")

    assert unmuted == (False, "Mute")
    assert video.evaluate("v => v.muted") is True
    assert page.locator("#v .mute").get_attribute("aria-label") == "Unmute"
    page.locator("#v .mute").click()
    assert video.evaluate("v => [v.muted, v.paused]") == [False, False]


# ---- video


def test_a_video_starts_muted_inline_and_its_progress_follows_its_time(
    page: Page, server: StoriesServer
) -> None:
    stories = [
        server.story(1, "clip.mp4", age_s=60),
        server.story(2, "red.jpg", age_s=30),
    ]
    viewer_page(page, server, stories)

    open_viewer(page)

    video = page.locator("#v .stage > video")
    wait_video_time(page, 0.3)
    playing = video.evaluate(
        "v => ({muted: v.muted, inline: v.playsInline, paused: v.paused,"
        " share: v.currentTime / v.duration, bar: v.getRootNode()"
        ".querySelector('.bars b').style.transform})"
    )
    assert playing["muted"] and playing["inline"] and not playing["paused"]
    bar = float(playing["bar"].removeprefix("scaleX(").removesuffix(")"))
    assert bar == pytest.approx(playing["share"], abs=0.1)
    wait_says(page, "Story 2 of 2")


def test_a_refused_autoplay_offers_a_play_button_instead_of_hanging(
    page: Page, server: StoriesServer
) -> None:
    page.add_init_script(NO_AUTOPLAY)
    viewer_page(page, server, [server.story(1, "clip.mp4", age_s=60)])
    open_viewer(page)
    play = page.locator("#v .tap")

    play.wait_for(state="visible")
    page.wait_for_timeout(300)

    assert progress(page, 0) == 0
    assert play.get_attribute("aria-label") == "Play video"
    play.click()
    wait_video_time(page, 0.2)
    assert play.is_hidden()


# ---- loading


def test_the_photo_timer_waits_for_the_decoded_photo(
    page: Page, server: StoriesServer
) -> None:
    server.media_delay_s["red.jpg"] = 2.0  # leaves room for a slow, busy machine
    viewer_page(page, server, three_photos(server), photo_s=0.3)

    open_viewer(page)
    page.wait_for_timeout(600)

    assert state(page)["said"].startswith("Story 1 of 3")
    assert progress(page, 0) == 0
    assert page.locator("#v .spin").is_visible()
    wait_says(page, "Story 2 of 3")


def test_the_photo_timer_stops_while_the_tab_is_hidden(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server), photo_s=2)
    open_viewer(page)
    wait_running(page)

    page.evaluate(
        "() => { Object.defineProperty(document, 'hidden',"
        " {value: true, configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    hidden_at = progress(page, 0)
    page.wait_for_timeout(900)

    assert state(page)["said"].startswith("Story 1 of 3")
    assert progress(page, 0) == pytest.approx(hidden_at, abs=0.05)
    page.evaluate(
        "() => { delete document.hidden;"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    wait_says(page, "Story 2 of 3")


def test_only_the_next_story_is_preloaded_before_it_is_shown(
    page: Page, server: StoriesServer
) -> None:
    stories = [*three_photos(server), server.story(4, "green.jpg", age_s=60)]
    viewer_page(page, server, stories)

    open_viewer(page)
    wait_requested(page, 2)
    page.wait_for_timeout(200)

    assert media_shown(page, 1)
    assert (server.media_requests(2), server.media_requests(3)) == (1, 0)
    page.keyboard.press("ArrowRight")
    wait_says(page, "Story 2 of 4")
    wait_requested(page, 3)
    assert (server.media_requests(2), server.media_requests(4)) == (1, 0)


def test_a_preloaded_video_is_fetched_before_it_is_shown(
    page: Page, server: StoriesServer
) -> None:
    stories = [
        server.story(1, "red.jpg", age_s=60),
        server.story(2, "clip.mp4", age_s=30),
    ]
    viewer_page(page, server, stories)

    open_viewer(page)
    wait_requested(page, 2)

    assert media_shown(page, 1)
    page.keyboard.press("ArrowRight")
    wait_video_time(page, 0)


def test_an_expired_url_is_refreshed_with_one_more_stories_json(
    page: Page, server: StoriesServer
) -> None:
    expired = three_photos(server, signature=EXPIRED_SIGNATURE)
    server.feed_cache_control = "public, max-age=60"  # as the API caches its answers
    viewer_page(page, server, expired, photo_s=0.2)
    server.feeds[USER_ID] = [expired, three_photos(server)]

    open_viewer(page)

    wait_closed(page)
    assert server.feed_requests() == 2
    assert [server.media_requests(n) for n in (1, 2, 3)] == [2, 1, 1]
    assert state(page)["ring"] == "seen"


def test_a_story_that_still_fails_is_skipped_with_a_notice(
    page: Page, server: StoriesServer
) -> None:
    server.missing.add("orange.jpg")
    viewer_page(page, server, three_photos(server))
    open_viewer(page)

    page.keyboard.press("ArrowRight")

    wait_says(page, "Story 3 of 3")
    assert state(page)["notice"] == "This story could not be loaded."
    assert server.feed_requests() == 2
    page.wait_for_function(
        "document.querySelector('#v').shadowRoot.querySelector('.notice')"
        ".textContent === ''"
    )


def test_a_media_server_that_stalls_does_not_spin_forever(
    page: Page, server: StoriesServer
) -> None:
    server.media_delay_s["orange.jpg"] = 3.0
    viewer_page(page, server, three_photos(server), extra='timeout="0.5"')
    open_viewer(page)

    page.keyboard.press("ArrowRight")

    wait_says(page, "Story 3 of 3")
    assert state(page)["notice"] == "This story could not be loaded."


# ---- accessibility


def test_focus_stays_in_the_dialog_and_returns_to_the_ring(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server))
    open_viewer(page)
    inside = (
        "() => { const el = document.activeElement, root = el.shadowRoot;"
        " const on = root.activeElement;"
        " return el.id === 'v' && root.querySelector('dialog').contains(on)"
        " ? on.getAttribute('aria-label') || on.textContent"
        " : null; }"
    )

    visited = []
    for key in ["Tab"] * 7 + ["Shift+Tab"] * 3:
        page.keyboard.press(key)
        visited.append(page.evaluate(inside))
    page.keyboard.press("Escape")

    assert None not in visited, visited
    assert {"Close", "Pause", "Next story", "Previous story", "Ada"} <= set(visited)
    assert (
        page.evaluate("document.activeElement.shadowRoot.activeElement.className")
        == "ring"
    )


def test_space_presses_a_button_reached_with_tab(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server))
    open_viewer(page)

    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Space")

    wait_says(page, "Story 2 of 3")
    assert page.locator("#v .pause").get_attribute("aria-label") == "Pause"


def test_buttons_have_names_and_stories_are_announced(
    page: Page, server: StoriesServer
) -> None:
    viewer_page(page, server, three_photos(server))
    open_viewer(page)

    names = page.locator("#v").evaluate(
        "el => [...el.shadowRoot.querySelectorAll('dialog button')]"
        ".map(b => b.getAttribute('aria-label'))"
    )

    assert all(names), names
    assert page.locator("#v dialog").get_attribute("aria-label") == "Stories of Ada"
    assert page.locator("#v .sr").get_attribute("aria-live") == "polite"
    assert state(page)["said"] == "Story 1 of 3, 3 hours ago"


def test_reduced_motion_turns_the_animations_off(
    page: Page, server: StoriesServer
) -> None:
    page.emulate_media(reduced_motion="reduce")
    viewer_page(page, server, three_photos(server))
    open_viewer(page)

    animations = page.locator("#v").evaluate(
        "el => ['dialog', '.spin'].map(s =>"
        " getComputedStyle(el.shadowRoot.querySelector(s)).animationName)"
    )

    assert animations == ["none", "none"]


# ---- the page around it


def test_nothing_runs_or_plays_after_close(page: Page, server: StoriesServer) -> None:
    page.add_init_script(
        """
        window.__frames = 0; window.__timers = 0; window.__media = [];
        const raf = window.requestAnimationFrame.bind(window);
        window.requestAnimationFrame = cb => { window.__frames++; return raf(cb); };
        for (const name of ['setTimeout', 'setInterval']) {
          const original = window[name].bind(window);
          window[name] = (...args) => { window.__timers++; return original(...args); };
        }
        const play = HTMLMediaElement.prototype.play;
        HTMLMediaElement.prototype.play = function () {
          window.__media.push(this); return play.call(this);
        };
        """
    )
    stories = [
        server.story(1, "clip.mp4", age_s=60),
        server.story(2, "clip.mp4", age_s=30),
    ]
    viewer_page(page, server, stories)
    open_viewer(page)
    page.wait_for_function("window.__media.length && !window.__media[0].paused")

    page.keyboard.press("Escape")
    wait_closed(page)
    counts = page.evaluate("[window.__frames, window.__timers]")
    page.wait_for_timeout(400)

    assert page.evaluate("[window.__frames, window.__timers]") == counts
    assert counts[1] == 0
    assert page.evaluate(
        "window.__media.every(m => m.paused && !m.getAttribute('src'))"
    )


def test_two_viewers_on_one_page_are_independent(
    page: Page, server: StoriesServer
) -> None:
    other = "2222222222"
    server.feeds[USER_ID] = [three_photos(server)]
    server.feeds[other] = [[server.story(9, "green.jpg", age_s=60, user_id=other)]]
    page.goto(
        server.page(
            f'<instapipe-stories id="v" src="{server.feed_url()}"></instapipe-stories>'
            f'<instapipe-stories id="w" src="{server.feed_url(other)}" name="Bo">'
            "</instapipe-stories>"
        )
    )
    wait_ring(page, "new", "#w")

    open_viewer(page, "#v")
    page.keyboard.press("ArrowRight")
    wait_says(page, "Story 2 of 3")
    page.keyboard.press("Escape")
    open_viewer(page, "#w")

    assert state(page, "#w")["said"].startswith("Story 1 of 1")
    assert state(page, "#v")["open"] is False
    assert state(page, "#v")["ring"] == "new"
    page.keyboard.press("Escape")
    wait_ring(page, "seen", "#w")
    assert state(page, "#v")["ring"] == "new"


def test_the_script_adds_no_globals_and_may_be_included_twice(
    page: Page, server: StoriesServer
) -> None:
    source = (VIEWER_DIR / "instapipe.js").read_text()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.page("<p>bare</p>", script=False))
    before = set(page.evaluate("Object.getOwnPropertyNames(window)"))

    page.add_script_tag(content=source)
    page.add_script_tag(content=source)

    after = set(page.evaluate("Object.getOwnPropertyNames(window)"))
    assert after - before == set()
    assert page.evaluate("typeof InstapipeStories") == "undefined"
    assert errors == []


def test_it_works_inlined_into_a_page(page: Page, server: StoriesServer) -> None:
    source = (VIEWER_DIR / "instapipe.js").read_text()
    server.feeds[USER_ID] = [three_photos(server)]
    feed = server.feed_url()
    page.route(
        "**/inline.html",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<instapipe-stories id="v" src="{feed}"></instapipe-stories>'
            f"<script>{source}</script>",
        ),
    )

    page.goto(server.url + "/inline.html")

    open_viewer(page)
    assert media_shown(page, 1)


@pytest.mark.parametrize("where", ["demo page", "page without a reserved box"])
def test_the_ring_does_not_shift_the_page_layout(
    page: Page, server: StoriesServer, where: str
) -> None:
    server.feeds[USER_ID] = [three_photos(server)]
    server.feed_delay_s = 1.0
    server.media_delay_s["avatar.png"] = 1.2
    page.add_init_script(
        "window.__shifts = [];"
        "new PerformanceObserver(list => window.__shifts.push(...list.getEntries()"
        ".map(e => e.value))).observe({type: 'layout-shift', buffered: true});"
    )
    url = f"{server.url}/viewer/index.html"
    if where != "demo page":
        url = server.page(
            f'<p>Before <instapipe-stories src="{server.feed_url()}"'
            f' avatar="{server.url}/media/avatar.png"></instapipe-stories> after</p>'
            "<p>Below</p>"
        )

    page.goto(url, wait_until="domcontentloaded")
    loading = page.locator("instapipe-stories").get_attribute("data-state")
    wait_ring(page, "new", "instapipe-stories")
    page.wait_for_function(
        "document.querySelector('instapipe-stories').shadowRoot"
        ".querySelector('img').complete"
    )
    page.wait_for_timeout(300)
    shifts = page.evaluate("window.__shifts")
    page.evaluate(
        "document.body.prepend(Object.assign(document.createElement('div'),"
        " {style: 'height: 120px'}))"
    )

    assert loading == "loading"
    assert shifts == []
    page.wait_for_function("window.__shifts.length > 0")  # the probe does see shifts


# ---- screenshots, kept as artifacts


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_the_ring_and_the_open_viewer(
    page: Page, server: StoriesServer, size: str, viewport: ViewportSize
) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(viewport)
    stories = three_photos(server)
    stories[0]["location"] = {"name": "Lisbon, Portugal", "lat": 38.72, "lng": -9.14}
    server.feeds[USER_ID] = [stories]
    page.goto(server.url + "/viewer/index.html")
    wait_ring(page, "new", "instapipe-stories")
    page.wait_for_function("[...document.images].every(i => i.complete)")

    page.screenshot(path=ARTIFACTS_DIR / f"ring-{size}.png")
    page.locator("instapipe-stories .ring").click()
    page.wait_for_function(
        "document.querySelector('instapipe-stories').shadowRoot"
        ".querySelector('.spin').hidden"
    )
    page.screenshot(path=ARTIFACTS_DIR / f"open-{size}.png", animations="disabled")

    card = page.locator("instapipe-stories .card").bounding_box()
    assert card is not None
    if size == "phone":
        assert (card["width"], card["height"]) == (
            viewport["width"],
            viewport["height"],
        )
    else:
        assert card["width"] / card["height"] == pytest.approx(9 / 16, abs=0.01)
        assert card["height"] <= viewport["height"]
