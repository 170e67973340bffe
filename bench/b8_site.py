"""B8: the student site. The exam page of a 100-question exam loaded cold in headless Chromium, and answers
saved from it, through the same Nginx and gunicorn instances as the API.

Figures (each in the same run, in the same browser):
- time to a usable page: from navigation start to the moment the page has drawn all 100 questions, the timer
  and the status line (`performance.mark("exam-usable")` in core/site/static/site/exam.js), with the browser's
  cache emptied before each load; the median of BENCH_B8_LOADS loads;
- bytes: what the page itself costs (HTML, JS, CSS, decoded, i.e. before any compression), and apart from that
  the API's JSON the page reads;
- click to `All answers saved`: a choice clicked in the page until the status line reads so, which it does only
  after the server acknowledged the save; BENCH_B8_CLICKS clicks on different questions, one after the other.
Floor: GET / (the welcome view) fetched from the same page, through the same stack.
Target: the page's own bytes <= 100 KB before compression (docs/benchmarks.md); the times are reported with their
ratio to the floor.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

try:
    from bench import client, reporting, seeding
except ImportError:  # run as a script from bench/
    import client  # type: ignore[no-redef]
    import reporting  # type: ignore[no-redef]
    import seeding  # type: ignore[no-redef]

ID = "B8"
WHAT = "Student site: 100-question exam page, cold, in Chromium"
TARGET_BYTES = 100 * 1024
QUESTIONS = 100

USABLE_JS = """
const done = arguments[arguments.length - 1];
const started = Date.now();
(function wait() {
  const mark = performance.getEntriesByName("exam-usable")[0];
  if (mark) return done(mark.startTime);
  if (Date.now() - started > 30000) return done(null);
  setTimeout(wait, 5);
})();
"""

BYTES_JS = """
const entries = [performance.getEntriesByType("navigation")[0], ...performance.getEntriesByType("resource")];
return JSON.stringify(entries.map(e => ({name: e.name, type: e.initiatorType, decoded: e.decodedBodySize,
                                         transfer: e.transferSize})));
"""

CLICK_JS = """
const [index, done] = [arguments[0], arguments[arguments.length - 1]];
const status = document.getElementById("save-status");
const input = document.querySelectorAll("fieldset")[index].querySelector("input:not(:checked)");
const observer = new MutationObserver(() => {
  if (status.textContent === "All answers saved") {
    observer.disconnect();
    done(performance.now() - started);
  }
});
observer.observe(status, {childList: true, characterData: true, subtree: true});
const started = performance.now();
input.click();
setTimeout(() => { observer.disconnect(); done(null); }, 30000);
"""

FLOOR_JS = """
const [count, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const times = [];
  for (let i = 0; i < count; i += 1) {
    const started = performance.now();
    const response = await fetch("/", {headers: {Accept: "application/json"}, cache: "no-store"});
    await response.json();
    times.push(performance.now() - started);
  }
  done(times);
})();
"""


def run() -> dict[str, Any]:
    loads = max(1, reporting.env_int("BENCH_B8_LOADS", 5))
    clicks = max(1, reporting.env_int("BENCH_B8_CLICKS", 20))
    floor_requests = max(1, reporting.env_int("BENCH_B8_FLOOR_REQUESTS", 50))
    base_url = client.DEFAULT_BASE_URL
    client.loopback_target(base_url)  # refuses anything but loopback
    client.wait_http(f"{base_url}/health", 60)

    doctor = seeding.ensure_doctor(email=seeding.BENCH_DOCTOR)
    (student,) = seeding.ensure_students(prefix="SITE", count=1, level=seeding.BENCH_LEVEL, password="site-bench-pw")
    exam = seeding.create_open_exam(
        base_url,
        doctor_token=seeding.access_token(doctor),
        code=seeding.unique_code("B8"),
        level=seeding.BENCH_LEVEL,
        subject=seeding.BENCH_SUBJECT,
        questions=QUESTIONS,
    )

    from core.accounts.tokens import SingleUseRefreshToken
    from core.tests.browser import start_chromium, stop_chromium

    driver = start_chromium(width=1280, height=900)
    try:
        usable_ms: list[float] = []
        page_bytes = api_bytes = 0
        resources: list[dict[str, Any]] = []
        for _ in range(loads):
            refresh = SingleUseRefreshToken.for_user(student)
            session = {"access": str(refresh.access_token), "refresh": str(refresh), "user": {"id": student.id}}
            driver.get(f"{base_url}/health")  # the origin, without loading any of the site's files
            driver.execute_script(
                "sessionStorage.clear(); sessionStorage.setItem('exams.tokens', arguments[0])", json.dumps(session)
            )
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.get(f"{base_url}/app/exams/{exam.exam_id}/")
            usable = driver.execute_async_script(USABLE_JS)
            if usable is None:
                raise RuntimeError("the exam page never became usable")
            usable_ms.append(float(usable))
            resources = json.loads(driver.execute_script(BYTES_JS))
        page_bytes = sum(
            r["decoded"] for r in resources if r["type"] in ("navigation", "script", "link", "css", "other")
        )
        api_bytes = sum(r["decoded"] for r in resources if r["type"] == "fetch")

        click_ms: list[float] = []
        for index in range(clicks):
            took = driver.execute_async_script(CLICK_JS, index % QUESTIONS)
            if took is None:
                raise RuntimeError("a click never reached 'All answers saved'")
            click_ms.append(float(took))
        floor_ms = [float(t) for t in driver.execute_async_script(FLOOR_JS, floor_requests)]
    finally:
        stop_chromium(driver)

    usable_p50 = statistics.median(usable_ms)
    floor_p50 = statistics.median(floor_ms)
    click_p50 = statistics.median(click_ms)
    return {
        "id": ID,
        "what": WHAT,
        "figure": f"{usable_p50:.0f} ms usable, {page_bytes / 1024:.1f} KB",
        "floor": f"GET / {floor_p50:.1f} ms",
        "ratio": round(usable_p50 / floor_p50, 1) if floor_p50 else None,
        "target": "page bytes <= 100 KB before compression",
        "met": page_bytes <= TARGET_BYTES,
        "errors": 0,
        "p50_ms": round(click_p50, 1),
        "p99_ms": round(reporting.percentile(click_ms, 99) or 0, 1),
        "notes": (
            f"usable page p50 {usable_p50:.0f} ms (min {min(usable_ms):.0f}, max {max(usable_ms):.0f}, {loads} cold "
            f"loads); page bytes {page_bytes:,} (HTML+JS+CSS, decoded) plus API JSON {api_bytes:,}; click to "
            f"'All answers saved' p50 {click_p50:.1f} ms, "
            f"p99 {reporting.percentile(click_ms, 99):.1f} ms over {clicks} "
            f"clicks (p50/p99 columns); floor GET / p50 {floor_p50:.1f} ms over {floor_requests}"
        ),
        "usable_ms": [round(x, 1) for x in usable_ms],
        "page_bytes": page_bytes,
        "api_bytes": api_bytes,
        "click_ms": [round(x, 1) for x in click_ms],
        "floor_ms_p50": round(floor_p50, 2),
        "resources": [
            {"name": r["name"].split("/", 3)[-1], "type": r["type"], "bytes": r["decoded"]} for r in resources
        ],
    }
