// Polls every queued or running job on this page, and updates its bar and status in place.
(function () {
  "use strict";
  var POLL_MS = 1500;
  function live(el) { var s = el.dataset.status; return s === "queued" || s === "running"; }
  function paint(el, job) {
    var percent = job.status === "done" ? 100 : (job.total ? Math.min(100, Math.floor(100 * job.processed / job.total)) : 0);
    el.dataset.status = job.status;
    el.querySelector(".job-progress-fill").style.width = percent + "%";
    el.querySelector(".job-progress-text").textContent = job.processed + " / " + job.total;
    var row = el.closest("tr");
    var cell = row && row.querySelector("td.field-status");
    if (cell) { cell.textContent = job.status; }
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
  // The server writes each bar's width as data-percent: the Content-Security-Policy refuses style attributes.
  Array.prototype.forEach.call(document.querySelectorAll(".job-progress-fill[data-percent]"), function (fill) {
    fill.style.width = fill.dataset.percent + "%";
  });
  setTimeout(poll, POLL_MS);
})();
