// Candlestick chart over the ticklake API: plain canvas, no dependencies, nothing from a CDN.
// The canvas carries what it drew in data-* attributes (state, candle-count, first-time, last-time,
// view-from, view-to) and window.ticklakeChart.drawn() lists every drawn candle with its pixels.
"use strict";
(() => {
  const WIDTHS = {}; // timeframe -> bucket width in seconds, from api/timeframes
  const FETCH_MAX = 5000; // candles per request, below the API's limit
  const MIN_VISIBLE = 10;
  const MAX_VISIBLE = 1500; // 3 x MAX_VISIBLE (view plus a margin each side) stays under FETCH_MAX
  const INITIAL_VISIBLE = 120;
  const PAD = { left: 8, right: 78, top: 12, bottom: 28 };
  const COLORS = { up: "#26a69a", down: "#ef5350", grid: "#232733", text: "#8a8e99", cross: "#9598a1", bg: "#131722" };
  const TIME_STEPS = [300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000,
    7776000, 15552000, 31536000];

  const canvas = document.getElementById("chart");
  const ctx = canvas.getContext("2d");
  const symbolSelect = document.getElementById("symbol");
  const timeframeSelect = document.getElementById("timeframe");
  const statusEl = document.getElementById("status");
  const hoverEl = document.getElementById("hover");

  const state = {
    symbol: null, timeframe: "1h", meta: null,
    candles: [], loaded: null, // candles cover [loaded.from, loaded.to) of loaded.key
    view: null, // {from, to}: unix seconds shown, right-open
    drawn: [], fetching: false, seq: 0, error: null, notice: null, hoverX: null, timer: null,
  };

  const bucket = () => WIDTHS[state.timeframe];
  const key = () => `${state.symbol}/${state.timeframe}`;

  function plotArea() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    return { x: PAD.left, y: PAD.top, w: Math.max(10, w - PAD.left - PAD.right), h: Math.max(10, h - PAD.top - PAD.bottom) };
  }

  const daySeconds = (day) => Date.parse(`${day}T00:00:00Z`) / 1000;

  // The database's candles and, beyond them, the days the lake holds (built on demand by the API).
  function dataRange() {
    const w = bucket(), m = state.meta;
    let first = m.first, last = m.last;
    if (m.lake_first_day) {
      first = Math.min(first, daySeconds(m.lake_first_day));
      last = Math.max(last, daySeconds(m.lake_last_day) + 86400 - 300);
    }
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

  // ---- view ---------------------------------------------------------------------------------

  function clampView(from, to) {
    const w = bucket(), range = dataRange();
    const span = Math.min(MAX_VISIBLE * w, Math.max(MIN_VISIBLE * w, to - from));
    const center = Math.min(range.to, Math.max(range.from, (from + to) / 2));
    return { from: center - span / 2, to: center + span / 2 };
  }

  function initialView() {
    const w = bucket(), range = dataRange();
    const from = Math.max(range.from, range.to - INITIAL_VISIBLE * w);
    const span = Math.max(MIN_VISIBLE * w, range.to - from);
    return { from: range.to - span, to: range.to };
  }

  function setView(from, to) {
    if (!state.meta) return;
    state.view = clampView(from, to);
    if (needsFetch()) scheduleFetch(120);
    draw();
  }

  function needsFetch() {
    const l = state.loaded;
    if (!l || l.key !== key()) return true;
    const range = dataRange(), { from: vf, to: vt } = state.view;
    const need = capped(Math.max(vf, range.from), Math.min(vt, range.to), (vf + vt) / 2);
    return need.from < l.from || need.to > l.to;
  }

  // ---- data ---------------------------------------------------------------------------------

  function scheduleFetch(delay) {
    clearTimeout(state.timer);
    state.timer = setTimeout(fetchWindow, delay);
  }

  async function fetchWindow() {
    const w = bucket(), range = dataRange(), { from: vf, to: vt } = state.view, span = vt - vf;
    let from = Math.max(range.from, Math.floor((vf - span) / w) * w);
    let to = Math.min(range.to, Math.ceil((vt + span) / w) * w);
    if ((to - from) / w > FETCH_MAX) {
      from = Math.max(range.from, Math.floor(((vf + vt) / 2 - (FETCH_MAX * w) / 2) / w) * w);
      to = Math.min(range.to, from + FETCH_MAX * w);
    }
    ({ from, to } = capped(from, to, (vf + vt) / 2));
    const seq = ++state.seq, wanted = key();
    state.fetching = true;
    draw();
    try {
      const q = new URLSearchParams({ symbol: state.symbol, timeframe: state.timeframe, from, to: to - 1 });
      const rows = await api(`api/candles?${q}`);
      if (seq !== state.seq) return;
      state.candles = rows;
      state.loaded = { key: wanted, from, to };
      state.error = null;
    } catch (e) {
      if (seq === state.seq) state.error = e.message;
    } finally {
      if (seq === state.seq) {
        state.fetching = false;
        draw();
      }
    }
  }

  async function loadSymbol(keepView) {
    const previous = keepView && state.meta && state.meta.symbol === state.symbol ? state.view : null;
    state.meta = null;
    state.loaded = null;
    state.candles = [];
    state.error = null;
    state.fetching = true;
    const seq = ++state.seq;
    history.replaceState(null, "", `?${new URLSearchParams({ symbol: state.symbol, timeframe: state.timeframe })}`);
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

  // ---- drawing ------------------------------------------------------------------------------

  function lowerBound(candles, t) {
    let lo = 0, hi = candles.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (candles[mid].time < t) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function niceStep(range, count) {
    const raw = range / count, mag = 10 ** Math.floor(Math.log10(raw)), n = raw / mag;
    return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  }

  const pad2 = (n) => String(n).padStart(2, "0");
  function formatTime(t, withDate) {
    const d = new Date(t * 1000);
    const date = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
    const time = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
    return withDate === undefined ? (t % 86400 === 0 ? date : time) : withDate ? `${date} ${time}` : time;
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
    if (state.view && state.meta) drawCandles();
    publish();
  }

  function drawCandles() {
    const p = plotArea(), w = bucket(), { from, to } = state.view, span = to - from;
    const candles = state.loaded && state.loaded.key === key() ? state.candles : [];
    const visible = candles.slice(lowerBound(candles, from - w + 1), lowerBound(candles, to));
    const xOf = (t) => p.x + ((t - from) / span) * p.w;

    let lo = Infinity, hi = -Infinity;
    for (const c of visible) {
      lo = Math.min(lo, c.low);
      hi = Math.max(hi, c.high);
    }
    if (!visible.length) {
      drawTimeAxis(p, xOf, from, to);
      return;
    }
    const margin = (hi - lo) * 0.06 || Math.abs(hi) * 0.001 || 1;
    lo -= margin;
    hi += margin;
    const yOf = (v) => p.y + ((hi - v) / (hi - lo)) * p.h;

    // price grid and labels
    const step = niceStep(hi - lo, Math.max(2, Math.floor(p.h / 60)));
    const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step)) + 1));
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      const y = Math.round(yOf(v)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(p.x, y);
      ctx.lineTo(p.x + p.w, y);
      ctx.stroke();
      ctx.fillStyle = COLORS.text;
      ctx.fillText(v.toFixed(decimals), p.x + p.w + 6, y);
    }
    drawTimeAxis(p, xOf, from, to);

    // candles: integer pixel boxes, so every body pixel is exactly the up or down colour
    const slot = (p.w * w) / span;
    const bodyW = Math.max(1, Math.round(Math.min(slot * 0.7, slot - 1)));
    ctx.save();
    ctx.beginPath();
    ctx.rect(p.x, p.y, p.w, p.h);
    ctx.clip();
    for (const c of visible) {
      const up = c.close >= c.open;
      const cx = Math.round(xOf(c.time + w / 2));
      const yHigh = Math.round(yOf(c.high)), yLow = Math.round(yOf(c.low));
      const yOpen = Math.round(yOf(c.open)), yClose = Math.round(yOf(c.close));
      const top = Math.min(yOpen, yClose), height = Math.max(1, Math.abs(yOpen - yClose));
      ctx.fillStyle = up ? COLORS.up : COLORS.down;
      ctx.fillRect(cx, yHigh, 1, Math.max(1, yLow - yHigh));
      ctx.fillRect(cx - (bodyW >> 1), top, bodyW, height);
      state.drawn.push({ ...c, up, x: cx, yOpen, yClose, yHigh, yLow, bodyTop: top, bodyHeight: height, bodyWidth: bodyW });
    }
    ctx.restore();

    if (state.hoverX !== null) drawHover(p, xOf, yOf, visible, from, span);
  }

  function drawTimeAxis(p, xOf, from, to) {
    const span = to - from;
    const step = TIME_STEPS.find((s) => (s / span) * p.w >= 110) || TIME_STEPS[TIME_STEPS.length - 1];
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
      const x = Math.round(xOf(t)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(x, p.y);
      ctx.lineTo(x, p.y + p.h);
      ctx.stroke();
      const label = formatTime(t), half = ctx.measureText(label).width / 2;
      if (x - half < 0 || x + half > canvas.clientWidth) continue; // a label cut by the edge reads wrong
      ctx.fillStyle = COLORS.text;
      ctx.fillText(label, x, p.y + p.h + 8);
    }
  }

  function drawHover(p, xOf, yOf, visible, from, span) {
    const w = bucket();
    const t = Math.floor((from + ((state.hoverX - p.x) / p.w) * span) / w) * w;
    const c = visible[lowerBound(visible, t)];
    if (!c || c.time !== t) {
      hoverEl.textContent = "";
      return;
    }
    const x = Math.round(xOf(t + w / 2)) + 0.5;
    ctx.strokeStyle = COLORS.cross;
    ctx.setLineDash([4, 4]);
    ctx.beginPath();
    ctx.moveTo(x, p.y);
    ctx.lineTo(x, p.y + p.h);
    ctx.stroke();
    ctx.setLineDash([]);
    hoverEl.textContent = `${formatTime(c.time, true)}  O ${c.open}  H ${c.high}  L ${c.low}  C ${c.close}  ticks ${c.trades}`;
  }

  function publish() {
    const d = canvas.dataset, drawn = state.drawn;
    let status;
    if (state.error) status = "error";
    else if (state.notice) status = "empty";
    else if (state.fetching || (state.meta && needsFetch())) status = "loading";
    else status = state.meta ? "ready" : "empty";
    d.state = status;
    d.symbol = state.symbol || "";
    d.timeframe = state.timeframe;
    d.candleCount = String(drawn.length);
    d.firstTime = drawn.length ? String(drawn[0].time) : "";
    d.lastTime = drawn.length ? String(drawn[drawn.length - 1].time) : "";
    d.viewFrom = state.view ? String(Math.round(state.view.from)) : "";
    d.viewTo = state.view ? String(Math.round(state.view.to)) : "";
    statusEl.textContent = state.error || state.notice ||
      (status === "loading" ? "loading…" : status === "ready" && !drawn.length ? "no candles in view" : "");
  }

  // ---- interaction --------------------------------------------------------------------------

  let drag = null;
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.view) return;
    drag = { x: e.clientX, view: { ...state.view } };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("dragging");
  });
  canvas.addEventListener("pointermove", (e) => {
    if (drag) {
      const p = plotArea(), span = drag.view.to - drag.view.from;
      const shift = (-(e.clientX - drag.x) / p.w) * span;
      setView(drag.view.from + shift, drag.view.to + shift);
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
    const p = plotArea(), { from, to } = state.view, span = to - from;
    const delta = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaMode === 2 ? e.deltaY * p.h : e.deltaY;
    const factor = Math.exp(delta * 0.0015);
    const anchor = from + (Math.min(p.w, Math.max(0, e.offsetX - p.x)) / p.w) * span;
    setView(anchor - (anchor - from) * factor, anchor + (to - anchor) * factor);
  }, { passive: false });
  canvas.addEventListener("dblclick", () => {
    if (state.meta) setView(initialView().from, initialView().to);
  });
  symbolSelect.addEventListener("change", () => {
    state.symbol = symbolSelect.value;
    loadSymbol(false);
  });
  timeframeSelect.addEventListener("change", () => {
    state.timeframe = timeframeSelect.value;
    loadSymbol(true);
  });
  window.addEventListener("resize", draw);

  // ---- start ----------------------------------------------------------------------------------

  async function init() {
    const params = new URLSearchParams(location.search);
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
