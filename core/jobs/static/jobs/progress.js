// Polls every queued or running job on the jobs list, and updates its bar and status in place.
(function () {
  "use strict";
  var POLL_MS = 1500;
  function live(el) { var s = el.dataset.status; return s === "queued" || s === "running"; }
  function paint(el, job) {
    var bar = el.querySelector(".job-progress-bar");
    var total = Math.max(job.total, job.processed, 1);
    bar.max = total;
    bar.value = job.status === "done" ? total : Math.min(job.processed, total);
    el.dataset.status = job.status;
    el.dataset.failed = String(job.errors.length);
    el.querySelector(".job-progress-text").textContent = job.processed + " / " + job.total;
    var row = el.closest("tr");
    var cell = row && row.querySelector("td.field-outcome");
    if (cell) { cell.textContent = job.outcome; }
    var finished = row && row.querySelector("td.field-finished_at");
    if (finished && job.finished_at) { finished.textContent = new Date(job.finished_at).toLocaleString(); }
  }
  function poll() {
    var pending = Array.prototype.filter.call(document.querySelectorAll(".job-progress"), live);
    if (!pending.length) { return; }
    Promise.all(pending.map(function (el) {
      return fetch(el.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (job) { if (job) { paint(el, job); } })
        .catch(function () {});
    })).then(function () { setTimeout(poll, POLL_MS); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setTimeout(poll, POLL_MS); });
  } else {
    setTimeout(poll, POLL_MS);
  }
})();
