// The dashboard: every table from the HTTP API (/analytics/...), the charts as SVG from
// /charts/..., the ticker from /live/{band} (Server-Sent Events). Plain JavaScript, no build.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { band: null, asOf: "", live: null, refresh: null };

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

async function getJSON(path, params = {}) {
  const response = await fetch(path + query({ ...params, as_of: state.asOf }));
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

async function getSVG(path, params = {}) {
  const response = await fetch(path + query({ ...params, as_of: state.asOf }));
  return response.ok ? response.text() : "";
}

const enc = encodeURIComponent;

// a table from rows: columns are [heading, value of a row, class]
function table(id, columns, rows, onRow, empty = "nothing yet") {
  const t = $(id);
  t.replaceChildren();
  const head = el("tr");
  for (const [name, , cls] of columns) head.append(el("th", name, cls));
  t.append(el("thead"));
  t.tHead.append(head);
  const body = el("tbody");
  if (!rows || rows.length === 0) {
    const tr = el("tr");
    const td = el("td", empty, "muted");
    td.colSpan = columns.length;
    tr.append(td);
    body.append(tr);
  }
  for (const row of rows || []) {
    const tr = el("tr");
    for (const [, value, cls] of columns) {
      const v = value(row);
      const td = el("td", undefined, cls);
      if (v instanceof Node) td.append(v); else td.textContent = v === null || v === undefined ? "" : String(v);
      tr.append(td);
    }
    if (onRow) {
      tr.classList.add("song");
      tr.tabIndex = 0;
      tr.addEventListener("click", () => onRow(row));
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") onRow(row); });
    }
    body.append(tr);
  }
  t.append(body);
}

function titled(title, tags) {
  const span = el("span", title);
  for (const [text, cls] of tags) span.append(el("span", text, "tag " + (cls || "")));
  return span;
}

async function loadBands() {
  const bands = (await getJSON("/analytics/bands")) || [];
  const select = $("band");
  select.replaceChildren();
  for (const b of bands) {
    const option = el("option", `${b.band_name} (${b.total_shows} shows)`);
    option.value = b.band;
    select.append(option);
  }
  const wanted = new URLSearchParams(location.search).get("band");
  if (wanted && bands.some((b) => b.band === wanted)) select.value = wanted;
  state.band = select.value || null;
}

async function loadOverdue() {
  const sort = $("gap-sort").value;
  const rows = await getJSON(`/analytics/gaps/${enc(state.band)}`, { sort, limit: 15 });
  const unit = sort === "shows" ? "shows" : "days";
  table("overdue", [
    ["Song", (r) => r.song_title],
    [unit, (r) => (sort === "shows" ? r.shows_since_played : r.days_since_played), "n"],
    ["avg", (r) => (sort === "shows" ? r.average_gap_shows : r.average_gap_days), "n wide-only"],
    ["last", (r) => r.last_played, "wide-only"],
  ], rows, showSong);
}

async function loadHot() {
  const rows = await getJSON(`/analytics/velocity/${enc(state.band)}`, { limit: 15 });
  table("hot", [
    ["Song", (r) => r.song_title],
    ["30d", (r) => r.plays_last_30_days, "n"],
    ["90d", (r) => r.plays_last_90_days, "n"],
    ["year", (r) => r.plays_last_year, "n wide-only"],
    ["score", (r) => r.velocity_score, "n"],
  ], rows, showSong);
}

async function loadTrends() {
  const period = $("period").value;
  $("trends-chart").innerHTML = await getSVG(`/charts/trends/${enc(state.band)}.svg`, { period });
}

async function loadBustoutsAndDebuts() {
  const [bustouts, debuts] = await Promise.all([
    getJSON(`/analytics/bustouts/${enc(state.band)}`, { days: 365 }),
    getJSON(`/analytics/debut-songs/${enc(state.band)}`, { days: 365 }),
  ]);
  table("bustouts", [
    ["Song", (r) => r.song_title],
    ["date", (r) => r.bustout_date],
    ["gap", (r) => `${r.gap_shows} shows`, "n"],
  ], bustouts ? bustouts.bustouts.slice(0, 12) : [], showSong);
  table("debuts", [
    ["Song", (r) => r.song_title],
    ["date", (r) => r.debut_date],
    ["since", (r) => r.times_played_since, "n"],
  ], debuts ? debuts.debuts.slice(0, 12) : [], showSong);
}

async function loadSetlist() {
  const latest = await getJSON(`/dashboard/latest-show/${enc(state.band)}`);
  if (!latest || !latest.show_id) {
    $("show-name").textContent = "";
    table("setlist", [["", () => ""]], [], null, "no show yet");
    return;
  }
  const show = await getJSON(`/analytics/setlists/${enc(state.band)}/${enc(latest.show_id)}`);
  if (!show) return;
  $("show-name").textContent = [show.date, show.venue, show.city].filter(Boolean).join(" · ");
  table("setlist", [
    ["#", (r) => r.position, "n"],
    ["set", (r) => r.set],
    ["Song", (r) => titled(r.song_title || r.song_id, [
      ...(r.is_debut ? [["debut", "debut"]] : []),
      ...(r.is_bustout ? [["bustout"]] : []),
    ])],
    ["gap", (r) => (r.gap_shows === null ? "" : `${r.gap_shows} shows`), "n"],
    ["days", (r) => (r.gap_days === null ? "" : r.gap_days), "n wide-only"],
  ], show.performances, showSong, "no songs yet");
}

async function showSong(row) {
  const id = row.song_id;
  const [song, svg] = await Promise.all([
    getJSON(`/analytics/songs/${enc(state.band)}/${enc(id)}`),
    getSVG(`/charts/song/${enc(state.band)}.svg`, { song_id: id }),
  ]);
  if (!song) return;
  $("song-card").hidden = false;
  $("song-title").textContent = song.song_title;
  $("song-summary").textContent =
    `${song.total_plays} plays, debut ${song.debut_date || "-"}, last ${song.last_played || "-"}` +
    (song.shows_since_played === null ? "" : `, ${song.shows_since_played} shows ago`) +
    (song.longest_gap_shows === null ? "" : `; longest gap ${song.longest_gap_shows} shows`);
  $("song-chart").innerHTML = svg;
  table("song-plays", [
    ["date", (r) => r.date],
    ["set", (r) => r.set],
    ["gap", (r) => (r.gap_shows === null ? "debut" : `${r.gap_shows} shows`), "n"],
    ["days", (r) => (r.gap_days === null ? "" : r.gap_days), "n wide-only"],
  ], song.plays.slice().reverse().slice(0, 25));
  $("song-card").scrollIntoView({ behavior: "smooth", block: "nearest" });
}

const WORDS = { debut: "Debut!", bustout: "Bustout!", bustout_days: "Bustout!", milestone: "Milestone!",
                first_of_year: "First of the year:" };

function describe(h) {
  const song = h.song_title || h.song_id;
  if (h.kind === "debut") return `${WORDS.debut} ${song}, first time played`;
  if (h.kind === "milestone") return `${WORDS.milestone} ${song}, play number ${h.play_number}`;
  if (h.kind === "first_of_year") return `${WORDS.first_of_year} ${song}, last played ${h.previous_play}`;
  return `${WORDS[h.kind]} First ${song} in ${h.gap_shows} shows (${h.gap_days} days, last ${h.previous_play})`;
}

function follow() {
  if (state.live) state.live.close();
  const source = new EventSource(`/live/${enc(state.band)}`);
  state.live = source;
  source.onopen = () => { $("live-state").textContent = "live"; $("live-state").classList.add("on"); };
  source.onerror = () => { $("live-state").textContent = "reconnecting"; $("live-state").classList.remove("on"); };
  source.addEventListener("highlight", (e) => {
    const h = JSON.parse(e.data);
    const list = $("highlights");
    list.querySelector(".empty")?.remove();
    const item = el("li", `${h.date} · ${describe(h)}`, "new");
    item.dataset.id = h.id;
    list.prepend(item);
    refreshSoon();
  });
  source.addEventListener("retracted", (e) => {
    const h = JSON.parse(e.data);
    for (const item of $("highlights").querySelectorAll("li")) {
      if (item.dataset.id === h.id) item.classList.add("retracted");
    }
    refreshSoon();
  });
}

function refreshSoon() {  // the tables after a burst of plays, once
  clearTimeout(state.refresh);
  state.refresh = setTimeout(() => loadAll(false), 300);
}

async function loadAll(withTrends = true) {
  if (!state.band) return;
  const parts = [loadSetlist(), loadOverdue(), loadHot(), loadBustoutsAndDebuts()];
  if (withTrends) parts.push(loadTrends());
  await Promise.all(parts);
}

async function start() {
  await loadBands();
  if (!state.band) {
    $("show-name").textContent = "no band yet: import a history or publish events";
    return;
  }
  $("band").addEventListener("change", () => {
    state.band = $("band").value;
    history.replaceState(null, "", "?band=" + enc(state.band));
    $("song-card").hidden = true;
    $("highlights").replaceChildren(el("li", "Debuts and bustouts appear here the moment they are played.", "empty"));
    loadAll();
    follow();
  });
  $("as-of").addEventListener("change", () => { state.asOf = $("as-of").value; loadAll(); });
  $("gap-sort").addEventListener("change", loadOverdue);
  $("period").addEventListener("change", loadTrends);
  $("song-close").addEventListener("click", () => { $("song-card").hidden = true; });
  await loadAll();
  follow();
  document.body.dataset.ready = "1";  // the page is drawn (for tests and screenshots)
}

start().catch((error) => { console.error(error); });
