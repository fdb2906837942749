/* The Credits page (airflow-provider-credits): reads /credits/api/* (or data embedded by `make demo`)
 * and draws cards, a balance chart with its forecast, daily usage bars and two tables. No framework;
 * charts by uPlot (MIT, shipped alongside). */
(function () {
  "use strict";
  const DAY = 86400;
  const $ = (id) => document.getElementById(id);
  const state = { data: null, selected: null, charts: [] };

  // ---------------------------------------------------------------- theme
  // ?theme=dark|light wins; else the Airflow UI around the iframe (same origin: its <html> class or
  // color-scheme, followed live); else the browser's preference.
  function parentTheme() {
    try {
      if (window.parent === window) return null;
      const root = window.parent.document.documentElement;
      if (root.classList.contains("dark")) return "dark";
      if (root.classList.contains("light")) return "light";
      const scheme = root.style.colorScheme || window.parent.getComputedStyle(root).colorScheme;
      if (scheme === "dark" || scheme === "light") return scheme;
    } catch (e) { /* another origin: no access */ }
    return null;
  }
  function wantedTheme() {
    const asked = new URLSearchParams(location.search).get("theme");
    if (asked === "dark" || asked === "light") return asked;
    return parentTheme() || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
  }
  function applyTheme() {
    const theme = wantedTheme();
    if (document.documentElement.dataset.theme !== theme) {
      document.documentElement.dataset.theme = theme;
      if (state.data) drawCharts();
    }
  }
  applyTheme();
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
  try {
    if (window.parent !== window) {
      new MutationObserver(applyTheme).observe(window.parent.document.documentElement,
        { attributes: true, attributeFilter: ["class", "style", "data-theme"] });
    }
  } catch (e) { /* another origin */ }
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // ---------------------------------------------------------------- formatting
  const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
  const num = (v) => (v === null || v === undefined ? "–" : fmt.format(v));
  const secs = (iso) => Date.parse(iso) / 1000;
  const day = (iso) => (iso ? iso.slice(0, 10) : "–");
  const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : "–");
  const keyOf = (p) => p.vendor + "\u0000" + p.account + "\u0000" + p.pool;
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function notice(text, error) {
    const box = $("notice");
    box.hidden = !text;
    box.textContent = text || "";
    box.classList.toggle("error", Boolean(error));
  }

  // ---------------------------------------------------------------- data
  async function get(path) {
    const response = await fetch("api/" + path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) {
      const detail = body && body.detail;
      const err = new Error((detail && detail.message) || (typeof detail === "string" ? detail : "HTTP " + response.status));
      err.status = response.status;
      err.state = detail && detail.state;
      throw err;
    }
    return body;
  }
  async function load() {
    if (window.CREDITS_DATA) return window.CREDITS_DATA;
    const status = await get("status");
    const names = ["balances", "history", "usage", "forecast", "reservations", "spend"];
    const parts = await Promise.all(names.map((n) => get(n).catch((e) => ({ error: e }))));
    const out = { generated_at: status.generated_at, conn_id: status.conn_id, status: status };
    names.forEach((n, i) => {
      if (parts[i].error) { out[n] = []; out.errors = (out.errors || []).concat(n + ": " + parts[i].error.message); }
      else out[n] = parts[i].data;
    });
    if (!parts[5].error) out.spend_period = { since: parts[5].since, until: parts[5].until, by: parts[5].by };
    return out;
  }

  // ---------------------------------------------------------------- pools
  function pools(d) {
    const byKey = new Map();
    for (const b of d.balances) byKey.set(keyOf(b), { ...b, forecast: null, history: [], usage: [] });
    for (const f of d.forecast) if (byKey.has(keyOf(f))) byKey.get(keyOf(f)).forecast = f;
    for (const h of d.history) if (byKey.has(keyOf(h))) byKey.get(keyOf(h)).history = h.points;
    for (const u of d.usage) if (byKey.has(keyOf(u))) byKey.get(keyOf(u)).usage = u.days;
    return [...byKey.values()];
  }
  function runwayText(p) {
    const f = p.forecast;
    if (!f || f.days_left === null) return { text: p.remaining === null ? "no balance reported" : "runway unknown (not burning, or under a day of history)", cls: "" };
    const days = f.days_left;
    const cls = days < 7 ? "bad" : days < 30 ? "warn" : "";
    return { text: fmt.format(Math.floor(days * 10) / 10) + " days left · runs out " + day(f.runs_out_at), cls };
  }
  function sparkline(points) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 100 30");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    const pts = points.filter((p) => p[1] !== null).slice(-60);
    if (pts.length > 1) {
      const xs = pts.map((p) => secs(p[0])), ys = pts.map((p) => p[1]);
      const x0 = Math.min(...xs), x1 = Math.max(...xs), y1 = Math.max(...ys, 0), y0 = Math.min(...ys, 0);
      const sx = (x) => (x1 === x0 ? 0 : ((x - x0) / (x1 - x0)) * 100);
      const sy = (y) => (y1 === y0 ? 15 : 28 - ((y - y0) / (y1 - y0)) * 26);
      const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", pts.map((p, i) => (i ? "L" : "M") + sx(xs[i]).toFixed(2) + " " + sy(ys[i]).toFixed(2)).join(" "));
      path.setAttribute("vector-effect", "non-scaling-stroke");
      svg.append(path);
    }
    return svg;
  }
  function drawCards(list) {
    const box = $("pools");
    box.replaceChildren();
    box.setAttribute("aria-busy", "false");
    if (!list.length) { box.append(el("p", { class: "empty" }, "No balances stored yet.")); return; }
    for (const p of list) {
      const runway = runwayText(p);
      const share = p.limit ? Math.max(0, Math.min(100, (100 * (p.remaining || 0)) / p.limit)) : null;
      const bar = el("div", { class: "bar" });
      if (share !== null) { const fill = el("span"); fill.style.width = share.toFixed(1) + "%"; bar.append(fill); }
      const card = el("button", {
        type: "button", class: "card", "data-key": keyOf(p), "aria-pressed": String(keyOf(p) === state.selected),
        "aria-label": `${p.vendor} ${p.pool}: ${num(p.remaining)} ${p.unit} remaining` + (p.limit ? ` of ${num(p.limit)}` : "") + `; ${runway.text}`,
      },
      el("div", { class: "name" }, `${p.vendor} · ${p.pool}`),
      el("div", { class: "acct" }, `${p.account} · ${p.connection_id}`),
      el("div", { class: "remaining" }, num(p.remaining), " ", el("small", {}, p.limit ? `of ${num(p.limit)} ${p.unit}` : p.unit)),
      bar,
      el("div", { class: "runway " + runway.cls }, runway.text),
      sparkline(p.history));
      card.addEventListener("click", () => select(keyOf(p)));
      box.append(card);
    }
  }
  function fillSelect(list) {
    const sel = $("pool-select");
    sel.replaceChildren(...list.map((p) => el("option", { value: keyOf(p) }, `${p.vendor} · ${p.pool} (${p.account})`)));
    sel.disabled = !list.length;
    if (!list.length) sel.append(el("option", {}, "no pools"));
    sel.value = state.selected || "";
  }
  function select(key) {
    state.selected = key;
    $("pool-select").value = key;
    for (const c of document.querySelectorAll(".card[data-key]")) c.setAttribute("aria-pressed", String(c.dataset.key === key));
    drawCharts();
  }
  $("pool-select").addEventListener("change", (e) => select(e.target.value));

  // ---------------------------------------------------------------- charts
  function axes(valueFmt) {
    const stroke = css("--muted"), grid = { stroke: css("--grid"), width: 1 }, ticks = { stroke: css("--grid"), width: 1 };
    return [
      { stroke, grid, ticks },
      { stroke, grid, ticks, size: 64, values: (u, vals) => vals.map(valueFmt || num) },
    ];
  }
  function sizeOf(box) { return { width: Math.max(200, box.clientWidth), height: box.clientHeight }; }
  function emptyChart(box, text) { box.replaceChildren(el("div", { class: "empty" }, text)); }
  function drawBalance(p) {
    const box = $("balance-chart");
    const pts = p.history.filter((x) => x[1] !== null);
    $("balance-sub").textContent = `${p.vendor} · ${p.pool}, ${p.unit}`;
    if (!pts.length) { emptyChart(box, "No snapshots in this period."); $("balance-legend").textContent = ""; return; }
    const xs = pts.map((x) => secs(x[0])), ys = pts.map((x) => x[1]);
    const fc = p.forecast, fx = [], fy = [];
    const lastX = xs[xs.length - 1], lastY = ys[ys.length - 1];
    if (fc && fc.runs_out_at) {
      const end = secs(fc.runs_out_at), horizon = lastX + 365 * DAY;
      const stop = Math.min(end, horizon);
      fx.push(stop);
      fy.push(stop === end ? 0 : Math.max(0, lastY - fc.burn_per_day * ((stop - lastX) / DAY)));
    }
    const x = xs.concat(fx), remaining = ys.concat(fx.map(() => null));
    const forecast = xs.map((t, i) => (i === xs.length - 1 ? lastY : null)).concat(fy);
    box.replaceChildren();
    const chart = new uPlot({
      ...sizeOf(box),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.05 : 1] } },
      axes: axes(),
      series: [
        {},
        { label: "Remaining", stroke: css("--accent"), width: 2, fill: css("--accent") + "22" },
        { label: "Forecast", stroke: css("--accent-2"), width: 2, dash: [6, 5], spanGaps: true },
      ],
    }, [x, remaining, forecast], box);
    state.charts.push(chart);
    const legend = $("balance-legend");
    legend.replaceChildren(el("span", { class: "swatch" }), "remaining", el("span", { class: "swatch dash" }),
      fc && fc.runs_out_at ? `forecast at ${num(fc.burn_per_day)} ${p.unit}/day (from ${fc.method}), runs out ${day(fc.runs_out_at)}` : "no forecast (not burning, or too little history)");
  }
  function drawUsage(p) {
    const box = $("usage-chart");
    $("usage-sub").textContent = `${p.vendor} · ${p.pool}, ${p.unit} per day`;
    if (!p.usage.length) { emptyChart(box, "No usage records in this period."); $("usage-legend").textContent = ""; return; }
    const x = p.usage.map((d) => secs(d[0] + "T00:00:00Z") + DAY / 2), y = p.usage.map((d) => d[1]);
    box.replaceChildren();
    const chart = new uPlot({
      ...sizeOf(box),
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true, range: (u, lo, hi) => [lo - DAY, hi + DAY] }, y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] } },
      axes: axes(),
      series: [{}, { label: "Used", stroke: css("--accent"), fill: css("--accent") + "bb", width: 0,
        paths: uPlot.paths.bars({ size: [0.75, 40], align: 0 }), points: { show: false } }],
    }, [x, y], box);
    state.charts.push(chart);
    const total = y.reduce((a, b) => a + b, 0);
    $("usage-legend").textContent = `${num(total)} ${p.unit} over ${y.length} day(s) with records; mean ${num(total / y.length)} per day`;
  }
  function drawCharts() {
    for (const c of state.charts) c.destroy();
    state.charts = [];
    const list = pools(state.data);
    const p = list.find((q) => keyOf(q) === state.selected);
    if (!p) {
      emptyChart($("balance-chart"), "No pool to show.");
      emptyChart($("usage-chart"), "No pool to show.");
      return;
    }
    drawBalance(p);
    drawUsage(p);
  }
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { for (const c of state.charts) c.setSize(sizeOf(c.root.parentElement)); }, 100);
  });

  // ---------------------------------------------------------------- tables
  function fillTable(id, rows, columns, emptyText) {
    const body = $(id).tBodies[0];
    body.replaceChildren();
    if (!rows.length) { body.append(el("tr", {}, el("td", { colspan: String(columns), class: "empty" }, emptyText))); return; }
    for (const cells of rows) body.append(el("tr", {}, ...cells));
  }
  function drawReservations(rows) {
    fillTable("reservations", rows.map((r) => [
      el("td", {}, r.dag_id), el("td", {}, r.run_id),
      el("td", {}, r.task_id + (r.map_index >= 0 ? ` [${r.map_index}]` : "")),
      el("td", {}, `${r.pool} (${r.connection_id})`),
      el("td", { class: "num" }, num(r.amount)), el("td", { class: "num" }, num(r.outstanding)),
      el("td", {}, when(r.expires_at)),
    ]), 7, "No active reservations.");
  }
  function drawSpend(rows, period) {
    $("spend-sub").textContent = period ? `${day(period.since)} to ${day(period.until)} (UTC), spent and still reserved` : "";
    fillTable("spend", rows.map((r) => {
      const meter = el("td", {});
      if (r.share !== null && r.share !== undefined) {
        const pct = 100 * r.share;
        meter.append(el("meter", { min: "0", max: "100", low: "80", high: "99", optimum: "0", value: String(Math.min(pct, 100)), "aria-label": `${fmt.format(pct)}% of budget` }),
          el("span", { class: "pct" + (pct > 100 ? " over" : "") }, fmt.format(Math.round(pct)) + "%"));
      } else meter.append(el("span", { class: "sub" }, "no budget set"));
      return [el("td", {}, r.key), el("td", { class: "num" }, num(r.spent)), el("td", { class: "num" }, num(r.outstanding)),
        el("td", { class: "num" }, r.unknown ? String(r.unknown) : "–"), el("td", { class: "num" }, num(r.budget)), meter];
    }), 6, "No spend recorded in this period.");
  }

  // ---------------------------------------------------------------- main
  function render(d) {
    state.data = d;
    const list = pools(d);
    if (!state.selected || !list.some((p) => keyOf(p) === state.selected)) {
      const soonest = list.filter((p) => p.forecast && p.forecast.days_left !== null)
        .sort((a, b) => a.forecast.days_left - b.forecast.days_left)[0];
      state.selected = list.length ? keyOf(soonest || list[0]) : null;
    }
    $("meta").textContent = `Data from connection ${d.conn_id || (d.status && d.status.conn_id) || "?"}` +
      (d.status && d.status.database ? ` (${d.status.database})` : "") + ` · as of ${when(d.generated_at)}`;
    const messages = [];
    if (d.status && d.status.message) messages.push(d.status.message);
    if (d.errors) messages.push("Some data could not be read: " + d.errors.join("; "));
    notice(messages.join(" "), Boolean(d.errors));
    drawCards(list);
    fillSelect(list);
    drawCharts();
    drawReservations(d.reservations || []);
    drawSpend(d.spend || [], d.spend_period);
    document.body.dataset.ready = "true";
  }
  function fail(err) {
    const text = err.status === 401 || err.status === 403
      ? "You are not signed in to Airflow (or your session expired): reload the Airflow UI and sign in."
      : err.message;
    notice(text, true);
    $("meta").textContent = err.state === "missing_connection" ? "No data source" : "Could not load the data";
    for (const id of ["pools"]) { $(id).replaceChildren(el("p", { class: "empty" }, "Nothing to show.")); $(id).setAttribute("aria-busy", "false"); }
    emptyChart($("balance-chart"), "Nothing to show.");
    emptyChart($("usage-chart"), "Nothing to show.");
    fillTable("reservations", [], 7, "Nothing to show.");
    fillTable("spend", [], 6, "Nothing to show.");
    $("pool-select").replaceChildren(el("option", {}, "no pools"));
    document.body.dataset.ready = "error";
  }
  load().then(render, fail);
})();
