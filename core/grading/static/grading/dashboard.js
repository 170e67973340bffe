// The exam's dashboard in the admin: every few seconds, while the tab is visible, fetch the exam's live figures
// (live.json: attempt counts and saves per minute) and redraw them. A static file, as the pages' CSP allows no
// inline script. The chart is drawn as the server draws it (core/grading/admin.py, saves_bars).
(() => {
  "use strict";
  const box = document.getElementById("exam-saves");
  if (!box) return;
  const url = box.dataset.liveUrl;
  const every = Math.max(1, Number(box.dataset.pollSeconds) || 5) * 1000;
  const chart = document.getElementById("saves-chart");
  const SVG = "http://www.w3.org/2000/svg";
  const [, , WIDTH, HEIGHT] = chart.getAttribute("viewBox").split(" ").map(Number);
  const LABEL = 14;

  const setText = (id, text) => {
    const element = document.getElementById(id);
    if (element && element.textContent !== String(text)) element.textContent = String(text);
  };

  const svg = (name, attributes, text) => {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
    if (text !== undefined) element.textContent = String(text);
    return element;
  };

  function drawSaves(minutes, peak) {
    const slot = Math.floor(WIDTH / Math.max(minutes.length, 1));
    const room = HEIGHT - 2 * LABEL;
    const bars = minutes.map((minute, i) => {
      const height = peak ? Math.round((room * minute.saves) / peak) : 0;
      const y = HEIGHT - LABEL - height;
      const middle = i * slot + Math.floor(slot / 2);
      const group = svg("g", { class: i === minutes.length - 1 ? "exam-saves-bar exam-saves-now" : "exam-saves-bar" });
      group.append(
        svg("title", {}, `${minute.label}: ${minute.saves}`),
        svg("rect", { x: i * slot + 3, y, width: slot - 6, height }),
        svg("text", { x: middle, y: y - 3, "text-anchor": "middle" }, minute.saves),
        svg("text", { x: middle, y: HEIGHT - 3, "text-anchor": "middle" }, minute.label),
      );
      return group;
    });
    chart.replaceChildren(...bars);
    setText("saves-total", minutes.reduce((sum, minute) => sum + minute.saves, 0));
    setText("saves-list", minutes.map((minute) => `${minute.label}: ${minute.saves}`).join("; "));
  }

  function draw(figures) {
    const attempts = figures.attempts;
    setText("attempts-started", attempts.started);
    setText("attempts-running", attempts.running);
    setText("attempts-active", attempts.active === null ? "too many to count here" : attempts.active);
    setText("attempts-finished", attempts.finished);
    drawSaves(figures.saves_per_minute, figures.saves_peak);
    const at = new Date(figures.server_time);
    setText("saves-updated", `Updated at ${at.toLocaleTimeString()}.`);
    box.dataset.updated = figures.server_time;
  }

  async function poll() {
    if (document.visibilityState !== "hidden") {
      try {
        const response = await fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
        const json = (response.headers.get("Content-Type") || "").startsWith("application/json");
        // A session that ended is sent to the login page (HTML): say so rather than draw nothing.
        if (response.ok && json) draw(await response.json());
        else setText("saves-updated", response.ok ? "Signed out: reload the page." : `Could not refresh (${response.status}); trying again.`);
      } catch {
        setText("saves-updated", "Could not refresh (no connection); trying again.");
      }
    }
    window.setTimeout(poll, every);
  }

  window.setTimeout(poll, every);
})();
