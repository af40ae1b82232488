/* TopicTensor explorer: a single page over the service's own JSON API (no framework, nothing
   fetched from anywhere but this server). Views live in the URL hash so they can be bookmarked:
     #explore?q=apple,iphone:-1&top=60&lang=en&min_followers=1000&max_followers=&min_posts=
     #lookalikes/<blogger_id>?q=...      (the theme and filters ride along for the way back;
                                          the id may be an @username)
     #topics                             the topic tree and the map of tags
     #topic/<id>                         one topic: its tags and its top bloggers
     #shortlist                          the bloggers starred in this browser (localStorage)
   Filters, exclusions, the relevance cut-off and the ranking weights (lambda, phi, tau) are URL keys
   named as the API's parameters; sort, order and page choose the view of the result set.
   The page paints from static HTML first; every fetch starts after that and fills its panel. */
"use strict";
(() => {
  // ---------------------------------------------------------------------------------------------
  // small helpers
  // ---------------------------------------------------------------------------------------------
  const $ = (sel, root = document) => root.querySelector(sel);

  /** Build an element: h("a", {href: "#", class: "x", onclick: fn}, "text", child, ...). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  /** A small SVG element (createElementNS; attributes only). */
  function s(tag, attrs, ...children) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    for (const child of children) el.append(child instanceof Node ? child : String(child));
    return el;
  }

  const fmtInt = (n) => Math.round(n).toLocaleString("en-US");
  function fmtCompact(n) {
    if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + "M";
    if (n >= 1e4) return Math.round(n / 1e3) + "k";
    if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
    return String(Math.round(n));
  }
  const fmtWeight = (w) => String(Math.round(w * 1000) / 1000);

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  // ---------------------------------------------------------------------------------------------
  // the API
  // ---------------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, detail) { super(detail); this.status = status; }
  }

  let servedVersion = null;
  const caches = { topicDetail: new Map(), topics: null, map: null, facets: null };

  /** GET a JSON endpoint; non-2xx raises ApiError with the server's "detail" message. */
  async function api(path, params = {}, signal = undefined) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== "") query.set(key, value);
    }
    const url = path + (query.toString() ? "?" + query : "");
    const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (!response.ok) {
      let detail = body && body.detail;
      if (Array.isArray(detail)) detail = detail.map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; ");
      throw new ApiError(response.status, detail || `${response.status} ${response.statusText}`);
    }
    noteVersion(body && body.version);
    return body;
  }

  /** A new model version was promoted and the server swapped it in: drop what we cached. */
  function noteVersion(version) {
    if (!version || version === servedVersion) return;
    if (servedVersion !== null) {
      caches.topicDetail.clear();
      caches.topics = caches.map = caches.facets = null;
      loadModelInfo();
    }
    servedVersion = version;
  }

  /** One in-flight request per panel: a newer one aborts the older, and only the newest renders. */
  function channel() {
    let controller = null;
    return (fn) => {
      if (controller) controller.abort();
      controller = new AbortController();
      const mine = controller;
      return fn(mine.signal).then(
        (value) => (mine.signal.aborted ? new Promise(() => {}) : value),
        (error) => { if (mine.signal.aborted || error.name === "AbortError") return new Promise(() => {}); throw error; });
    };
  }

  // ---------------------------------------------------------------------------------------------
  // the theme query: text <-> items (chips)
  // ---------------------------------------------------------------------------------------------
  /** Split "apple, iphone:-1" like the server does (topictensor.search.themes.parse_query). */
  function parseQuery(text) {
    const items = [];
    for (const part of (text || "").split(",")) {
      const raw = part.trim();
      if (!raw) continue;
      let tag = raw, weight = 1, valid = true;
      const colon = raw.lastIndexOf(":");
      if (colon >= 0) {
        tag = raw.slice(0, colon).trim();
        const weightText = raw.slice(colon + 1).trim();
        weight = Number(weightText);
        valid = weightText !== "" && Number.isFinite(weight) && tag !== "";
      }
      items.push({ raw, tag: tag.replace(/^#+/, ""), weight: valid ? weight : NaN, valid });
    }
    return items;
  }

  function formatQuery(items) {
    return items.map((it) => (!it.valid ? it.raw : it.weight === 1 ? it.tag : `${it.tag}:${fmtWeight(it.weight)}`)).join(", ");
  }

  // ---------------------------------------------------------------------------------------------
  // URL hash state
  // ---------------------------------------------------------------------------------------------
  const VIEWS = ["explore", "lookalikes", "topics", "topic", "shortlist"];
  // URL keys passed to the API as they are (filters, exclusions, cut-off, ranking weights).
  const FILTER_KEYS = ["lang", "min_followers", "max_followers", "min_posts", "min_engagement", "max_engagement",
                       "min_relevance", "relative_relevance", "exclude", "exclude_tags", "lambda", "phi", "tau"];
  const VIEW_KEYS = ["sort", "order", "page"];  // the view of the blogger result set
  const DEFAULT_TOP = 60;
  const RESULT_DEPTH = 500, PAGE_SIZE = 50, EXPLAIN_TAGS = 3;
  let state = { view: "explore", arg: null, q: "", top: DEFAULT_TOP, filters: {}, table: {} };

  function parseHash() {
    const raw = location.hash.replace(/^#/, "");
    const cut = raw.indexOf("?");
    const path = cut >= 0 ? raw.slice(0, cut) : raw;
    const params = new URLSearchParams(cut >= 0 ? raw.slice(cut + 1) : "");
    const parts = path.split("/").filter(Boolean);
    const view = VIEWS.includes(parts[0]) ? parts[0] : "explore";
    const filters = {}, table = {};
    for (const key of FILTER_KEYS) if (params.get(key)) filters[key] = params.get(key);
    for (const key of VIEW_KEYS) if (params.get(key)) table[key] = params.get(key);
    const top = Number(params.get("top"));
    return { view, arg: parts[1] ? decodeURIComponent(parts[1]) : null, q: params.get("q") || "",
             top: Number.isInteger(top) && top > 0 ? top : DEFAULT_TOP, filters, table };
  }

  /** Readable hashes: commas, colons and minus signs stay as typed. */
  const encodeValue = (v) => encodeURIComponent(v).replace(/%2C/gi, ",").replace(/%3A/gi, ":").replace(/%20/g, "+");

  function buildHash(next) {
    const pairs = [];
    if (next.q) pairs.push(["q", next.q]);
    if (next.top && next.top !== DEFAULT_TOP) pairs.push(["top", next.top]);
    for (const key of FILTER_KEYS) if (next.filters && next.filters[key]) pairs.push([key, next.filters[key]]);
    for (const key of VIEW_KEYS) if (next.table && next.table[key]) pairs.push([key, next.table[key]]);
    const path = next.view + (next.arg !== null && next.arg !== undefined ? "/" + encodeURIComponent(next.arg).replace(/^%40/, "@") : "");
    return "#" + path + (pairs.length ? "?" + pairs.map(([k, v]) => `${k}=${encodeValue(String(v))}`).join("&") : "");
  }

  /** A link to another view: the theme and filters ride along; the table's sort and page do not. */
  function hrefFor(patch) { return buildHash({ ...state, arg: null, table: {}, ...patch }); }

  function navigate(patch) {
    const hash = hrefFor(patch);
    if (hash === location.hash) route(); else location.hash = hash;
  }

  // ---------------------------------------------------------------------------------------------
  // colours and the tag cloud
  // ---------------------------------------------------------------------------------------------
  const VIRIDIS = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884",
                   "#44bf70", "#7ad151", "#bddf26", "#fde725"];

  function mix(a, b, t) {
    const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
    const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
    return "#" + pa.map((v, i) => Math.round(v + (pb[i] - v) * t).toString(16).padStart(2, "0")).join("");
  }

  function viridis(t) {
    const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
    return mix(VIRIDIS[i], VIRIDIS[i + 1], x - i);
  }

  /** Relevance 0..1 -> colour on the dark cloud: dim blue (weak) to bright yellow (strong). */
  const scaleColour = (t) => viridis(0.22 + 0.78 * t);

  /** Topic colours exactly as the topics report draws them (golden-angle hues, HLS 0.45 / 0.65). */
  function topicColour(id) {
    if (id < 0) return "#c8c8c8";
    const hue = (id * 0.618034) % 1, light = 0.45, sat = 0.65;
    const m2 = light <= 0.5 ? light * (1 + sat) : light + sat - light * sat, m1 = 2 * light - m2;
    const v = (hh) => {
      hh = ((hh % 1) + 1) % 1;
      if (hh < 1 / 6) return m1 + (m2 - m1) * hh * 6;
      if (hh < 0.5) return m2;
      if (hh < 2 / 3) return m1 + (m2 - m1) * (2 / 3 - hh) * 6;
      return m1;
    };
    return "#" + [v(hue + 1 / 3), v(hue), v(hue - 1 / 3)].map((c) => Math.floor(c * 255).toString(16).padStart(2, "0")).join("");
  }

  const MIN_FONT = 12, MAX_FONT = 40;

  /**
   * Draw tags as a cloud: font size by popularity (log of uses), colour by `value` (relevance or
   * strength) on a sequential scale, and a legend for both. `onPick(tag, event)` on click.
   */
  function renderCloud(box, legendBox, tags, { valueName, onPick, query = "" }) {
    box.classList.remove("loading");
    box.dataset.query = query;
    if (!tags.length) {
      box.replaceChildren(h("span", { class: "cloud-empty" }, "No tags."));
      legendBox.replaceChildren();
      return;
    }
    const logs = tags.map((t) => Math.log(Math.max(1, t.count)));
    const lmin = Math.min(...logs), lmax = Math.max(...logs);
    const values = tags.map((t) => t.value);
    const vmin = Math.min(...values), vmax = Math.max(...values);
    const size = (count) => (lmax > lmin ? MIN_FONT + (MAX_FONT - MIN_FONT) * (Math.log(Math.max(1, count)) - lmin) / (lmax - lmin)
                                          : (MIN_FONT + MAX_FONT) / 2);
    const colour = (value) => scaleColour(vmax > vmin ? (value - vmin) / (vmax - vmin) : 1);
    box.replaceChildren(...tags.map((t) => h("a", {
      class: "cloud-tag" + (t.soft ? " soft" : ""), href: "#", "data-tag": t.tag,
      "data-value": t.value.toFixed(4), "data-count": t.count,
      style: { fontSize: size(t.count).toFixed(1) + "px", color: colour(t.value) },
      title: `#${t.tag}: ${valueName} ${t.value.toFixed(3)}, ${fmtInt(t.count)} uses${t.soft ? " (soft member)" : ""}`,
      onclick: (event) => { event.preventDefault(); onPick(t.tag, event); },
    }, t.tag)));

    const counts = tags.map((t) => t.count).sort((a, b) => a - b);
    const samples = [...new Set([counts[0], counts[Math.floor(counts.length / 2)], counts[counts.length - 1]])];
    const stops = Array.from({ length: 9 }, (_, i) => scaleColour(i / 8)).join(", ");
    legendBox.replaceChildren(
      h("div", { class: "part" }, h("span", {}, "Size: popularity (uses in the corpus, log scale)"),
        h("div", { class: "sizes" }, ...samples.map((c) => h("span", { style: { fontSize: size(c).toFixed(1) + "px" } },
          "tag", h("span", {}, fmtCompact(c)))))),
      h("div", { class: "part" }, h("span", {}, `Colour: ${valueName}`),
        h("div", { class: "bar", style: { background: `linear-gradient(to right, ${stops})` } }),
        h("div", { class: "ends" }, h("span", {}, vmin.toFixed(2)), h("span", {}, vmax.toFixed(2)))));
  }

  // ---------------------------------------------------------------------------------------------
  // bloggers table (explore, lookalikes and topic views)
  // ---------------------------------------------------------------------------------------------
  // Columns the server sorts the whole result set by (API `sort`); the others are not sortable.
  const COLUMNS = [
    { key: "rank", label: "#", num: true },
    { key: "star", label: "", title: "Shortlist (kept in this browser)" },
    { key: "username", label: "Blogger" },
    { key: "lang", label: "Lang" },
    { key: "followers", label: "Followers", num: true, sort: "followers" },
    { key: "likes", label: "Likes", num: true, title: "Mean likes per post" },
    { key: "engagement", label: "ER", num: true, sort: "engagement", title: "Engagement rate: mean likes per post / followers" },
    { key: "posts", label: "Posts", num: true },
    { key: "similarity", label: "Relevance", num: true, sort: "relevance", title: "Cosine of the blogger to the theme" },
    { key: "score", label: "Score", num: true, sort: "score", title: "relevance / (L(likes)^λ · L(followers)^φ · L(tags)^τ)" },
    { key: "why", label: "Why", title: "Their tags contributing most to the relevance (share of it)" },
    { key: "more", label: "" },
  ];

  const fmtRate = (r) => (r === null || r === undefined ? "–" : (100 * r).toFixed(r >= 0.1 ? 1 : 2) + "%");

  /** The explanation of one hit: its top tags with their share of the relevance. */
  function whyCell(r) {
    if (!r.why) return h("td", { class: "why" });
    const other = `other tags: ${(100 * r.why.other_share).toFixed(0)}%`;
    return h("td", { class: "why", title: other },
      ...r.why.tags.map((t) => h("span", { class: "why-tag" + (t.contribution < 0 ? " negative" : ""), "data-tag": t.tag,
                                            title: `#${t.tag}: ${t.contribution.toFixed(3)} of ${r.similarity.toFixed(3)} (weight ${t.weight.toFixed(3)} × cosine ${t.cosine.toFixed(3)})` },
        "#" + t.tag, h("span", { class: "share" }, (100 * t.share).toFixed(0) + "%"))));
  }

  /**
   * A page of a blogger result set. `body`: the API's answer (bloggers, total, offset, sort, order).
   * `opts.onView(patch)`: change sort/order/page (server side); `opts.onExclude(blogger)`: leave a
   * blogger out of the query. Without onView the headers are plain and there is no pager.
   */
  function renderBloggerTable(box, body, query = "", opts = {}) {
    const rows = body.bloggers || [];
    box.dataset.query = query;
    box.dataset.total = String(body.total ?? rows.length);
    if (!rows.length) {
      box.replaceChildren(h("p", { class: "empty" }, "No blogger matches: loosen the filters, the exclusions or the relevance cut-off."));
      return;
    }
    const offset = body.offset || 0, sortKey = body.sort || "score", order = body.order || "desc";
    const maxSim = Math.max(...rows.map((r) => Math.abs(r.similarity)), 1e-9);
    const columns = COLUMNS.filter((c) => c.key !== "why" || rows.some((r) => r.why));
    const head = h("tr", {}, ...columns.map((c) => {
      const sortable = opts.onView && c.sort;
      const sorted = sortable && c.sort === sortKey;
      return h("th", {
        class: [c.num ? "num" : "", sorted ? "sorted" : "", sorted && order === "asc" ? "asc" : ""].join(" ").trim() || null,
        "data-sort": sortable ? c.sort : null, title: c.title || null,
        onclick: sortable ? () => opts.onView({ sort: c.sort === "score" ? "" : c.sort,
                                                 order: sorted && order === "desc" ? "asc" : "", page: "" }) : null,
      }, c.label);
    }));
    const lines = rows.map((r, i) => {
      const starred = shortlist.has(r.blogger_id);
      const cells = {
        rank: h("td", { class: "num" }, offset + i + 1),
        star: h("td", {}, h("button", { type: "button", class: "star" + (starred ? " on" : ""), "aria-pressed": starred ? "true" : "false",
                                        title: starred ? "Remove from the shortlist" : "Add to the shortlist",
                                        onclick: (event) => { toggleShortlist(r, query); const on = shortlist.has(r.blogger_id);
                                          event.currentTarget.classList.toggle("on", on); event.currentTarget.setAttribute("aria-pressed", on ? "true" : "false"); } },
                                   starred ? "★" : "☆")),
        username: h("td", {}, h("a", { class: "user", href: hrefFor({ view: "lookalikes", arg: r.blogger_id }),
                                       title: `${r.blogger_id}: bloggers like this one` }, "@" + r.username),
                    h("a", { class: "profile-link", href: r.profile_url, target: "_blank", rel: "noopener noreferrer",
                             title: `@${r.username} on Instagram` }, "↗")),
        lang: h("td", {}, r.lang),
        followers: h("td", { class: "num", title: fmtInt(r.followers) }, fmtCompact(r.followers)),
        likes: h("td", { class: "num" }, fmtCompact(r.likes)),
        engagement: h("td", { class: "num" }, fmtRate(r.engagement)),
        posts: h("td", { class: "num" }, fmtInt(r.posts)),
        similarity: h("td", { class: "num" }, h("span", { class: "relbar", style: { width: Math.max(2, 18 * Math.abs(r.similarity) / maxSim) + "px" } }),
          r.similarity.toFixed(3)),
        score: h("td", { class: "num" }, r.score.toFixed(3)),
        why: whyCell(r),
        more: h("td", { class: "actions-cell" },
          h("a", { class: "lookalikes-link", href: hrefFor({ view: "lookalikes", arg: r.blogger_id }), title: `Bloggers like @${r.username}` }, "lookalikes"),
          opts.onExclude ? h("button", { type: "button", class: "link exclude-one", title: `Leave @${r.username} out of this query`,
                                         onclick: () => opts.onExclude(r) }, "exclude") : null),
      };
      return h("tr", { "data-blogger-id": r.blogger_id, "data-username": r.username, "data-lang": r.lang,
                       "data-followers": r.followers, "data-posts": r.posts, "data-engagement": r.engagement ?? "",
                       "data-similarity": r.similarity, "data-score": r.score },
        ...columns.map((c) => cells[c.key]));
    });
    const parts = [h("div", { class: "table-wrap" }, h("table", { class: "data" }, h("thead", {}, head), h("tbody", {}, ...lines)))];
    const total = body.total ?? rows.length, size = body.limit || rows.length;
    if (opts.onView && total > size) {
      const page = Math.floor(offset / size) + 1, pages = Math.ceil(total / size);
      parts.push(h("div", { class: "pager" },
        h("button", { type: "button", class: "pager-prev", disabled: page <= 1, onclick: () => opts.onView({ page: page - 1 > 1 ? String(page - 1) : "" }) }, "‹ previous"),
        h("span", { class: "pager-info" }, `rows ${offset + 1}–${offset + rows.length} of ${fmtInt(total)} · page ${page} of ${pages}`),
        h("button", { type: "button", class: "pager-next", disabled: page >= pages, onclick: () => opts.onView({ page: String(page + 1) }) }, "next ›")));
    }
    box.replaceChildren(...parts);
  }

  /** API parameters of a blogger query for the current state: filters, the view, explanations. */
  function bloggerParams() {
    const page = Math.max(1, Number(state.table.page) || 1);
    return { ...currentFilters(), top: RESULT_DEPTH, limit: PAGE_SIZE, page, explain: EXPLAIN_TAGS,
             sort: state.table.sort || null, order: state.table.order || null };
  }

  const changeView = (patch) => navigate({ view: state.view, arg: state.arg, table: { ...state.table, ...patch } });

  function excludeBlogger(r) {
    const list = (state.filters.exclude || "").split(",").map((x) => x.trim()).filter(Boolean);
    if (!list.includes("@" + r.username)) list.push("@" + r.username);
    navigate({ view: state.view, arg: state.arg, filters: { ...state.filters, exclude: list.join(",") }, table: {} });
  }

  /** The export link of the current query's whole result set (same filters and sort). */
  function exportHref(path, extra = {}) {
    const query = new URLSearchParams();
    const params = { ...currentFilters(), top: RESULT_DEPTH, explain: EXPLAIN_TAGS, sort: state.table.sort, order: state.table.order, ...extra };
    for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined && value !== "") query.set(key, value);
    return path + "?" + query;
  }

  // ---------------------------------------------------------------------------------------------
  // the shortlist: starred bloggers kept in this browser (localStorage), exported as CSV
  // ---------------------------------------------------------------------------------------------
  const SHORTLIST_KEY = "topictensor.shortlist.v1";
  const SHORTLIST_FIELDS = ["blogger_id", "username", "profile_url", "lang", "followers", "likes", "engagement", "posts",
                            "similarity", "score", "query", "added"];

  const shortlist = {
    read() {
      try { const list = JSON.parse(localStorage.getItem(SHORTLIST_KEY) || "[]"); return Array.isArray(list) ? list : []; }
      catch (_) { return []; }
    },
    write(list) { localStorage.setItem(SHORTLIST_KEY, JSON.stringify(list)); updateShortlistCount(); },
    has(id) { return this.read().some((e) => e.blogger_id === id); },
  };

  function toggleShortlist(r, query) {
    const list = shortlist.read();
    const at = list.findIndex((e) => e.blogger_id === r.blogger_id);
    if (at >= 0) list.splice(at, 1);
    else list.push({ blogger_id: r.blogger_id, username: r.username, profile_url: r.profile_url, lang: r.lang,
                     followers: r.followers, likes: r.likes, engagement: r.engagement, posts: r.posts,
                     similarity: r.similarity, score: r.score, query, added: new Date().toISOString() });
    shortlist.write(list);
  }

  function updateShortlistCount() {
    const n = shortlist.read().length;
    $("#shortlist-count").textContent = n ? String(n) : "";
  }

  const csvCell = (v) => {
    const text = v === null || v === undefined ? "" : String(v);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };

  function shortlistCsv(list) {
    return [SHORTLIST_FIELDS.join(","), ...list.map((e) => SHORTLIST_FIELDS.map((f) => csvCell(e[f])).join(","))].join("\n") + "\n";
  }

  function loadShortlist() {
    const list = shortlist.read();
    $("#shortlist-meta").textContent = list.length ? `${list.length} blogger${list.length > 1 ? "s" : ""}, kept in this browser` : "";
    $("#shortlist-download").disabled = !list.length;
    $("#shortlist-clear").disabled = !list.length;
    const box = $("#shortlist");
    if (!list.length) {
      box.replaceChildren(h("p", { class: "empty" }, "Nothing shortlisted yet: star (☆) bloggers in any table."));
      return;
    }
    box.replaceChildren(h("div", { class: "table-wrap" }, h("table", { class: "data" },
      h("thead", {}, h("tr", {}, ...["Blogger", "Lang", "Followers", "ER", "Relevance", "Found with", ""].map((l, i) => h("th", { class: [2, 3, 4].includes(i) ? "num" : null }, l)))),
      h("tbody", {}, ...list.map((e) => h("tr", { "data-blogger-id": e.blogger_id },
        h("td", {}, h("a", { class: "user", href: hrefFor({ view: "lookalikes", arg: e.blogger_id, q: "" }) }, "@" + e.username),
          h("a", { class: "profile-link", href: e.profile_url, target: "_blank", rel: "noopener noreferrer" }, "↗")),
        h("td", {}, e.lang), h("td", { class: "num" }, fmtCompact(e.followers)), h("td", { class: "num" }, fmtRate(e.engagement)),
        h("td", { class: "num" }, Number(e.similarity).toFixed(3)), h("td", { class: "meta" }, e.query),
        h("td", {}, h("button", { type: "button", class: "link shortlist-remove", onclick: () => { toggleShortlist(e, e.query); loadShortlist(); } }, "remove"))))))));
  }

  $("#shortlist-download").addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([shortlistCsv(shortlist.read())], { type: "text/csv" }));
    const link = h("a", { href: url, download: "shortlist.csv" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  $("#shortlist-clear").addEventListener("click", () => { shortlist.write([]); loadShortlist(); });
  window.addEventListener("storage", (event) => { if (event.key === SHORTLIST_KEY) { updateShortlistCount(); if (state.view === "shortlist") loadShortlist(); } });

  function showError(box, error) {
    box.replaceChildren(h("p", { class: "notice error" }, error.message || String(error)));
  }

  const loadingText = (text = "Loading…") => h("p", { class: "loading-text" }, text);

  // ---------------------------------------------------------------------------------------------
  // filters (one form, moved into the visible view)
  // ---------------------------------------------------------------------------------------------
  const filtersForm = $("#filters");

  function currentFilters() { return { ...state.filters }; }

  function syncFilterInputs() {
    const f = state.filters;
    $("#min-followers").value = f.min_followers || "";
    $("#max-followers").value = f.max_followers || "";
    $("#min-posts").value = f.min_posts || "";
    $("#min-engagement").value = f.min_engagement ? String(Math.round(Number(f.min_engagement) * 1e6) / 1e4) : "";
    $("#max-engagement").value = f.max_engagement ? String(Math.round(Number(f.max_engagement) * 1e6) / 1e4) : "";
    $("#relative-relevance").value = f.relative_relevance ? String(Math.round(Number(f.relative_relevance) * 1e4) / 100) : "";
    $("#min-relevance").value = f.min_relevance || "";
    $("#exclude").value = f.exclude || "";
    $("#exclude-tags").value = f.exclude_tags || "";
    for (const key of ["lambda", "phi", "tau"]) $("#w-" + key).value = f[key] || "";
    const chosen = new Set((f.lang || "").split(",").filter(Boolean));
    for (const box of filtersForm.querySelectorAll("input[name=lang]")) {
      box.checked = chosen.has(box.value);
      box.parentElement.classList.toggle("on", box.checked);
    }
  }

  function readFilterInputs() {
    const f = {};
    const langs = [...filtersForm.querySelectorAll("input[name=lang]:checked")].map((b) => b.value);
    if (langs.length) f.lang = langs.join(",");
    for (const [key, id] of [["min_followers", "#min-followers"], ["max_followers", "#max-followers"], ["min_posts", "#min-posts"]]) {
      const value = $(id).value.trim();
      if (value !== "" && Number(value) >= 0) f[key] = String(Math.floor(Number(value)));
    }
    // Engagement and the relative cut-off are typed in percent; the URL and the API take shares.
    for (const [key, id] of [["min_engagement", "#min-engagement"], ["max_engagement", "#max-engagement"], ["relative_relevance", "#relative-relevance"]]) {
      const value = $(id).value.trim();
      if (value !== "" && Number.isFinite(Number(value))) f[key] = String(Math.round(Number(value) * 1e4) / 1e6);
    }
    const minRel = $("#min-relevance").value.trim();
    if (minRel !== "" && Number.isFinite(Number(minRel))) f.min_relevance = minRel;
    for (const key of ["lambda", "phi", "tau"]) {
      const value = $("#w-" + key).value.trim();
      if (value !== "" && Number.isFinite(Number(value))) f[key] = value;
    }
    const list = (id) => $(id).value.split(",").map((x) => x.trim()).filter(Boolean).join(",");
    if (list("#exclude")) f.exclude = list("#exclude");
    if (list("#exclude-tags")) f.exclude_tags = list("#exclude-tags");
    return f;
  }

  const applyFilters = () => navigate({ view: state.view, arg: state.arg, filters: readFilterInputs(),
                                        table: { ...state.table, page: "" } });
  const applyFiltersSoon = debounce(applyFilters, 400);

  async function loadFacets() {
    if (!caches.facets) caches.facets = await api("/bloggers/facets");
    const facets = caches.facets;
    $("#lang-options").replaceChildren(...facets.languages.map((l) => h("label", { title: `${fmtInt(l.bloggers)} bloggers` },
      h("input", { type: "checkbox", name: "lang", value: l.lang, onchange: applyFilters }), l.lang)));
    const range = `bloggers have ${fmtInt(facets.followers.min)} to ${fmtInt(facets.followers.max)} followers`;
    for (const id of ["#min-followers", "#max-followers"]) { $(id).placeholder = "any"; $(id).title = range; }
    $("#min-posts").placeholder = "any";
    $("#min-posts").title = `bloggers have ${fmtInt(facets.posts.min)} to ${fmtInt(facets.posts.max)} posts`;
    if (facets.engagement) {
      const e = facets.engagement;
      for (const id of ["#min-engagement", "#max-engagement"]) {
        $(id).placeholder = "any";
        $(id).title = `engagement rates run from ${fmtRate(e.min)} to ${fmtRate(e.max)} (median ${fmtRate(e.median)})`;
      }
    }
    if (facets.ranking) for (const key of ["lambda", "phi", "tau"]) $("#w-" + key).placeholder = String(facets.ranking[key]);
    syncFilterInputs();
  }

  // ---------------------------------------------------------------------------------------------
  // explore view: query box, suggestions, chips, cloud, bloggers
  // ---------------------------------------------------------------------------------------------
  const input = $("#query-input");
  const suggestions = $("#suggestions");
  const chips = $("#chips");
  let unknownTags = new Set();

  function renderChips() {
    const items = parseQuery(input.value);
    chips.replaceChildren(...items.map((it, i) => {
      const negative = it.valid && it.weight < 0;
      const unknown = unknownTags.has(it.tag.toLowerCase());
      return h("span", {
        class: ["chip", negative ? "negative" : "", unknown ? "unknown" : "", it.valid ? "" : "invalid"].join(" ").trim(),
        "data-tag": it.tag, "data-weight": it.valid ? fmtWeight(it.weight) : "",
        title: unknown ? "Not in the model: left out of the theme" : !it.valid ? "Write tag:NUMBER, e.g. iphone:-1" : null,
      },
      h("button", { type: "button", class: "chip-flip", title: "Flip the sign", "aria-label": `Flip the sign of ${it.tag}`,
                    disabled: !it.valid, onclick: () => updateItem(i, { weight: -it.weight }) }, "±"),
      h("span", { class: "chip-tag" }, "#" + it.tag),
      h("input", { class: "chip-weight", type: "number", step: "0.1", value: it.valid ? fmtWeight(it.weight) : "",
                   "aria-label": `Weight of ${it.tag}`, title: "Weight (negative subtracts the meaning)",
                   onchange: (event) => applyWeight(i, event.target),
                   onkeydown: (event) => {  // Enter applies the weight here, it does not submit the text box
                     if (event.key === "Enter") { event.preventDefault(); applyWeight(i, event.target); }
                   } }),
      h("button", { type: "button", class: "chip-remove", title: "Remove", "aria-label": `Remove ${it.tag}`,
                    onclick: () => removeItem(i) }, "×"));
    }));
  }

  function applyWeight(index, field) {
    const w = Number(field.value);
    const items = parseQuery(input.value);
    if (field.value.trim() === "" || !Number.isFinite(w) || !items[index] || items[index].weight === w) return;
    updateItem(index, { weight: w });
  }

  function setQueryText(text) { input.value = text; renderChips(); }

  function updateItem(index, patch) {
    const items = parseQuery(input.value);
    items[index] = { ...items[index], ...patch, valid: true };
    setQueryText(formatQuery(items));
    submitQuery();
  }

  function removeItem(index) {
    const items = parseQuery(input.value);
    items.splice(index, 1);
    setQueryText(formatQuery(items));
    submitQuery();
  }

  /** Add a tag from a cloud to the theme (weight -1 with Shift), or change its weight if present. */
  function addTag(tag, weight) {
    const items = parseQuery(state.view === "explore" ? input.value : "");
    const same = items.findIndex((it) => it.tag.toLowerCase() === tag.toLowerCase());
    if (same >= 0) items[same] = { ...items[same], weight, valid: true };
    else items.push({ raw: tag, tag, weight, valid: true });
    setQueryText(formatQuery(items));
    submitQuery();
  }

  function submitQuery() {
    hideSuggestions();
    const typed = input.value.trim();
    if (/^@[^,\s]+$/.test(typed)) { navigate({ view: "lookalikes", arg: typed, q: state.q }); return; }  // a blogger by @username
    const text = formatQuery(parseQuery(input.value));
    navigate({ view: "explore", q: text });
  }

  // suggestions ------------------------------------------------------------------------------
  const suggestChannel = channel();
  let active = -1;

  function fragmentAtCursor() {
    const value = input.value, pos = input.selectionStart ?? value.length;
    const start = value.lastIndexOf(",", pos - 1) + 1;
    let end = value.indexOf(",", pos);
    if (end < 0) end = value.length;
    return { start, end, text: value.slice(start, end) };
  }

  function hideSuggestions() {
    suggestions.hidden = true;
    input.setAttribute("aria-expanded", "false");
    active = -1;
  }

  function highlight(index) {
    const items = [...suggestions.children];
    active = items.length ? (index + items.length) % items.length : -1;
    items.forEach((li, i) => li.classList.toggle("active", i === active));
  }

  function acceptSuggestion(tag) {
    const { start, end } = fragmentAtCursor();
    const before = input.value.slice(0, start), after = input.value.slice(end);
    const head = (before.trim() ? before.replace(/\s*$/, " ") : "") + tag;
    input.value = head + (after.trim() ? after : ", ");
    const cursor = after.trim() ? head.length : input.value.length;
    input.setSelectionRange(cursor, cursor);
    hideSuggestions();
    renderChips();
    input.focus();
  }

  const suggest = debounce(() => {
    const text = fragmentAtCursor().text.trim();
    if (!text || text.includes(":")) { hideSuggestions(); return; }
    const prefix = text.replace(/^[#\s]+/, "");
    if (!prefix) { hideSuggestions(); return; }
    const present = new Set(parseQuery(input.value).map((it) => it.tag.toLowerCase()));
    suggestChannel((signal) => api("/tags/suggest", { prefix, limit: 8 }, signal)).then((body) => {
      const tags = body.tags.filter((t) => !present.has(t.tag) || t.tag === prefix.toLowerCase());
      if (!tags.length || document.activeElement !== input) { hideSuggestions(); return; }
      suggestions.replaceChildren(...tags.map((t) => h("li", {
        role: "option", "data-tag": t.tag,
        onmousedown: (event) => { event.preventDefault(); acceptSuggestion(t.tag); },
      }, h("span", {}, "#" + t.tag), h("span", { class: "count" }, fmtCompact(t.count) + " uses"))));
      suggestions.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }).catch(hideSuggestions);
  }, 90);

  input.addEventListener("input", () => { renderChips(); suggest(); });
  input.addEventListener("blur", () => setTimeout(hideSuggestions, 120));
  input.addEventListener("keydown", (event) => {
    if (suggestions.hidden) return;
    const items = [...suggestions.children];
    if (event.key === "ArrowDown") { event.preventDefault(); highlight(active + 1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); highlight(active - 1); }
    else if ((event.key === "Enter" && active >= 0) || (event.key === "Tab" && items.length && !event.shiftKey)) {
      event.preventDefault();
      acceptSuggestion(items[Math.max(active, 0)].dataset.tag);
    } else if (event.key === "Escape") { hideSuggestions(); }
  });
  $("#query-form").addEventListener("submit", (event) => { event.preventDefault(); submitQuery(); });
  $("#cloud-top").addEventListener("change", (event) => navigate({ view: "explore", top: Number(event.target.value) }));

  // the two panels -----------------------------------------------------------------------------
  const cloudChannel = channel(), bloggersChannel = channel();
  let cloudShown = "", bloggersShown = "";
  let firstCloud = true;

  function showNotice(text, isError = false) {
    const notice = $("#notice");
    notice.hidden = !text;
    notice.className = "notice" + (isError ? " error" : "");
    notice.textContent = text || "";
  }

  function loadExplore() {
    setQueryText(state.q);
    $("#cloud-top").value = String(state.top);
    if ([...$("#cloud-top").options].every((o) => o.value !== String(state.top))) {
      $("#cloud-top").append(h("option", {}, String(state.top)));
      $("#cloud-top").value = String(state.top);
    }
    const hasQuery = parseQuery(state.q).length > 0;
    $("#welcome").hidden = hasQuery;
    $("#results").hidden = !hasQuery;
    if (!hasQuery) {
      showNotice("");
      loadPopularTags();
      input.focus();
      return;
    }
    const cloud = $("#cloud"), table = $("#bloggers");
    const cloudKey = JSON.stringify([state.q, state.top]);
    if (cloudKey !== cloudShown) {
      cloud.classList.add("loading");
      cloudChannel((signal) => api("/topic", { q: state.q, top: state.top }, signal)).then((body) => {
        cloudShown = cloudKey;
        unknownTags = new Set(body.unknown.map((u) => u.replace(/^#+/, "").toLowerCase()));
        renderChips();
        const unknownText = body.unknown.map((u) => (body.suggestions && body.suggestions[u] ? `${u} (did you mean ${body.suggestions[u].join(", ")}?)` : u));
        showNotice([body.unknown.length ? `Not in the model, left out of the theme: ${unknownText.join(", ")}` : "",
                    ...(body.hints || [])].filter(Boolean).join(" · "));
        renderCloud(cloud, $("#cloud-legend"), body.tags.map((t) => ({ tag: t.tag, count: t.count, value: t.relevance })), {
          valueName: "relevance (cosine to the theme)", query: state.q,
          onPick: (tag, event) => addTag(tag, event.shiftKey ? -1 : 1),
        });
        if (firstCloud) { firstCloud = false; performance.mark("tt-first-cloud"); }
      }).catch((error) => {
        cloudShown = "";
        cloud.classList.remove("loading");
        cloud.dataset.query = state.q;
        cloud.replaceChildren(h("span", { class: "cloud-empty" }, "No topic for this theme."));
        $("#cloud-legend").replaceChildren();
        showNotice(error.message, true);
      });
    }
    const bloggersKey = JSON.stringify([state.q, state.filters, state.table]);
    $("#export-csv").href = exportHref("/bloggers.csv", { q: state.q });
    if (bloggersKey !== bloggersShown) {
      if (!table.firstChild) table.replaceChildren(loadingText());
      const requested = location.hash;
      bloggersChannel((signal) => api("/bloggers", { q: state.q, ...bloggerParams() }, signal)).then((body) => {
        bloggersShown = bloggersKey;
        $("#bloggers-meta").textContent = resultMeta(body);
        renderBloggerTable(table, body, state.q, { onView: changeView, onExclude: excludeBlogger });
        table.dataset.hash = requested;  // which view of the page this table answers (tests wait on it)
      }).catch((error) => { bloggersShown = ""; $("#bloggers-meta").textContent = ""; showError(table, error); table.dataset.query = state.q; });
    }
  }

  /** "500 ranked of 9,001 scored (index) · cut-off 0.512 · 3 excluded (ghost: nobody)". */
  function resultMeta(body) {
    const parts = [`${fmtInt(body.total)} ranked of ${fmtInt(body.candidates)} scored (${body.method})`];
    if (body.min_relevance_applied !== null && body.min_relevance_applied !== undefined) parts.push(`relevance ≥ ${body.min_relevance_applied.toFixed(3)}`);
    if (body.excluded) parts.push(`${fmtInt(body.excluded)} excluded`);
    if (body.unknown_excluded && body.unknown_excluded.length) parts.push(`no such blogger or tag to exclude: ${body.unknown_excluded.join(", ")}`);
    return parts.join(" · ");
  }

  async function loadPopularTags() {
    const box = $("#popular-tags");
    if (box.firstChild) return;
    try {
      const body = await api("/tags/suggest", { prefix: "", limit: 24 });
      box.replaceChildren(...body.tags.map((t) => h("a", { href: hrefFor({ view: "explore", q: t.tag }), title: `${fmtInt(t.count)} uses` }, "#" + t.tag)));
    } catch (error) { showError(box, error); }
  }

  // ---------------------------------------------------------------------------------------------
  // lookalikes view
  // ---------------------------------------------------------------------------------------------
  const profileChannel = channel(), lookalikesChannel = channel();

  function loadLookalikes() {
    const id = state.arg;
    const back = $("#back-to-query");
    back.hidden = !state.q;
    back.href = hrefFor({ view: "explore" });
    $("#profile").replaceChildren(loadingText());
    $("#lookalikes").replaceChildren(loadingText());
    profileChannel((signal) => api(`/bloggers/${encodeURIComponent(id)}`, { top_tags: 40 }, signal)).then((b) => {
      $("#profile").replaceChildren(h("div", { class: "profile", "data-blogger-id": b.blogger_id },
        h("h2", {}, "@" + b.username, b.username !== b.blogger_id ? h("span", { class: "uid" }, b.blogger_id) : null,
          h("a", { class: "profile-link", href: b.profile_url, target: "_blank", rel: "noopener noreferrer", title: "Their Instagram profile" }, "↗")),
        h("div", { class: "facts" },
          h("span", {}, "language ", h("b", {}, b.lang)), h("span", {}, h("b", {}, fmtInt(b.followers)), " followers"),
          h("span", {}, h("b", {}, fmtCompact(b.likes)), " likes / post"), h("span", {}, h("b", {}, fmtRate(b.engagement)), " engagement"),
          h("span", {}, h("b", {}, fmtInt(b.posts)), " posts"),
          h("span", { title: "uses of tags the model knows, over all their posts" }, h("b", {}, fmtInt(b.tags)), " tag uses")),
        h("p", { class: "hint" }, "What their posts are about: the tags nearest to their vector. Click one to explore it.")));
      renderCloud($("#profile-cloud"), $("#profile-legend"), b.about.map((t) => ({ tag: t.tag, count: t.count, value: t.relevance })), {
        valueName: "relevance (cosine to the blogger)", query: id,
        onPick: (tag) => navigate({ view: "explore", q: tag }),
      });
    }).catch((error) => { showError($("#profile"), error); $("#profile-cloud").replaceChildren(); $("#profile-legend").replaceChildren(); });
    $("#lookalikes-export").href = exportHref(`/bloggers/${encodeURIComponent(id)}/lookalikes.csv`);
    const requested = location.hash;
    lookalikesChannel((signal) => api(`/bloggers/${encodeURIComponent(id)}/lookalikes`, bloggerParams(), signal)).then((body) => {
      $("#lookalikes-meta").textContent = `${resultMeta(body)} · never the blogger themself`;
      renderBloggerTable($("#lookalikes"), body, id, { onView: changeView, onExclude: excludeBlogger });
      $("#lookalikes").dataset.hash = requested;
    }).catch((error) => { $("#lookalikes-meta").textContent = ""; showError($("#lookalikes"), error); $("#lookalikes").dataset.query = id; });
  }

  // ---------------------------------------------------------------------------------------------
  // topics view: tree and map
  // ---------------------------------------------------------------------------------------------
  const tooltip = $("#tooltip");
  function showTooltip(event, text) {
    tooltip.textContent = text;
    tooltip.hidden = false;
    tooltip.style.left = event.clientX + 12 + "px";
    tooltip.style.top = event.clientY + 12 + "px";
  }
  const hideTooltip = () => { tooltip.hidden = true; };

  async function loadTopicList() {
    if (!caches.topics) {
      const [tree, list] = await Promise.all([api("/topics/tree"), api("/topics")]);
      caches.topics = { tree, byId: new Map(list.topics.map((t) => [t.topic_id, t])) };
    }
    return caches.topics;
  }

  function focusTopic(id) {
    const map = $("#map");
    map.classList.toggle("focus", id !== null);
    for (const c of map.querySelectorAll("circle.hi")) c.classList.remove("hi");
    if (id !== null) for (const c of map.querySelectorAll(`circle[data-topic="${id}"]`)) c.classList.add("hi");
  }

  async function loadTopics() {
    const treeBox = $("#tree");
    if (!treeBox.firstChild) treeBox.replaceChildren(loadingText());
    loadTopicList().then(({ tree, byId }) => {
      const total = tree.groups.reduce((n, g) => n + g.topics.length, 0);
      $("#tree-meta").textContent = `${tree.groups.length} groups, ${total} topics`;
      treeBox.replaceChildren(...tree.groups.map((g) => h("details", { open: true, "data-group": g.group_id },
        h("summary", {}, g.label, h("span", { class: "meta" }, `${g.topics.length} topics · ${fmtInt(g.size)} tags`)),
        h("ul", {}, ...g.topics.map((t) => {
          const info = byId.get(t.topic_id) || {};
          return h("li", { "data-topic": t.topic_id,
                           onmouseenter: () => focusTopic(t.topic_id), onmouseleave: () => focusTopic(null) },
            h("span", { class: "dot", style: { background: topicColour(t.topic_id) } }),
            h("a", { href: hrefFor({ view: "topic", arg: t.topic_id }) }, t.label),
            ...(info.flags || []).map((f) => h("span", { class: "flag", title: "flagged by the topics stage" }, f)),
            h("span", { class: "meta" }, fmtInt(t.size)));
        })))));
    }).catch((error) => showError(treeBox, error));

    const mapBox = $("#map");
    if (caches.map) { drawMap(mapBox, caches.map); return; }
    mapBox.replaceChildren(h("div", { class: "loading-text" }, "Laying out the map… (once per model version)"));
    try {
      caches.map = await api("/topics/map");
      drawMap(mapBox, caches.map);
    } catch (error) { showError(mapBox, error); }
  }

  function drawMap(box, data) {
    const W = 900, H = 600, PAD = 18;
    const n = data.tags.length;
    $("#map-meta").textContent = `${fmtInt(n)} most used tags · ${data.method}`;
    const logs = data.count.map((c) => Math.log(Math.max(1, c)));
    const lmin = Math.min(...logs), lmax = Math.max(...logs);
    const radius = (i) => 2.2 + (lmax > lmin ? 3.3 * (logs[i] - lmin) / (lmax - lmin) : 1.5);
    const order = [...Array(n).keys()].sort((a, b) => (data.topic[a] >= 0) - (data.topic[b] >= 0));  // noise below
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Map of the tags coloured by topic" });
    const dots = s("g", {});
    for (const i of order) {
      dots.append(s("circle", { cx: (PAD + data.x[i] * (W - 2 * PAD)).toFixed(1), cy: (PAD + data.y[i] * (H - 2 * PAD)).toFixed(1),
        r: radius(i).toFixed(1), fill: topicColour(data.topic[i]), "fill-opacity": data.topic[i] >= 0 ? 0.85 : 0.6,
        "data-i": i, "data-tag": data.tags[i], "data-topic": data.topic[i] }));
    }
    svg.append(dots);
    const labels = s("g", {});
    for (const t of data.topics) {
      const x = PAD + t.x * (W - 2 * PAD), y = PAD + t.y * (H - 2 * PAD);
      labels.append(s("text", { x: x.toFixed(1), y: y.toFixed(1), "text-anchor": "middle", "data-topic": t.topic_id }, t.short));
    }
    svg.append(labels);
    const topicLabel = new Map(data.topics.map((t) => [t.topic_id, t.label]));
    svg.addEventListener("mousemove", (event) => {
      const i = event.target.dataset ? event.target.dataset.i : undefined;
      if (i === undefined) { hideTooltip(); return; }
      const topic = data.topic[i];
      showTooltip(event, `#${data.tags[i]} · ${topic >= 0 ? "topic " + topic + ": " + topicLabel.get(topic) : "no topic"}`);
    });
    svg.addEventListener("mouseleave", hideTooltip);
    svg.addEventListener("click", (event) => {
      const i = event.target.dataset ? event.target.dataset.i : undefined;
      if (i === undefined) return;
      hideTooltip();
      if (data.topic[i] >= 0) navigate({ view: "topic", arg: data.topic[i] });
      else navigate({ view: "explore", q: data.tags[i] });
    });
    box.replaceChildren(svg);
  }

  // ---------------------------------------------------------------------------------------------
  // one topic
  // ---------------------------------------------------------------------------------------------
  const topicChannel = channel(), topicBloggersChannel = channel();
  const THEME_TAGS = 10;

  function loadTopic() {
    const id = Number(state.arg);
    const head = $("#topic-head"), cloud = $("#topic-cloud"), table = $("#topic-bloggers");
    if (head.dataset.topic !== String(id)) {
      head.replaceChildren(loadingText());
      cloud.replaceChildren();
      table.replaceChildren(loadingText());
    }
    const cached = caches.topicDetail.get(id);
    const detail = cached ? Promise.resolve(cached) : topicChannel((signal) => api(`/topics/${id}`, { top: 80 }, signal));
    detail.then((t) => {
      caches.topicDetail.set(id, t);
      head.dataset.topic = String(id);
      // Strongest first; among equals (HDBSCAN gives many members strength 1) the most used first.
      const ordered = [...t.tags].sort((a, b) => b.strength - a.strength || b.count - a.count || (a.tag < b.tag ? -1 : 1));
      // The theme for bloggers: the topic's label (its most central tags), then its strongest hard members.
      const known = new Set(t.tags.map((m) => m.tag));
      const theme = [...new Set([...t.label.split(", ").filter((tag) => known.has(tag)),
                                 ...ordered.filter((m) => !m.soft).map((m) => m.tag)])].slice(0, THEME_TAGS);
      const themeText = (theme.length ? theme : ordered.slice(0, THEME_TAGS).map((m) => m.tag)).join(", ");
      head.replaceChildren(
        h("h1", {}, h("span", { class: "dot", style: { background: topicColour(id), width: "14px", height: "14px" } }),
          `Topic ${id}`, h("span", { class: "meta", style: { fontWeight: 400, fontSize: "15px" } }, t.label)),
        h("span", { class: "facts" }, `${fmtInt(t.size)} tags · coherence ${t.coherence.toFixed(3)}`,
          ...t.flags.map((f) => h("span", { class: "flag" }, f))),
        h("span", { class: "actions" }, h("a", { href: hrefFor({ view: "explore", q: themeText }) }, "Explore this theme →")));
      $("#topic-tags-meta").textContent = `${t.tags.length} strongest of ${fmtInt(t.size)}; italic = soft member`;
      renderCloud(cloud, $("#topic-legend"), ordered.map((m) => ({ tag: m.tag, count: m.count, value: m.strength, soft: m.soft })), {
        valueName: "strength (closeness to the topic's centre)", query: String(id),
        onPick: (tag) => navigate({ view: "explore", q: tag }),
      });
      $("#topic-bloggers-meta").textContent = `theme: ${themeText}`;
      return topicBloggersChannel((signal) => api("/bloggers", { q: themeText, top: 30, explain: EXPLAIN_TAGS, ...currentFilters() }, signal))
        .then((body) => renderBloggerTable(table, body, themeText))
        .catch((error) => showError(table, error));
    }).catch((error) => { head.dataset.topic = ""; showError(head, error); table.replaceChildren(); $("#topic-legend").replaceChildren(); });
  }

  // ---------------------------------------------------------------------------------------------
  // routing and start-up
  // ---------------------------------------------------------------------------------------------
  const LOADERS = { explore: loadExplore, lookalikes: loadLookalikes, topics: loadTopics, topic: loadTopic, shortlist: loadShortlist };
  const WITH_FILTERS = new Set(["explore", "lookalikes", "topic"]);

  function route() {
    state = parseHash();
    for (const section of document.querySelectorAll(".view")) section.hidden = section.dataset.view !== state.view;
    for (const link of document.querySelectorAll(".nav a")) {
      const nav = link.dataset.nav;
      link.classList.toggle("active", nav === state.view || (nav === "topics" && state.view === "topic")
                                      || (nav === "explore" && state.view === "lookalikes"));
      link.href = nav === "explore" ? hrefFor({ view: "explore" }) : "#" + nav;
    }
    const slot = WITH_FILTERS.has(state.view) && $(`#view-${state.view} .filters-slot`);
    if (slot) { slot.append(filtersForm); filtersForm.hidden = false; } else { filtersForm.hidden = true; }
    syncFilterInputs();
    hideTooltip();
    document.title = state.view === "explore" && state.q ? `${state.q} · TopicTensor` : "TopicTensor explorer";
    LOADERS[state.view]();
  }

  async function loadModelInfo() {
    try {
      const v = await api("/version");
      $("#model-info").textContent = `model ${v.version} · ${fmtInt(v.tags)} tags · ${fmtInt(v.bloggers)} bloggers`;
      $("#banner").hidden = true;
    } catch (error) {
      const banner = $("#banner");
      banner.textContent = error.status === 503 ? `The server has no model to answer from yet: ${error.message}` : error.message;
      banner.hidden = false;
    }
  }

  filtersForm.addEventListener("input", (event) => { if (event.target.type === "number") applyFiltersSoon(); });
  filtersForm.addEventListener("change", (event) => { if (event.target.type === "text") applyFilters(); });
  filtersForm.addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
  $("#filters-clear").addEventListener("click", () => navigate({ view: state.view, arg: state.arg, filters: {} }));
  window.addEventListener("hashchange", route);

  updateShortlistCount();
  route();
  loadModelInfo();
  loadFacets().catch(() => { /* a model without bloggers: the filters stay empty, the tables say why */ });
})();
