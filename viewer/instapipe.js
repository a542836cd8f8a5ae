/*
 * instapipe.js: an Instagram-like story viewer in one custom element, CSS included.
 *
 * Load this file with a script element (or paste it into one), then place:
 *   <instapipe-stories src="https://…/stories_json?user_id=123" name="Ada"
 *     avatar="/ada.jpg" profile="https://www.instagram.com/ada/"></instapipe-stories>
 *
 * Attributes:
 *   src             the account's stories.json URL (required)
 *   name            name beside the avatar; default: the stories' username
 *   avatar          profile picture URL; default: the name's initial
 *   profile         where the name links to; default: the account on instagram.com
 *   photo-duration  seconds a photo stays on screen; default 5
 *   timeout         seconds a story's media may take to load before it is skipped; default 10
 * Style: --instapipe-size (ring diameter, default 64px), --instapipe-bg (page colour
 * around the avatar, default #fff). The element's data-state tells the ring's state:
 * loading, empty, new, seen or error.
 */
{
  const TAG = 'instapipe-stories';
  const PHOTO_S = 5;
  const TIMEOUT_S = 10;
  const HOLD_MS = 250; // a press this long pauses instead of navigating
  const SWIPE_PX = 60; // a drag this far down dismisses
  const NOTICE_MS = 2500;
  const BACK_SHARE = 1 / 3; // a tap on this share of the story, from the left, goes back
  const SEEN_KEY = 'instapipe-seen:';
  const PROFILE_URL = 'https://www.instagram.com/';
  const UNITS = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
  const FAILED = 'This story could not be loaded.';

  const CSS = `
:host{display:inline-block;vertical-align:middle;width:var(--instapipe-size,64px);height:var(--instapipe-size,64px)}
[hidden]{display:none!important}
button{all:unset;box-sizing:border-box;display:grid;place-items:center;width:32px;height:32px;border-radius:50%;cursor:pointer}
a{color:inherit;text-decoration:none}
button:focus-visible,a:focus-visible{outline:2px solid #0095f6;outline-offset:2px}
svg{width:22px;height:22px;fill:currentColor;stroke:currentColor;stroke-width:0}
.ring{width:100%;height:100%;padding:3px;background:#dbdbdb}
:host([data-state=new]) .ring{background:linear-gradient(45deg,#feda75,#fa7e1e,#d62976,#962fbf,#4f5bd5)}
:host([data-state=seen]) .ring{padding:2px;background:#c7c7c7}
:host([data-state=empty]) .ring,:host([data-state=error]) .ring{background:none;cursor:default}
.face{display:grid;place-items:center;box-sizing:border-box;width:100%;height:100%;border-radius:50%;overflow:hidden;border:2px solid var(--instapipe-bg,#fff);background:#efefef;color:#737373;font:600 1.4em/1 system-ui,sans-serif}
.face img{width:100%;height:100%;object-fit:cover}
dialog{position:fixed;inset:0;box-sizing:border-box;width:100%;height:100%;max-width:none;max-height:none;margin:0;padding:0;border:0;overflow:hidden;overscroll-behavior:contain;background:#1a1a1a;color:#fff;text-align:start;font:14px/1.3 system-ui,sans-serif;animation:ip-in .2s}
dialog[open]{display:grid;place-items:center}
dialog::backdrop{background:none}
dialog:focus{outline:0}
@keyframes ip-in{from{opacity:0}}
@keyframes ip-spin{to{transform:rotate(1turn)}}
.frame{position:relative}
.card{position:relative;height:min(calc(100vh - 32px),calc((100vw - 128px)*16/9));aspect-ratio:9/16;border-radius:8px;overflow:hidden;background:#000;touch-action:none;user-select:none;-webkit-user-select:none;-webkit-touch-callout:none}
.stage,.stage>*{position:absolute;inset:0;width:100%;height:100%;object-fit:contain}
.top{position:absolute;inset:0 0 auto;padding:8px 8px 32px;background:linear-gradient(rgba(0,0,0,.45),transparent)}
.bars{display:flex;gap:4px;margin-bottom:8px}
.bars i{flex:1;height:2px;border-radius:1px;overflow:hidden;background:rgba(255,255,255,.35)}
.bars b{display:block;height:100%;background:#fff;transform:scaleX(0);transform-origin:left}
.head{display:flex;align-items:center;gap:6px}
.mini{flex:none;width:32px;height:32px;font-size:14px;border:0}
.meta{flex:1;min-width:0;text-shadow:0 0 4px rgba(0,0,0,.4)}
.meta p{margin:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.name{font-weight:600}
.ago{margin-inline-start:6px;opacity:.7}
.place{font-size:12px}
.pause:not([aria-label=Play]) .play,.pause[aria-label=Play] .bar,.mute[aria-label=Mute] .x,.mute[aria-label=Unmute] .wave{display:none}
.tap{position:absolute;inset:50% auto auto 50%;width:72px;height:72px;margin:-36px;background:rgba(0,0,0,.45)}
.tap svg{width:40px;height:40px}
.spin{position:absolute;inset:50% auto auto 50%;width:32px;height:32px;margin:-19px;border:3px solid rgba(255,255,255,.3);border-top-color:#fff;border-radius:50%;animation:ip-spin 1s linear infinite}
.notice{position:absolute;inset:auto 16px 32px;margin:0;padding:8px 12px;border-radius:8px;background:rgba(0,0,0,.75);text-align:center}
.notice:empty{display:none}
.nav{position:absolute;inset-block-start:50%;width:26px;height:26px;margin-block-start:-13px;background:rgba(255,255,255,.85);color:#262626}
.nav svg{width:16px;height:16px}
.prev{inset-inline-start:-44px}
.next{inset-inline-end:-44px;scale:-1 1}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
@media (min-width:641px){.close{position:fixed;inset:16px 16px auto auto}}
@media (max-width:640px){.frame,.card{width:100%;height:100%}.card{aspect-ratio:auto;border-radius:0}.nav{display:none}}
@media (prefers-reduced-motion:reduce){dialog,.spin{animation:none}}`;

  const svg = (body) => `<svg viewBox="0 0 24 24" aria-hidden="true">${body}</svg>`;
  const CHEVRON = svg('<path d="M15 5l-7 7 7 7" fill="none" stroke-width="2.5"/>');
  const PLAY = '<path class="play" d="M7 4v16l13-8z"/>';
  const PLAY_PAUSE = svg(`${PLAY}<path class="bar" d="M6 4h4v16H6zm8 0h4v16h-4z"/>`);
  const SOUND = svg(
    '<path d="M3 9v6h4l5 5V4L7 9z"/><path class="x" d="M16 9l6 6m0-6l-6 6" stroke-width="2"/>' +
      '<path class="wave" d="M15 8.5a4.5 4.5 0 010 7M17.5 6a8 8 0 010 12" fill="none" stroke-width="2"/>',
  );
  const CROSS = svg('<path d="M5 5l14 14M19 5L5 19" stroke-width="2.2"/>');
  const HTML = `<style>${CSS}</style>
<button class="ring" type="button" part="ring" aria-haspopup="dialog"><span class="face"><img alt="" hidden><span></span></span></button>
<dialog tabindex="-1"><div class="frame">
<button class="nav prev" type="button" aria-label="Previous story">${CHEVRON}</button>
<div class="card"><div class="stage"></div><div class="spin" hidden></div>
<div class="top"><div class="bars"></div><div class="head">
<span class="face mini"><img alt="" hidden><span></span></span>
<div class="meta"><p><a class="name" target="_blank" rel="noopener"></a><time class="ago"></time></p><p class="place"></p></div>
<button class="pause" type="button" aria-label="Pause">${PLAY_PAUSE}</button>
<button class="mute" type="button" aria-label="Unmute" hidden>${SOUND}</button>
<button class="close" type="button" aria-label="Close">${CROSS}</button>
</div></div>
<button class="tap" type="button" aria-label="Play video" hidden>${svg(PLAY)}</button>
<p class="notice" role="status"></p></div>
<button class="nav next" type="button" aria-label="Next story">${CHEVRON}</button>
</div><p class="sr" aria-live="polite"></p></dialog>`;

  class InstapipeStories extends HTMLElement {
    static observedAttributes = ['src', 'name', 'avatar', 'profile'];

    constructor() {
      super();
      const root = this.attachShadow({ mode: 'open' });
      root.innerHTML = HTML; // static markup; data goes in via textContent
      const $ = (selector) => root.querySelector(selector);
      Object.assign(this, {
        ring: $('.ring'), dlg: $('dialog'), card: $('.card'), stage: $('.stage'),
        bars: $('.bars'), mini: $('.mini'), nameLink: $('.name'), agoEl: $('.ago'),
        place: $('.place'), pauseBtn: $('.pause'), muteBtn: $('.mute'), tapBtn: $('.tap'),
        spin: $('.spin'), notice: $('.notice'), live: $('.sr'),
        stories: [], phase: 'loading', seenMem: 0, muted: true, isOpen: false, token: 0,
        onVis: () => this.sync(),
      });
      this.listen(root);
    }

    listen(root) {
      const on = (el, type, fn) => el.addEventListener(type, fn);
      const click = (selector, fn) => on(root.querySelector(selector), 'click', fn);
      click('.ring', () => this.open());
      click('.close', () => this.close());
      click('.prev', () => this.go(-1));
      click('.next', () => this.go(1));
      click('.pause', () => this.togglePause());
      click('.mute', () => this.toggleMute());
      click('.tap', () => this.tapToPlay());
      on(this.dlg, 'close', () => !this.dlg.open && this.close());
      on(this.dlg, 'keydown', (e) => this.key(e));
      on(this.dlg, 'click', (e) => e.target === this.dlg && this.close());
      on(this.card, 'pointerdown', (e) => this.press(e));
      on(this.card, 'contextmenu', (e) => e.preventDefault()); // a long press pauses
      on(this.dlg, 'pointerup', (e) => this.release(e));
      on(this.dlg, 'pointerdown', () => (this.tabbed = false));
      on(this.dlg, 'pointercancel', () => this.release(null));
    }

    connectedCallback() {
      this.load();
    }

    disconnectedCallback() {
      this.close();
    }

    attributeChangedCallback() {
      if (this.isConnected) this.load();
      this.drawRing();
    }

    get src() {
      return this.getAttribute('src') || '';
    }

    get name() {
      return this.getAttribute('name') || this.stories[0]?.username || '';
    }

    seconds(attribute, fallback) {
      return (Number(this.getAttribute(attribute)) || fallback) * 1000;
    }

    // ---- data

    // `again` revalidates past the HTTP cache, for fresh signed URLs.
    async fetchStories(again) {
      const response = await fetch(this.src, {
        credentials: 'omit',
        cache: again ? 'no-cache' : 'default',
        signal: AbortSignal.timeout(this.seconds('timeout', TIMEOUT_S)),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok || !Array.isArray(body)) {
        const why = body?.error ?? 'expected a JSON array of stories';
        throw new Error(`${this.src} answered ${response.status}: ${why}`);
      }
      // A video archived as its cover image (media_is_cover) is shown as a photo.
      const stories = body.filter((s) => s && s.id && s.signed_url);
      return stories.map((s) => ({ ...s, is_video: s.is_video && !s.media_is_cover }));
    }

    async load() {
      const src = this.src;
      if (src === this.loadedSrc) return;
      Object.assign(this, { loadedSrc: src, stories: [], phase: 'loading' });
      this.close();
      this.drawRing();
      let stories = [];
      let phase = 'ready';
      try {
        stories = await this.fetchStories();
      } catch (error) {
        phase = 'error';
        console.warn(`instapipe: ${error.message}`);
      }
      if (src !== this.loadedSrc) return;
      Object.assign(this, { stories, phase });
      this.drawRing();
    }

    // Seen state survives reloads through localStorage and, when storage is refused,
    // lives on in memory for this page.
    seenUpTo() {
      let stored = 0;
      try {
        stored = Number(localStorage.getItem(SEEN_KEY + this.src)) || 0;
      } catch {}
      return Math.max(stored, this.seenMem);
    }

    markSeen(timestamp) {
      if (timestamp <= this.seenUpTo()) return;
      this.seenMem = timestamp;
      try {
        localStorage.setItem(SEEN_KEY + this.src, String(timestamp));
      } catch {}
    }

    // ---- the ring

    drawRing() {
      const { stories, phase } = this;
      const fresh = stories.some((s) => s.timestamp > this.seenUpTo());
      const state = phase !== 'ready' ? phase : !stories.length ? 'empty' : fresh ? 'new' : 'seen';
      this.dataset.state = state;
      this.face(this.ring);
      this.ring.disabled = !stories.length;
      const what = { new: 'new stories', seen: 'stories, all seen' }[state];
      this.ring.setAttribute('aria-label', what ? `${this.name}: ${what}` : this.name || 'Stories');
    }

    face(parent) {
      const img = parent.querySelector('img');
      const avatar = this.getAttribute('avatar');
      img.hidden = !avatar;
      if (avatar && img.getAttribute('src') !== avatar) img.src = avatar;
      img.nextElementSibling.textContent = avatar ? '' : this.name.charAt(0).toUpperCase();
    }

    // ---- opening and closing

    open() {
      if (this.isOpen || !this.stories.length) return;
      Object.assign(this, { isOpen: true, retried: new Set(), last: 0 });
      Object.assign(this, { userPaused: false, held: false, tabbed: false });
      const username = encodeURIComponent(this.stories[0].username || '');
      const profile = this.getAttribute('profile') || `${PROFILE_URL}${username}/`;
      this.nameLink.href = profile;
      this.nameLink.textContent = this.name;
      this.face(this.mini);
      this.dlg.setAttribute('aria-label', `Stories of ${this.name}`);
      this.dlg.showModal();
      this.dlg.focus();
      document.addEventListener('visibilitychange', this.onVis);
      const seen = this.seenUpTo();
      const first = this.stories.findIndex((s) => s.timestamp > seen);
      this.show(Math.max(first, 0));
      this.raf = requestAnimationFrame((now) => this.tick(now));
      this.ping();
    }

    // Lets the API count opens per day (API_COUNT_OPENS); it answers 204 either way.
    ping() {
      const url = new URL(this.src, location.href);
      url.searchParams.set('event', 'open');
      fetch(url, { credentials: 'omit', keepalive: true }).catch(() => {});
    }

    close() {
      if (!this.isOpen) return;
      this.isOpen = false;
      this.token++;
      cancelAnimationFrame(this.raf);
      document.removeEventListener('visibilitychange', this.onVis);
      this.drop(this.current);
      this.drop(this.next?.el);
      this.current = this.next = null;
      this.stage.replaceChildren();
      this.notice.textContent = '';
      if (this.dlg.open) this.dlg.close();
      this.drawRing();
      this.ring.focus();
    }

    // ---- showing one story

    show(index) {
      const story = this.stories[index];
      this.index = index;
      this.token++;
      this.drop(this.current);
      this.current = this.take(story);
      this.stage.replaceChildren(this.current);
      Object.assign(this, { loading: true, blocked: false, elapsed: 0 });
      this.loadStart = performance.now();
      this.drawAgo(story, this.loadStart);
      this.spin.hidden = false;
      this.tapBtn.hidden = true;
      this.muteBtn.hidden = !story.is_video;
      this.place.textContent = story.location?.name || '';
      this.drawBars();
      const ago = this.ago(story.timestamp, true);
      this.live.textContent = `Story ${index + 1} of ${this.stories.length}, ${ago}`;
      this.markSeen(story.timestamp);
      this.watch(this.current, story);
    }

    // The story counts as shown once its photo is decoded or its video has a frame.
    watch(el, story) {
      const token = this.token;
      const ok = () => token === this.token && this.ready();
      const bad = () => token === this.token && this.fail();
      if (!story.is_video) return void el.decode().then(ok, bad);
      el.muted = this.muted;
      el.onended = () => token === this.token && this.go(1);
      el.onwaiting = () => (this.spin.hidden = false);
      el.onplaying = () => (this.spin.hidden = true);
      el.onerror = bad;
      if (el.error) bad();
      else if (el.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA) ok();
      else el.onloadeddata = ok;
    }

    media(story) {
      const el = document.createElement(story.is_video ? 'video' : 'img');
      if (story.is_video) Object.assign(el, { muted: true, playsInline: true, preload: 'auto' });
      else el.alt = '';
      el.draggable = false; // a drag would start a drag-and-drop instead of a swipe
      const { width, height } = story;
      if (width && height) Object.assign(el, { width, height });
      el.src = story.signed_url;
      return el;
    }

    take(story) {
      const next = this.next;
      if (next?.id === story.id && next.url === story.signed_url) {
        this.next = null;
        return next.el;
      }
      return this.media(story);
    }

    // Only the next story is fetched ahead, never more: a visitor pays for what they see.
    preload(index) {
      const story = this.stories[index];
      if (!story || this.next?.id === story.id) return;
      this.drop(this.next?.el);
      const el = this.media(story);
      if (el.decode) el.decode().catch(() => {}); // decoded too, to show at once
      this.next = { id: story.id, url: story.signed_url, el };
    }

    drop(el) {
      if (!el) return;
      if (el.pause) el.pause();
      el.removeAttribute('src');
      if (el.load) el.load();
    }

    ready() {
      Object.assign(this, { loading: false, elapsed: 0 });
      this.spin.hidden = true;
      this.sync();
      this.preload(this.index + 1);
    }

    // A media error most often means the signed URL has expired: fetch fresh URLs once,
    // then give up on the story with a notice rather than spin forever.
    async fail() {
      const story = this.stories[this.index];
      const token = ++this.token;
      this.loadStart = Infinity;
      if (!this.retried.has(story.id)) {
        this.retried.add(story.id);
        try {
          this.stories = await this.fetchStories(true);
        } catch {}
        if (token !== this.token) return;
        const again = this.stories.findIndex((s) => s.id === story.id);
        if (again >= 0) return this.show(again);
      }
      this.notify(FAILED);
      const later = this.stories.findIndex((s) => s.timestamp > story.timestamp);
      if (later < 0) this.close();
      else this.show(later);
    }

    go(step) {
      const index = Math.max(this.index + step, 0);
      if (index >= this.stories.length) this.close();
      else this.show(index);
    }

    drawBars() {
      const count = this.stories.length;
      while (this.bars.children.length > count) this.bars.lastChild.remove();
      while (this.bars.children.length < count) {
        this.bars.append(document.createElement('i'));
        this.bars.lastChild.append(document.createElement('b'));
      }
      [...this.bars.children].forEach((bar, i) => this.fill(bar, i < this.index ? 1 : 0));
    }

    fill(bar, share) {
      bar.firstChild.style.transform = `scaleX(${Math.min(share, 1)})`;
    }

    // ---- the clock: one animation frame loop while open, nothing while closed

    tick(now) {
      this.raf = requestAnimationFrame((t) => this.tick(t));
      const step = this.last ? now - this.last : 0;
      this.last = now;
      const story = this.stories[this.index];
      const tooSlow = now - this.loadStart > this.seconds('timeout', TIMEOUT_S);
      if (this.loading && tooSlow) return void this.fail();
      if (this.noticeUntil && now > this.noticeUntil) this.notify('', 0);
      if (now > this.agoAt) this.drawAgo(story, now);
      if (this.loading) return;
      const video = this.video();
      let share;
      if (video) {
        share = video.currentTime / (video.duration || story.duration_s || 1);
      } else {
        if (!this.isPaused()) this.elapsed += step;
        share = this.elapsed / this.seconds('photo-duration', PHOTO_S);
        if (share >= 1) return void this.go(1);
      }
      this.fill(this.bars.children[this.index], share);
    }

    drawAgo(story, now) {
      this.agoAt = now + 1000;
      this.agoEl.textContent = this.ago(story.timestamp, false);
      this.agoEl.dateTime = new Date(story.timestamp * 1000).toISOString();
    }

    ago(timestamp, long) {
      const age = Math.max(Date.now() / 1000 - timestamp, 0);
      const [unit, size] = UNITS.find(([, s]) => age >= s) || UNITS[3];
      const count = Math.floor(age / size);
      if (!long) return count + unit[0];
      return new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(-count, unit);
    }

    notify(text, ms = NOTICE_MS) {
      this.notice.textContent = text;
      this.noticeUntil = ms && performance.now() + ms;
    }

    // ---- playing and pausing

    video() {
      return this.stories[this.index]?.is_video && !this.loading ? this.current : null;
    }

    isPaused() {
      return this.userPaused || this.held || this.loading || this.blocked || document.hidden;
    }

    sync() {
      this.pauseBtn.setAttribute('aria-label', this.userPaused ? 'Play' : 'Pause');
      this.muteBtn.setAttribute('aria-label', this.muted ? 'Unmute' : 'Mute');
      const video = this.video();
      if (!video) return;
      video.muted = this.muted;
      if (this.isPaused()) video.pause();
      else if (video.paused) this.play(video);
    }

    // Browsers may refuse to start a video without a tap (iOS in low-power mode does,
    // even muted): fall back to muted, then to a play button, never to a stuck timer.
    play(video) {
      const token = this.token;
      video.play().catch((error) => {
        if (token !== this.token || error.name !== 'NotAllowedError') return;
        if (!this.muted) {
          this.muted = true;
          return this.sync();
        }
        this.blocked = true;
        this.tapBtn.hidden = false;
      });
    }

    tapToPlay() {
      this.blocked = false;
      this.tapBtn.hidden = true;
      this.sync();
    }

    togglePause() {
      this.userPaused = !this.userPaused;
      this.sync();
    }

    toggleMute() {
      this.muted = !this.muted;
      this.sync();
    }

    // ---- input

    key(event) {
      const { key } = event;
      const focused = event.composedPath()[0].closest?.('button,a');
      const action = {
        ArrowLeft: () => this.go(-1),
        ArrowRight: () => this.go(1),
        ' ': () => this.togglePause(),
        m: () => this.toggleMute(),
        M: () => this.toggleMute(),
        Tab: () => this.trapFocus(event.shiftKey),
      }[key];
      // Space presses a button reached with Tab; after a click it still pauses.
      const pressesButton = key === ' ' && focused && this.tabbed;
      if (!action || event.ctrlKey || event.metaKey || event.altKey || pressesButton) return;
      event.preventDefault();
      action();
    }

    trapFocus(backwards) {
      this.tabbed = true;
      const all = this.dlg.querySelectorAll('button,a');
      const controls = [...all].filter((el) => el.offsetWidth); // shown ones only
      const at = controls.indexOf(this.shadowRoot.activeElement);
      const count = controls.length;
      controls[backwards ? (at <= 0 ? count - 1 : at - 1) : (at + 1) % count].focus();
    }

    press(event) {
      if (event.button > 0 || event.target.closest('button,a')) return;
      this.card.setPointerCapture(event.pointerId); // the release may happen off the card
      this.pressed = { x: event.clientX, y: event.clientY, at: event.timeStamp };
      this.held = true;
      this.sync();
    }

    release(event) {
      const pressed = this.pressed;
      this.pressed = null;
      this.held = false;
      if (!pressed || !event) return void this.sync();
      const down = event.clientY - pressed.y;
      if (down > SWIPE_PX) return void this.close();
      if (event.timeStamp - pressed.at > HOLD_MS || Math.abs(down) > 10) return void this.sync();
      const box = this.card.getBoundingClientRect();
      this.go(event.clientX - box.left < box.width * BACK_SHARE ? -1 : 1);
    }
  }

  if (!customElements.get(TAG)) customElements.define(TAG, InstapipeStories);
}
