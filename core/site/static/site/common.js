// What every page shares: its words, the student's tokens, and calls to the public API.
//
// Tokens live in sessionStorage, never localStorage (docs/decisions/0008-site-tokens-in-session-storage.md): they
// survive a reload of this tab, which resuming an exam needs, and end with the tab. The access token is
// refreshed before it expires, on a timer and before any call made close to its expiry.

const STRINGS = JSON.parse(document.getElementById("site-strings").textContent);
const TOKENS = "exams.tokens";
const REFRESH_MARGIN_MS = 120_000; // refresh two minutes before the access token expires
const REQUEST_TIMEOUT_MS = 30_000; // longer than the server's own store timeouts, so a slow save is not resent early

export const lang = document.documentElement.lang || "en";

/** The page's word for `key`, with `{name}` filled from `values`. */
export function t(key, values = {}) {
  const text = STRINGS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

export function formatTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

export function formatList(items) {
  return new Intl.ListFormat(lang, { style: "short", type: "unit" }).format(items.map(String));
}

/** An error the API answered with: its status, its `error` code and its `detail` sentence. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error || "";
    this.body = body || {};
  }
}

/** The request never got an answer (offline, refused, timed out). */
export class NetworkError extends Error {}

// --- the server's clock ------------------------------------------------------------------------
let clockOffsetMs = 0; // server time minus this device's time

/** Learns the server's clock from a `server_time`, taking the middle of the request as its moment. */
export function learnServerTime(serverTime, sentAt, receivedAt) {
  if (!serverTime) return;
  clockOffsetMs = Date.parse(serverTime) - (sentAt + receivedAt) / 2;
}

/** Now, by the server's clock, in milliseconds. */
export function serverNow() {
  return Date.now() + clockOffsetMs;
}

// --- tokens --------------------------------------------------------------------------------------
export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(TOKENS) || "null");
  } catch {
    return null;
  }
}

function tokenExpiry(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.exp * 1000;
  } catch {
    return 0;
  }
}

function storeSession(data) {
  const previous = session() || {};
  sessionStorage.setItem(TOKENS, JSON.stringify({ ...previous, ...data }));
  scheduleRefresh();
}

export function signOutLocally() {
  sessionStorage.removeItem(TOKENS);
}

let refreshing = null;
let refreshTimer = null;

/** Swaps the refresh token for a new pair; one swap at a time, as refresh tokens are single use. */
export function refreshTokens() {
  if (refreshing) return refreshing;
  const current = session();
  if (!current?.refresh) return Promise.resolve(false);
  refreshing = fetchJson("/api/auth/refresh", { method: "POST", body: { refresh: current.refresh }, auth: false })
    .then((body) => {
      storeSession({ access: body.access, refresh: body.refresh });
      return true;
    })
    .catch((error) => {
      if (error instanceof ApiError && error.status === 401) {
        signOutLocally();
        return false;
      }
      throw error; // offline: keep the tokens and try again later
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const current = session();
  if (!current?.access) return;
  const due = tokenExpiry(current.access) - REFRESH_MARGIN_MS - serverNow();
  refreshTimer = setTimeout(
    () => refreshTokens().catch(() => setTimeout(scheduleRefresh, 15_000)),
    Math.max(due, 1000),
  );
}

export function signIn(body) {
  storeSession({ access: body.access, refresh: body.refresh, user: body.user });
}

// --- calls ---------------------------------------------------------------------------------------
async function fetchJson(path, { method = "GET", body, auth = true, form } = {}) {
  const headers = { Accept: "application/json" };
  if (auth) {
    const current = session();
    if (current?.access) headers.Authorization = `Bearer ${current.access}`;
  }
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  const sentAt = Date.now();
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, signal: controller.signal, cache: "no-store" });
  } catch (error) {
    throw new NetworkError(String(error));
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null; // a proxy's HTML error page, for example
    }
  }
  if (data && typeof data === "object" && data.server_time) learnServerTime(data.server_time, sentAt, Date.now());
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** A call to the API as the signed-in student: refreshes the token when it is near expiry or refused once. */
export async function api(path, options = {}) {
  const current = session();
  if (current?.access && tokenExpiry(current.access) - REFRESH_MARGIN_MS / 2 < serverNow()) {
    await refreshTokens().catch(() => {});
  }
  try {
    return await fetchJson(path, options);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && options.auth !== false && (await refreshTokens())) {
      return fetchJson(path, options);
    }
    throw error;
  }
}

/** Sends a visitor without a session to the sign-in page, coming back here afterwards. */
export function requireStudent() {
  const current = session();
  if (!current?.access) {
    window.location.replace(`/app/?next=${encodeURIComponent(location.pathname)}`);
    return null;
  }
  scheduleRefresh();
  return current;
}

export function showError(element, message) {
  element.textContent = "";
  if (message) {
    const p = document.createElement("p");
    p.textContent = message;
    element.append(p);
  }
}

export function messageFor(error) {
  if (error instanceof NetworkError) return t("network_error");
  if (error instanceof ApiError && error.status === 401) return t("session_ended");
  if (error instanceof ApiError && error.status < 500) return error.message;
  return t("server_error");
}

/** Creates an element: el("p", {class: "x", text: "..."}, child, ...). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

// The header: the site's links and "Sign out" show only to a signed-in student.
function setUpHeader() {
  const nav = document.querySelector("[data-signed-in]");
  if (!nav) return;
  nav.hidden = !session()?.access;
  nav.querySelector("[data-sign-out]")?.addEventListener("click", async () => {
    const current = session();
    if (current?.refresh) {
      await fetchJson("/api/auth/logout", { method: "POST", body: { refresh: current.refresh } }).catch(() => {});
    }
    signOutLocally();
    window.location.assign("/app/");
  });
}

setUpHeader();
