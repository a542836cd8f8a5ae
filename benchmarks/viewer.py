"""The viewer's figures: what it costs a host page, and what preloading buys a visitor.

1. The gzipped size of `viewer/instapipe.js` against its 8 KB budget.
2. In Chromium, against the local stories.json server with a CDN-like delay on every
   media file: how long a tap on "next" takes until the next photo is decoded and on
   screen, against fetching and decoding the same photo without preloading.
"""

from __future__ import annotations

import gzip
import statistics

from playwright.sync_api import Page, sync_playwright

from benchmarks import Figure
from tests.viewer_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    USER_ID,
    VIEWER_DIR,
    StoriesServer,
    photo,
)

BUDGET_BYTES = 8 * 1024
MEDIA_DELAY_S = 0.1  # a typical round trip to a storage CDN
ROUNDS = 5

# Times a tap on "next": from the key press to the next photo decoded and shown.
NEXT_MS = """async el => {
  const root = el.shadowRoot, started = performance.now();
  root.querySelector('dialog').dispatchEvent(
    new KeyboardEvent('keydown', {key: 'ArrowRight', bubbles: true}));
  while (!root.querySelector('.spin').hidden) await new Promise(requestAnimationFrame);
  return performance.now() - started;
}"""
# Times the same kind of photo fetched and decoded on demand, as without preloading.
BARE_MS = """async url => {
  const started = performance.now(), img = new Image();
  img.src = url;
  await img.decode();
  return performance.now() - started;
}"""


def size_figure() -> Figure:
    size = len(gzip.compress((VIEWER_DIR / "instapipe.js").read_bytes(), 9))
    return Figure("viewer: instapipe.js gzipped", size, "bytes", "budget", BUDGET_BYTES)


def time_next(page: Page, server: StoriesServer) -> tuple[float, float]:
    stories = [server.story(n, f"p{n}.jpg", age_s=600 - n) for n in range(ROUNDS + 1)]
    server.feeds[USER_ID] = [stories]
    page.goto(server.page(f'<instapipe-stories src="{server.feed_url()}">'))
    viewer = page.locator("instapipe-stories")
    page.wait_for_function("document.querySelector('instapipe-stories').stories.length")
    viewer.locator(".ring").click()
    taps, bare = [], []
    for n in range(ROUNDS):
        page.wait_for_function(
            "n => performance.getEntriesByType('resource')"
            ".some(e => e.name.includes(`story=${n}&`))",
            arg=n + 1,
        )
        taps.append(viewer.evaluate(NEXT_MS))
        url = f"{server.url}/media/p{n}.jpg?bare={n}"
        bare.append(page.evaluate(BARE_MS, url))
    return statistics.median(taps), statistics.median(bare)


def run() -> list[Figure]:
    server = StoriesServer(
        media={
            f"p{n}.jpg": photo(1080, 1920, "#c13584", str(n)) for n in range(ROUNDS + 1)
        }
    )
    server.media_delay_s = dict.fromkeys(server.media, MEDIA_DELAY_S)
    server.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page()
            page.set_default_timeout(10_000)
            # photo-duration is left at its default, far longer than one round.
            tap_ms, bare_ms = time_next(page, server)
            browser.close()
    finally:
        server.stop()
    return [
        size_figure(),
        Figure(
            "viewer: next photo on screen after a tap (preloaded)",
            tap_ms,
            "ms",
            "same photo fetched on demand",
            bare_ms,
        ),
    ]
