// Candlestick chart over the ticklake API: plain canvas, no dependencies, nothing from a CDN.
//
// Candles sit in equal slots, one after another, as trading platforms draw them: time the market was closed
// (the FX weekend, the nights between session bars) takes no room. The view stays in unix seconds (it decides
// what is fetched, and the page reports it); toIndex/toTime convert between a time and a fractional slot index
// over the loaded candles, and pan, zoom and hover work in slots. Below the candles a volume pane draws
// bid + ask volume, or the tick count where the feed had no volumes ("tick volume", as MT4 shows it).
//
// The canvas carries what it drew in data-* attributes (state, symbol, timeframe, price, candle-count,
// first-time, last-time, view-from, view-to, volume-label, first-paint-ms) and window.ticklakeChart.drawn()
// lists every drawn candle with its pixels.
"use strict";
(() => {
  const WIDTHS = {}; // timeframe -> bucket width in seconds (a session timeframe's widest bar), from api/timeframes
  const SESSION_BARS = new Set(["1d", "1w", "1M"]); // follow the symbol's session: not aligned to their width
  const PRICES = ["mid", "bid", "ask"];
  const FETCH_MAX = 5000; // candles per request, below the API's limit
  const MIN_VISIBLE = 10; // slots
  const MAX_VISIBLE = 1500; // 3 x MAX_VISIBLE (view plus a margin each side) stays under FETCH_MAX
  const INITIAL_VISIBLE = 120;
  const PAD = { left: 8, right: 78, top: 12, bottom: 28 };
  const VOLUME_SHARE = 0.2; // of the plot's height, below the candles
  const PANE_GAP = 8;
  const MIN_LABEL_GAP = 80; // pixels between time labels
  const COLORS = {
    up: "#26a69a", down: "#ef5350", upVolume: "rgba(38, 166, 154, 0.5)", downVolume: "rgba(239, 83, 80, 0.5)",
    grid: "#232733", text: "#8a8e99", cross: "#9598a1", bg: "#131722",
  };
  const MONTH = 2592000;
  const TIME_STEPS = [300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, MONTH,
    3 * MONTH, 6 * MONTH, 12 * MONTH];

  const canvas = document.getElementById("chart");
  const ctx = canvas.getContext("2d");
  const symbolSelect = document.getElementById("symbol");
  const timeframeSelect = document.getElementById("timeframe");
  const priceSelect = document.getElementById("price");
  const statusEl = document.getElementById("status");
  const hoverEl = document.getElementById("hover");

  const state = {
    symbol: null, timeframe: "1h", price: "mid", meta: null,
    candles: [], loaded: null, // candles starting in [loaded.from, loaded.to) of loaded.key, laid out for loaded.layout
    view: null, // {from, to}: unix seconds shown, right-open
    fit: false, // show the latest candles once they are loaded (a new symbol, a double-click)
    drawn: [], volumeLabel: "", fetching: false, seq: 0, error: null, notice: null, hoverX: null, timer: null,
    firstPaintMs: null,
  };

  const bucket = () => WIDTHS[state.timeframe];
  const key = () => `${state.symbol}/${state.timeframe}/${state.price}`;
  const layoutKey = () => `${state.symbol}/${state.timeframe}`; // every price side has the same candle times

  function plotArea() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    const plotW = Math.max(10, w - PAD.left - PAD.right), plotH = Math.max(10, h - PAD.top - PAD.bottom);
    return { x: PAD.left, y: PAD.top, w: plotW, h: plotH };
  }

  // The candles above, their volume bars below.
  function panes(p) {
    const volume = Math.round(p.h * VOLUME_SHARE);
    return {
      price: { x: p.x, y: p.y, w: p.w, h: Math.max(10, p.h - volume - PANE_GAP) },
      volume: { x: p.x, y: p.y + p.h - volume, w: p.w, h: volume },
    };
  }

  const daySeconds = (day) => Date.parse(`${day}T00:00:00Z`) / 1000;

  // The database's candles and, beyond them, the days the lake holds (built on demand by the API): bars starting
  // in [from, to). A session bar starts up to one width before the first 5-minute candle it holds.
  function dataRange() {
    const w = bucket(), m = state.meta;
    let first = m.first, last = m.last;
    if (m.lake_first_day) {
      first = Math.min(first, daySeconds(m.lake_first_day));
      last = Math.max(last, daySeconds(m.lake_last_day) + 86400 - 300);
    }
    if (SESSION_BARS.has(state.timeframe)) return { from: first - w + 1, to: last + 1 };
    return { from: Math.floor(first / w) * w, to: Math.floor(last / w) * w + w };
  }

  // A window reaching outside the database's candles may need days from the lake, which builds at most
  // lake_max_days per request: such a window is narrowed around `center`.
  function capped(from, to, center) {
    const m = state.meta, w = bucket();
    if (!m.lake_max_days) return { from, to };
    const inDatabase = m.count > 0 && from >= m.first && to <= m.last + w;
    const cap = Math.max(w, Math.floor(((m.lake_max_days - 1) * 86400) / w) * w);
    if (inDatabase || to - from <= cap) return { from, to };
    const start = Math.max(from, Math.min(to - cap, Math.floor((center - cap / 2) / w) * w));
    return { from: start, to: start + cap };
  }

  async function api(path) {
    const res = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.detail || `${res.status} ${res.statusText}`);
    return body;
  }

  // ---- slots: time <-> fractional candle index ---------------------------------------------------

  // The candles the layout follows: the loaded ones of this symbol and timeframe (of any price side).
  const layoutCandles = () => (state.loaded && state.loaded.layout === layoutKey() ? state.candles : []);

  // Candle i fills slot [i, i + 1): time runs linearly over its span, the width or up to the next candle's start
  // if that is sooner; the closed time up to the next candle maps to the point i + 1. The loaded window's empty
  // ends (closed time too, or no data) map to the points 0 and n. Beyond the window (not loaded yet), and without
  // candles, one slot is one width.
  function spanOf(candles, i) {
    const w = bucket();
    return i + 1 < candles.length ? Math.min(w, candles[i + 1].time - candles[i].time) : w;
  }

  function layout() {
    const c = layoutCandles(), n = c.length, w = bucket();
    if (!n) return null;
    const left = Math.min(c[0].time, state.loaded.from), right = Math.max(c[n - 1].time + w, state.loaded.to);
    return { c, n, w, left, right };
  }

  function toIndex(t) {
    const l = layout();
    if (!l) return t / bucket();
    const { c, n, w } = l;
    if (t < l.left) return (t - l.left) / w;
    if (t <= c[0].time) return 0;
    if (t >= l.right) return n + (t - l.right) / w;
    const i = upperBound(c, t) - 1; // the last candle starting at or before t
    return i + Math.min(1, (t - c[i].time) / spanOf(c, i));
  }

  function toTime(x) {
    const l = layout();
    if (!l) return x * bucket();
    const { c, n, w } = l;
    if (x < 0) return l.left + x * w;
    if (x >= n) return l.right + (x - n) * w;
    const i = Math.floor(x);
    return c[i].time + (x - i) * spanOf(c, i);
  }

  const slotView = () => ({ a: toIndex(state.view.from), b: toIndex(state.view.to) }); // the view in slots

  // The first candle starting at or after t (lowerBound), or after t (upperBound).
  function bound(candles, before) {
    let lo = 0, hi = candles.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(candles[mid].time)) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
  const lowerBound = (candles, t) => bound(candles, (time) => time < t);
  const upperBound = (candles, t) => bound(candles, (time) => time <= t);

  // ---- view ---------------------------------------------------------------------------------

  // MIN_VISIBLE to MAX_VISIBLE slots, centred within the data range.
  function clampView(from, to) {
    const range = dataRange(), a = toIndex(from), b = toIndex(to);
    const slots = Math.min(MAX_VISIBLE, Math.max(MIN_VISIBLE, b - a));
    const center = Math.min(toIndex(range.to), Math.max(toIndex(range.from), (a + b) / 2));
    return { from: toTime(center - slots / 2), to: toTime(center + slots / 2) };
  }

  // The latest INITIAL_VISIBLE candles (all of them when fewer), at least MIN_VISIBLE slots.
  function initialView() {
    const range = dataRange();
    const b = Math.ceil(toIndex(range.to) - 1e-6);
    const a = Math.min(b - MIN_VISIBLE, Math.max(Math.ceil(toIndex(range.from) - 1e-6), b - INITIAL_VISIBLE));
    return { from: toTime(a), to: toTime(b) };
  }

  function setView(from, to) {
    if (!state.meta) return;
    state.view = clampView(from, to);
    if (needsFetch()) scheduleFetch(120);
    draw();
  }

  function setSlots(a, b) {
    setView(toTime(a), toTime(b));
  }

  function resetView() {
    if (!state.meta) return;
    state.fit = true;
    const { from, to } = initialView();
    setView(from, to);
  }

  // Are bars overlapping the view (they start less than one width before it) missing, of those one request for
  // this view would load?
  function needsFetch() {
    const l = state.loaded;
    if (!l || l.key !== key()) return true;
    const range = dataRange(), fetchable = fetchRange(), { from: vf, to: vt } = state.view;
    const from = Math.max(vf - bucket() + 1, range.from, fetchable.from), to = Math.min(vt, range.to, fetchable.to);
    return from < to && (from < l.from || to > l.to);
  }

  // New candles move nothing on screen: the view keeps its slots around a candle the old and new sets share
  // (time that was drawn one slot per width may now collapse). A new symbol or a reset shows the latest candles.
  function adoptCandles(rows, loaded) {
    const old = layoutCandles();
    let anchor = null;
    if (old.length && !state.fit) {
      const { a, b } = slotView(), k = Math.min(old.length - 1, Math.max(0, Math.floor((a + b) / 2)));
      anchor = { time: old[k].time, a: a - k, b: b - k };
    }
    state.candles = rows;
    state.loaded = loaded;
    const k = anchor ? lowerBound(rows, anchor.time) : -1;
    if (state.fit) state.view = initialView();
    else if (anchor && k < rows.length && rows[k].time === anchor.time) {
      state.view = { from: toTime(k + anchor.a), to: toTime(k + anchor.b) };
    }
    state.view = clampView(state.view.from, state.view.to);
    if (state.fit && !needsFetch()) state.fit = false;
  }

  // ---- data ---------------------------------------------------------------------------------

  function scheduleFetch(delay) {
    clearTimeout(state.timer);
    state.timer = setTimeout(fetchWindow, delay);
  }

  // The view and one view's width each side, at most FETCH_MAX candles.
  function fetchRange() {
    const w = bucket(), range = dataRange(), { from: vf, to: vt } = state.view, span = vt - vf;
    let from = Math.max(range.from, Math.floor((vf - span) / w) * w);
    let to = Math.min(range.to, Math.ceil((vt + span) / w) * w);
    if ((to - from) / w > FETCH_MAX) {
      from = Math.max(range.from, Math.floor(((vf + vt) / 2 - (FETCH_MAX * w) / 2) / w) * w);
      to = Math.min(range.to, from + FETCH_MAX * w);
    }
    return capped(from, to, (vf + vt) / 2);
  }

  async function fetchWindow() {
    const { from, to } = fetchRange();
    const seq = ++state.seq, wanted = { key: key(), layout: layoutKey(), from, to };
    state.fetching = true;
    draw();
    try {
      const { symbol, timeframe, price } = state;
      const rows = await api(`api/candles?${new URLSearchParams({ symbol, timeframe, from, to: to - 1, price })}`);
      if (seq !== state.seq) return;
      adoptCandles(rows, wanted);
      state.error = null;
      if (needsFetch()) scheduleFetch(0);
    } catch (e) {
      if (seq === state.seq) state.error = e.message;
    } finally {
      if (seq === state.seq) {
        state.fetching = false;
        draw();
      }
    }
  }

  function updateUrl() {
    const q = new URLSearchParams({ symbol: state.symbol, timeframe: state.timeframe, price: state.price });
    history.replaceState(null, "", `?${q}`);
  }

  async function loadSymbol(keepView) {
    const previous = keepView && state.meta && state.meta.symbol === state.symbol ? state.view : null;
    state.meta = null;
    state.loaded = null;
    state.candles = [];
    state.error = null;
    state.fetching = true;
    state.fit = !previous;
    const seq = ++state.seq;
    updateUrl();
    draw();
    try {
      const meta = await api(`api/metadata?${new URLSearchParams({ symbol: state.symbol })}`);
      if (seq !== state.seq) return;
      state.meta = meta;
      state.view = previous ? clampView(previous.from, previous.to) : initialView();
      await fetchWindow();
    } catch (e) {
      if (seq === state.seq) {
        state.error = e.message;
        state.fetching = false;
        draw();
      }
    }
  }

  function switchPrice(price) {
    state.price = price;
    updateUrl();
    if (state.meta) fetchWindow(); // the same candle times: the view stays where it is
  }

  // ---- drawing ------------------------------------------------------------------------------

  function niceStep(range, count) {
    const raw = range / count, mag = 10 ** Math.floor(Math.log10(raw)), n = raw / mag;
    return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  }

  const pad2 = (n) => String(n).padStart(2, "0");
  const isoDate = (d) => `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  const hhmm = (d) => `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
  const formatVolume = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const formatPrice = (v) => String(Number(v.toPrecision(12))); // without float noise (1.0841150000000002)

  // A session bar starts the evening before its trade date (FX, 17:00 New York) or at its midnight (crypto):
  // half a day later is on the date it is named after.
  const tradeDate = (t) => new Date((t + 43200) * 1000);

  function hoverText(c) {
    const d = new Date(c.time * 1000);
    const when = SESSION_BARS.has(state.timeframe) ? `${isoDate(tradeDate(c.time))} (from ${isoDate(d)} ${hhmm(d)})`
      : `${isoDate(d)} ${hhmm(d)}`;
    const volume = c.bid_volume == null && c.ask_volume == null ? "" : `  vol ${formatVolume(volumeOf(c).value)}`;
    const [o, h, l, cl] = [c.open, c.high, c.low, c.close].map(formatPrice);
    return `${when}  O ${o}  H ${h}  L ${l}  C ${cl}  ticks ${c.trades}${volume}`;
  }

  // bid + ask volume in base-asset units, or the tick count where the feed had none
  function volumeOf(c) {
    if (c.bid_volume == null && c.ask_volume == null) return { value: c.trades, tick: true };
    return { value: (c.bid_volume || 0) + (c.ask_volume || 0), tick: false };
  }

  function resizeCanvas() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr), h = Math.round(canvas.clientHeight * dpr);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function draw() {
    resizeCanvas();
    ctx.fillStyle = COLORS.bg;
    ctx.fillRect(0, 0, canvas.clientWidth, canvas.clientHeight);
    state.drawn = [];
    state.volumeLabel = "";
    if (state.view && state.meta) drawChart();
    publish();
  }

  // The candles in view (their slots overlap [a, b)) and the index of the first.
  function visibleCandles(a, b) {
    const candles = state.loaded && state.loaded.key === key() ? state.candles : [];
    const first = Math.max(0, Math.floor(a)), end = Math.min(candles.length, Math.ceil(b));
    return { candles, first, visible: candles.slice(first, Math.max(first, end)) };
  }

  function drawChart() {
    const p = plotArea(), pane = panes(p), { a, b } = slotView();
    const xOf = (x) => p.x + ((x - a) / (b - a)) * p.w; // slot index -> pixel
    const { candles, first, visible } = visibleCandles(a, b);
    if (!visible.length) return;
    const yOf = drawPriceAxis(pane.price, visible);
    drawTimeAxis(p, xOf, b - a, candles, first, visible.length);

    const slot = p.w / (b - a);
    const bodyW = Math.max(1, Math.round(Math.min(slot * 0.7, slot - 1)));
    const volumes = visible.map(volumeOf);
    const volumeMax = Math.max(...volumes.map((v) => v.value));
    ctx.save();
    ctx.beginPath();
    ctx.rect(p.x, p.y, p.w, p.h);
    ctx.clip();
    visible.forEach((c, j) => {
      const cx = Math.round(xOf(first + j + 0.5));
      const candle = drawCandle(c, cx, bodyW, yOf);
      const bar = drawVolumeBar(c, volumes[j], volumeMax, cx, bodyW, pane.volume);
      state.drawn.push({ ...c, ...candle, ...bar });
    });
    ctx.restore();
    drawVolumeLabel(pane.volume, volumes, volumeMax);
    if (state.hoverX !== null) drawHover(p, xOf, a, b, candles, first, visible.length);
  }

  // Grid and labels of the price pane; returns price -> pixel.
  function drawPriceAxis(pane, visible) {
    let lo = Infinity, hi = -Infinity;
    for (const c of visible) {
      lo = Math.min(lo, c.low);
      hi = Math.max(hi, c.high);
    }
    const margin = (hi - lo) * 0.06 || Math.abs(hi) * 0.001 || 1;
    lo -= margin;
    hi += margin;
    const yOf = (v) => pane.y + ((hi - v) / (hi - lo)) * pane.h;
    const step = niceStep(hi - lo, Math.max(2, Math.floor(pane.h / 60)));
    const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step)) + 1));
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      const y = Math.round(yOf(v)) + 0.5;
      line(pane.x, y, pane.x + pane.w, y, COLORS.grid);
      ctx.fillStyle = COLORS.text;
      ctx.fillText(v.toFixed(decimals), pane.x + pane.w + 6, y);
    }
    return yOf;
  }

  function line(x0, y0, x1, y1, color) {
    ctx.strokeStyle = color;
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
  }

  // Integer pixel boxes, so every body pixel is exactly the up or down colour.
  function drawCandle(c, cx, bodyW, yOf) {
    const up = c.close >= c.open;
    const yHigh = Math.round(yOf(c.high)), yLow = Math.round(yOf(c.low));
    const yOpen = Math.round(yOf(c.open)), yClose = Math.round(yOf(c.close));
    const top = Math.min(yOpen, yClose), height = Math.max(1, Math.abs(yOpen - yClose));
    ctx.fillStyle = up ? COLORS.up : COLORS.down;
    ctx.fillRect(cx, yHigh, 1, Math.max(1, yLow - yHigh));
    ctx.fillRect(cx - (bodyW >> 1), top, bodyW, height);
    return { up, x: cx, yOpen, yClose, yHigh, yLow, bodyTop: top, bodyHeight: height, bodyWidth: bodyW };
  }

  // Bars from the pane's bottom, the view's largest volume at the pane's full height.
  function drawVolumeBar(c, volume, volumeMax, cx, bodyW, pane) {
    const height = volumeMax > 0 ? Math.round((volume.value / volumeMax) * pane.h) : 0;
    const top = pane.y + pane.h - height;
    ctx.fillStyle = c.close >= c.open ? COLORS.upVolume : COLORS.downVolume;
    if (height > 0) ctx.fillRect(cx - (bodyW >> 1), top, bodyW, height);
    return { volume: volume.value, tickVolume: volume.tick, yVolume: top, volumeHeight: height };
  }

  function drawVolumeLabel(pane, volumes, volumeMax) {
    const ticks = volumes.filter((v) => v.tick).length;
    state.volumeLabel = ticks === volumes.length ? "tick volume" : ticks ? "volume / tick volume" : "volume";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "top";
    ctx.textAlign = "left";
    ctx.fillStyle = COLORS.text;
    ctx.fillText(state.volumeLabel, pane.x + 4, pane.y);
    ctx.fillText(formatVolume(volumeMax), pane.x + pane.w + 6, pane.y);
    line(pane.x, pane.y - PANE_GAP / 2 + 0.5, pane.x + pane.w, pane.y - PANE_GAP / 2 + 0.5, COLORS.grid);
  }

  // The step between labels, in seconds of market time, for at least MIN_LABEL_GAP pixels between them at the
  // view's zoom; a step of months counts calendar months.
  function labelStep(p, slotCount) {
    const slotPx = p.w / slotCount, w = bucket();
    return TIME_STEPS.find((s) => (s / w) * slotPx >= MIN_LABEL_GAP) || TIME_STEPS[TIME_STEPS.length - 1];
  }

  function stepBucket(t, step) {
    if (step < MONTH) return Math.floor(t / step);
    const d = new Date(t * 1000);
    return Math.floor((d.getUTCFullYear() * 12 + d.getUTCMonth()) / Math.round(step / MONTH));
  }

  // A candle's label: its trade date for session bars (the month for 1M), else its date on the first candle of a
  // UTC day, its hh:mm otherwise.
  function labelOf(candles, i) {
    const t = candles[i].time;
    if (state.timeframe === "1M") return isoDate(tradeDate(t)).slice(0, 7);
    if (SESSION_BARS.has(state.timeframe)) return isoDate(tradeDate(t));
    const d = new Date(t * 1000);
    const newDay = i === 0 || Math.floor(candles[i - 1].time / 86400) !== Math.floor(t / 86400);
    return newDay ? isoDate(d) : hhmm(d);
  }

  // The first candle of each label step, at least MIN_LABEL_GAP pixels apart, with a grid line through both panes.
  function drawTimeAxis(p, xOf, slotCount, candles, first, count) {
    const session = SESSION_BARS.has(state.timeframe);
    const at = (i) => (session ? candles[i].time + 43200 : candles[i].time);
    const step = labelStep(p, slotCount);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    let lastX = -Infinity;
    for (let i = first; i < first + count; i++) {
      if (i > 0 && stepBucket(at(i - 1), step) === stepBucket(at(i), step)) continue;
      const x = Math.round(xOf(i + 0.5)) + 0.5;
      const label = labelOf(candles, i), half = ctx.measureText(label).width / 2;
      if (x - lastX < MIN_LABEL_GAP || x - half < 0 || x + half > canvas.clientWidth) continue; // cut labels read wrong
      lastX = x;
      line(x, p.y, x, p.y + p.h, COLORS.grid);
      ctx.fillStyle = COLORS.text;
      ctx.fillText(label, x, p.y + p.h + 8);
    }
  }

  // The candle whose slot is under the pointer.
  function drawHover(p, xOf, a, b, candles, first, count) {
    const i = Math.floor(a + ((state.hoverX - p.x) / p.w) * (b - a));
    if (i < first || i >= first + count) {
      hoverEl.textContent = "";
      return;
    }
    const x = Math.round(xOf(i + 0.5)) + 0.5;
    ctx.setLineDash([4, 4]);
    line(x, p.y, x, p.y + p.h, COLORS.cross);
    ctx.setLineDash([]);
    hoverEl.textContent = hoverText(candles[i]);
  }

  function publish() {
    const d = canvas.dataset, drawn = state.drawn;
    let status;
    if (state.error) status = "error";
    else if (state.notice) status = "empty";
    else if (state.fetching || (state.meta && needsFetch())) status = "loading";
    else status = state.meta ? "ready" : "empty";
    if (status === "ready" && drawn.length && state.firstPaintMs === null) {
      state.firstPaintMs = Math.round(performance.now()); // since the navigation started
      d.firstPaintMs = String(state.firstPaintMs);
    }
    d.state = status;
    d.symbol = state.symbol || "";
    d.timeframe = state.timeframe;
    d.price = state.price;
    d.candleCount = String(drawn.length);
    d.firstTime = drawn.length ? String(drawn[0].time) : "";
    d.lastTime = drawn.length ? String(drawn[drawn.length - 1].time) : "";
    d.viewFrom = state.view ? String(Math.round(state.view.from)) : "";
    d.viewTo = state.view ? String(Math.round(state.view.to)) : "";
    d.volumeLabel = state.volumeLabel;
    statusEl.textContent = state.error || state.notice ||
      (status === "loading" ? "loading…" : status === "ready" && !drawn.length ? "no candles in view" : "");
  }

  // ---- interaction --------------------------------------------------------------------------

  // Dragging moves the view by whole pixels' worth of slots since the last move, so candles arriving mid-drag
  // (which re-lay the slots) do not make it jump.
  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.view) return;
    drag = { x: e.clientX };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (e) => {
    if (drag) {
      const { a, b } = slotView(), shift = (-(e.clientX - drag.x) / plotArea().w) * (b - a);
      drag.x = e.clientX;
      state.fit = false;
      setSlots(a + shift, b + shift);
    } else {
      state.hoverX = e.offsetX;
      draw();
    }
  });
  const endDrag = () => {
    drag = null;
    canvas.classList.remove("dragging");
  };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("pointerleave", () => {
    state.hoverX = null;
    hoverEl.textContent = "";
    draw();
  });
  canvas.addEventListener("wheel", (e) => {
    if (!state.view) return;
    e.preventDefault();
    const p = plotArea(), { a, b } = slotView();
    const delta = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaMode === 2 ? e.deltaY * p.h : e.deltaY;
    const factor = Math.exp(delta * 0.0015);
    const anchor = a + (Math.min(p.w, Math.max(0, e.offsetX - p.x)) / p.w) * (b - a); // stays under the pointer
    state.fit = false;
    setSlots(anchor - (anchor - a) * factor, anchor + (b - anchor) * factor);
  }, { passive: false });
  canvas.addEventListener("dblclick", resetView);
  symbolSelect.addEventListener("change", () => {
    state.symbol = symbolSelect.value;
    loadSymbol(false);
  });
  timeframeSelect.addEventListener("change", () => {
    state.timeframe = timeframeSelect.value;
    loadSymbol(true);
  });
  priceSelect.addEventListener("change", () => switchPrice(priceSelect.value));
  window.addEventListener("resize", draw);

  // ---- start ----------------------------------------------------------------------------------

  async function init() {
    const params = new URLSearchParams(location.search);
    if (PRICES.includes(params.get("price"))) state.price = params.get("price");
    priceSelect.value = state.price;
    draw();
    try {
      const { timeframes } = await api("api/timeframes");
      for (const tf of timeframes) {
        WIDTHS[tf.name] = tf.seconds;
        timeframeSelect.add(new Option(tf.name, tf.name));
      }
      if (WIDTHS[params.get("timeframe")]) state.timeframe = params.get("timeframe");
      else if (!WIDTHS[state.timeframe]) state.timeframe = timeframes[0].name;
      timeframeSelect.value = state.timeframe;
      const { symbols } = await api("api/symbols");
      for (const s of symbols) symbolSelect.add(new Option(s, s));
      if (!symbols.length) {
        state.notice = "No candles yet: seed and materialize some days first (see the README)";
        draw();
        return;
      }
      state.symbol = symbols.includes(params.get("symbol")) ? params.get("symbol") : symbols[0];
      symbolSelect.value = state.symbol;
      await loadSymbol(false);
    } catch (e) {
      state.error = e.message;
      draw();
    }
  }

  window.ticklakeChart = {
    drawn: () => state.drawn.map((c) => ({ ...c })),
    view: () => (state.view ? { ...state.view } : null),
    setView,
  };
  init();
})();
