// agentmail web view: plain JavaScript, no build step, no dependencies.
// Mail content is only ever put into the page as text (textContent / text nodes), never as HTML.
"use strict";

const S = {
  csrf: "", me: "human", limits: { title: 140, body: 1400 }, accounts: [], route: null,
  list: null, detail: null, offset: 0, replyTo: null, refreshTimer: null, pending: { journal: false, accounts: new Set(), presence: false },
};
const $ = (id) => document.getElementById(id);

// el("li", {class: "x", onclick: f}, "text", child) - strings become text nodes
function el(tag, props, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
}

function when(at) {
  if (!at) return "";
  const d = new Date(at * 1000), now = new Date();
  const secs = (now - d) / 1000;
  if (secs < 60) return "just now";
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.toLocaleDateString()} ${time}`;
}

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

class ApiError extends Error {}

async function api(path, body) {
  const opts = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = S.csrf;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 401) { signedOut(); throw new ApiError("not signed in"); }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) throw new ApiError((data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

function signedOut() {
  if (S.events) S.events.close();
  document.body.replaceChildren(el("main", { class: "signed-out" },
    el("h1", {}, "agentmail"),
    el("p", {}, "You are signed out. Open the one-time link that make run printed, or get a new one with"),
    el("pre", {}, "agentmail login-info --json"),
    el("p", {}, "(its web.login_url).")));
}

// --- routes: #/threads, #/thread/KEY, #/box/ACCOUNT/FOLDER, #/box/ACCOUNT/FOLDER/KEY ---
function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "box" && parts.length >= 3) return { kind: "box", account: parts[1], folder: parts[2], key: parts[3] || null };
  if (parts[0] === "thread" && parts[1]) return { kind: "threads", key: parts[1] };
  return { kind: "threads", key: null };
}

function href(route) {
  if (route.kind === "box") return `#/box/${encodeURIComponent(route.account)}/${encodeURIComponent(route.folder)}` + (route.key ? `/${route.key}` : "");
  return route.key ? `#/thread/${route.key}` : "#/threads";
}

async function go() {
  const route = parseRoute();
  const old = S.route;
  S.route = route;
  document.body.classList.remove("nav-open");
  $("menu").setAttribute("aria-expanded", "false");
  document.body.classList.toggle("has-detail", !!route.key);
  markNav();
  const sameList = old && old.kind === route.kind && old.account === route.account && old.folder === route.folder;
  if (!sameList) { S.offset = 0; await loadList(); } else markCurrent();
  await loadDetail();
}

function markNav() {
  const r = S.route;
  for (const a of document.querySelectorAll("#side a")) a.classList.remove("current");
  let id = null;
  if (r.kind === "threads") id = "nav-threads";
  else if (r.account === S.me && r.folder === "INBOX") id = "nav-inbox";
  else if (r.account === S.me && r.folder === "Sent") id = "nav-sent";
  if (id) $(id).classList.add("current");
  else {
    const a = document.querySelector(`#agents a[data-name="${CSS.escape(r.account || "")}"]`);
    if (a) a.classList.add("current");
  }
}

function markCurrent() {
  for (const li of $("list").children) li.classList.toggle("current", li.dataset.key === (S.route.key || ""));
}

// --- the directory (sidebar) ---
async function loadDirectory() {
  const data = await api("/api/directory");
  S.accounts = data.accounts;
  const agents = data.accounts.filter((a) => a.name !== S.me);
  $("agents").replaceChildren(...agents.map((a) => {
    const state = a.online ? (a.state === "working" ? "working" : "idle") : "offline";
    const note = a.online ? (a.state === "working" ? "working" : (a.wakeable ? "idle, wakeable" : "idle")) : "offline";
    return el("li", {},
      el("a", { href: href({ kind: "box", account: a.name, folder: "INBOX" }), "data-name": a.name, title: a.cwd || "" },
        el("span", { class: `dot ${state}`, title: note }),
        el("span", { class: "agent-name" }, a.name),
        el("span", { class: "state" }, note),
        el("span", { class: "count", title: "not yet announced to the agent" }, a.new ? String(a.new) : "")));
  }));
  const mine = data.accounts.find((a) => a.name === S.me);
  $("my-new").textContent = mine && mine.new ? String(mine.new) : "";
  $("c-names").replaceChildren(el("option", { value: "all" }), ...agents.map((a) => el("option", { value: a.name })));
  markNav();
}

// --- lists ---
async function loadList(keepScroll) {
  const r = S.route;
  const pane = $("list-pane");
  const top = pane.scrollTop;
  try {
    if (r.kind === "threads") await loadThreads();
    else await loadFolder();
  } catch (e) {
    if (e instanceof ApiError && e.message === "not signed in") return;
    $("list-head").replaceChildren(el("h2", {}, "Cannot show this"), el("p", { class: "error" }, e.message));
    $("list").replaceChildren();
  }
  markCurrent();
  if (keepScroll) pane.scrollTop = top;
}

async function loadThreads() {
  const data = await api(`/api/threads?limit=${50 + S.offset}`);
  $("list-head").replaceChildren(el("h2", {}, "Conversations"),
    el("p", { class: "note" }, `${data.total} in all, across every agent`));
  if (!data.threads.length) {
    $("list").replaceChildren(el("li", { class: "empty" }, "No postcards yet. Agents' mail shows up here as it is sent."));
  } else {
    $("list").replaceChildren(...data.threads.map(threadRow));
  }
  $("more").hidden = data.threads.length >= data.total;
}

function threadRow(t) {
  return el("li", { class: "thread", "data-key": t.key },
    el("a", { href: href({ kind: "threads", key: t.key }) },
      el("span", { class: "row1" }, el("span", {}, `${t.last.from}`), el("span", {}, when(t.last_at))),
      el("span", { class: "title" }, t.title || "(no title)",
        t.urgent ? el("span", { class: "badge urgent" }, "urgent") : null,
        t.count > 1 ? el("span", { class: "badge quiet" }, String(t.count)) : null,
        t.read ? el("span", { class: "badge read", title: "postcards with a read receipt" }, `${t.read} read`) : null,
        t.done ? el("span", { class: "badge done" }, "done") : null),
      el("span", { class: "people" }, t.people.join(", "))));
}

async function loadFolder() {
  const r = S.route;
  const data = await api(`/api/accounts/${encodeURIComponent(r.account)}/folders/${encodeURIComponent(r.folder)}?limit=${50 + S.offset}`);
  const mine = r.account === S.me;
  $("list-head").replaceChildren(
    el("h2", {}, mine ? "My mailbox" : r.account),
    el("div", { class: "tabs" }, ...data.folders.map((f) =>
      el("a", { href: href({ kind: "box", account: r.account, folder: f }), class: f === r.folder ? "current" : null }, f))),
    ...(mine ? [] : [el("p", { class: "note" }, "Read-only: looking here never marks the agent's mail read.")]));
  if (!data.items.length) $("list").replaceChildren(el("li", { class: "empty" }, "Nothing here."));
  else $("list").replaceChildren(...data.items.map((m) => itemRow(r, m)));
  $("more").hidden = data.items.length < 50 + S.offset;
}

function itemRow(r, m) {
  const who = r.folder === "Sent" ? `to ${m.to.join(", ")}` : m.from;
  const receipts = m.receipts || [];
  return el("li", { class: `item${mine(r) && !m.seen ? " unseen" : ""}`, "data-key": m.key },
    el("a", { href: href({ kind: "box", account: r.account, folder: r.folder, key: m.key }) },
      el("span", { class: "row1" }, el("span", {}, who), el("span", {}, when(m.delivered_at))),
      el("span", { class: "title" }, m.title || "(no title)",
        m.urgent ? el("span", { class: "badge urgent" }, "urgent") : null,
        receipts.length ? el("span", { class: "badge read" }, `read by ${receipts.map((x) => x.reader).join(", ")}`) : null)));
}

function mine(r) { return r.account === S.me; }

// --- details ---
async function loadDetail() {
  const r = S.route;
  if (!r.key) {
    $("detail").replaceChildren(el("p", { class: "empty" }, r.kind === "threads" ? "Pick a conversation to read it." : "Pick a postcard to read it."));
    return;
  }
  try {
    if (r.kind === "threads") await showThread(r.key);
    else await showMessage(r);
  } catch (e) {
    if (e instanceof ApiError && e.message === "not signed in") return;
    $("detail").replaceChildren(el("p", { class: "error" }, e.message));
  }
}

function receiptLine(m) {
  const rs = m.receipts || [];
  if (rs.length) {
    return el("p", { class: "receipts read" }, "Read by " + rs.map((x) => `${x.reader} (${when(x.at)}${x.disposition && x.disposition !== "displayed" ? ", " + x.disposition : ""})`).join(", "));
  }
  return m.receipt_requested ? el("p", { class: "receipts" }, "Receipt asked for; not read yet") : null;
}

function attachmentList(m, base) {
  if (!m.attachments || !m.attachments.length) return null;
  return el("ul", { class: "attachments" }, ...m.attachments.map((a, i) =>
    el("li", {}, el("a", { href: `${base}/attachments/${i}`, download: "" }, a.filename), ` (${a.size} bytes)`)));
}

function card(m, opts) {
  const to = [...(m.to || []), ...(m.cc || []).map((c) => `cc ${c}`)].join(", ");
  return el("section", { class: `card${m.urgent ? " urgent" : ""}`, "data-key": m.key },
    el("header", {}, el("span", { class: "who" }, `${m.from} \u2192 ${to}`), el("span", { class: "when", title: m.date || "" }, when(m.at || m.delivered_at) || m.date || "")),
    opts.title ? el("div", { class: "card-title" }, m.title,
      m.urgent ? el("span", { class: "badge urgent" }, "urgent") : null,
      m.no_wake ? el("span", { class: "badge quiet" }, "no wake") : null,
      m.done ? el("span", { class: "badge done" }, "done") : null) : null,
    el("div", { class: "body" }, m.body || ""),
    attachmentList(m, opts.base),
    receiptLine(m),
    el("div", { class: "actions" }, el("button", { type: "button", class: "reply", onclick: () => openCompose(opts.reply(m)) }, "Reply")));
}

async function showThread(key) {
  const data = await api(`/api/threads/${key}`);
  S.detail = data;
  const replyFor = (m) => ({ reply_to: { journal: m.key }, to: m.from === S.me ? m.to : [m.from], title: m.title });
  $("detail").replaceChildren(el("h2", {}, data.title || "(no title)"),
    ...data.messages.map((m) => card(m, { title: true, base: `/api/journal/${m.key}`, reply: replyFor })));
}

async function showMessage(r) {
  const base = `/api/accounts/${encodeURIComponent(r.account)}/folders/${encodeURIComponent(r.folder)}/messages/${r.key}`;
  const m = await api(base);
  m.at = Date.parse(m.date || "") / 1000 || null;
  const replyFor = (x) => ({ reply_to: { account: r.account, folder: r.folder, key: x.key },
    to: x.from === S.me ? x.to : [x.from], title: x.title });
  const parts = [el("h2", {}, m.title || "(no title)")];
  if (m.receipt_offer) {
    const offer = el("div", { class: "offer", id: "receipt-offer" },
      el("span", {}, `${m.from} asked for a read receipt.`),
      el("button", { type: "button", id: "send-receipt", class: "primary", onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          const res = await api(`${base}/receipt`, {});
          offer.replaceChildren(el("span", {}, res.sent ? "Receipt sent." : "No receipt was due (already sent)."));
        } catch (e) { offer.replaceChildren(el("span", { class: "error" }, e.message)); }
      } }, "Send receipt"),
      el("button", { type: "button", onclick: () => offer.remove() }, "Not now"));
    parts.push(offer);
  }
  parts.push(card(m, { title: false, base, reply: replyFor }));
  if (m.thread) parts.push(el("p", {}, el("a", { href: href({ kind: "threads", key: m.thread }) }, "Show the whole conversation")));
  $("detail").replaceChildren(...parts);
  if (mine(r) && r.folder !== "Sent" && !(m.flags || "").includes("S")) {
    try { await api(`${base}/seen`, {}); } catch (e) { /* shown as unread until the next refresh */ }
    const li = document.querySelector(`#list li[data-key="${CSS.escape(r.key)}"]`);
    if (li) li.classList.remove("unseen");
  }
}

// --- writing ---
function openCompose(preset) {
  const p = preset || {};
  S.replyTo = p.reply_to || null;
  $("compose-heading").textContent = S.replyTo ? "Reply" : "New postcard";
  $("c-to").value = (p.to || []).join(", ");
  const title = p.title || "";
  $("c-title").value = S.replyTo && title && !/^re:/i.test(title) ? `Re: ${title}`.slice(0, S.limits.title) : title;
  $("c-body").value = "";
  $("c-urgent").checked = false;
  $("c-nowake").checked = false;
  $("c-receipt").checked = true;
  $("c-error").textContent = "";
  $("c-title").maxLength = S.limits.title;
  count();
  $("compose").showModal();
  (S.replyTo ? $("c-body") : $("c-to")).focus();
}

function count() {
  const n = $("c-body").value.replace(/\r\n/g, "\n").replace(/\n+$/, "").length;
  $("c-count").textContent = `${n} / ${S.limits.body}`;
  $("c-count").parentElement.classList.toggle("over", n > S.limits.body);
}

async function submitCompose(ev) {
  ev.preventDefault();
  const send = $("c-send");
  send.disabled = true;
  $("c-error").textContent = "";
  const body = {
    to: $("c-to").value.split(/[,;\s]+/).filter(Boolean), title: $("c-title").value, body: $("c-body").value,
    urgent: $("c-urgent").checked, no_wake: $("c-nowake").checked, receipt: $("c-receipt").checked,
  };
  if (S.replyTo) body.reply_to = S.replyTo;
  try {
    const res = await api("/api/send", body);
    $("compose").close();
    toast(`Sent ${res.id} to ${res.delivered.join(", ")}`);
    scheduleRefresh({ journal: true, accounts: [S.me], presence: false });
  } catch (e) {
    $("c-error").textContent = e.message;
  } finally {
    send.disabled = false;
  }
}

// --- live updates ---
function connect() {
  const live = $("live");
  const es = new EventSource("/api/events");
  S.events = es;
  es.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  es.addEventListener("error", () => { live.textContent = "reconnecting"; live.className = "live off"; });
  es.addEventListener("hello", () => { live.textContent = "live"; live.className = "live on"; });
  es.addEventListener("change", (ev) => { try { scheduleRefresh(JSON.parse(ev.data)); } catch (e) { /* ignored */ } });
  es.addEventListener("signed-out", () => signedOut());
}

function scheduleRefresh(change) {
  const p = S.pending;
  p.journal = p.journal || change.journal;
  p.presence = p.presence || change.presence;
  for (const a of change.accounts || []) p.accounts.add(a);
  if (S.refreshTimer) return;
  S.refreshTimer = setTimeout(refresh, 80);
}

async function refresh() {
  S.refreshTimer = null;
  const p = S.pending;
  S.pending = { journal: false, accounts: new Set(), presence: false };
  const r = S.route;
  const tasks = [];
  if (p.presence || p.accounts.size) tasks.push(loadDirectory().catch(() => {}));
  const listChanged = r.kind === "threads" ? p.journal : p.accounts.has(r.account);
  if (listChanged) {
    tasks.push(loadList(true));
    if (r.key && r.kind === "threads") tasks.push(loadDetail());
  }
  await Promise.all(tasks);
}

// --- start ---
async function start() {
  let me;
  try { me = await api("/api/session"); } catch (e) { return; }
  S.csrf = me.csrf;
  S.me = me.account;
  S.limits = me.limits;
  $("menu").addEventListener("click", () => {
    const open = document.body.classList.toggle("nav-open");
    $("menu").setAttribute("aria-expanded", String(open));
  });
  $("back").addEventListener("click", () => { location.hash = href({ ...S.route, key: null }); });
  $("more").addEventListener("click", () => { S.offset += 50; loadList(true); });
  $("compose-open").addEventListener("click", () => openCompose(null));
  $("c-cancel").addEventListener("click", () => $("compose").close());
  $("compose-form").addEventListener("submit", submitCompose);
  $("c-body").addEventListener("input", count);
  window.addEventListener("hashchange", go);
  connect();
  await loadDirectory().catch(() => {});
  await go();
  document.body.dataset.ready = "1";
  performance.mark("agentmail:ready");  // the first list is on screen (bench/web_bench.py reads this)
}

document.addEventListener("DOMContentLoaded", start);
