// The answers that the server has not acknowledged yet: written to sessionStorage before anything is sent,
// removed only when the server says it stored them (docs/product.md rules 1 and 12).
//
// - One entry per question: a newer choice replaces a waiting one, so the last choice wins.
// - One request in flight at a time, carrying every waiting answer: saves reach the server in the order they
//   were made, and a save never overtakes an older one of the same question.
// - A failure the server may recover from (no network, a timeout, 429, 5xx) is retried with exponential backoff
//   and full jitter; coming back online retries at once.
// - 409 `attempt_closed` stops it for good, and says so. 401 stops it until the student signs in again.

const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
const MAX_BATCH = 200; // the API takes 1 to 200 answers a request

export class Outbox {
  /**
   * @param {string} key  the sessionStorage key (per student and exam)
   * @param {(answers: {question: number, choices: number[]}[]) => Promise<void>} send  resolves on a 2xx
   * @param {() => void} onChange  called whenever the queue or its state changes
   */
  constructor({ key, send, onChange }) {
    this.key = key;
    this.send = send;
    this.onChange = onChange;
    const stored = this.read();
    this.seq = stored.seq;
    this.items = stored.items; // question id -> {choices, rev}
    this.inflight = null;
    this.retryTimer = null;
    this.failures = 0;
    this.stopped = null; // null, "closed" or "signin"
    this.lastError = null;
    window.addEventListener("online", () => this.flush({ now: true }));
  }

  read() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(this.key) || "null");
      if (stored && typeof stored.seq === "number" && stored.items) return stored;
    } catch {
      /* a damaged entry is replaced */
    }
    return { seq: 0, items: {} };
  }

  persist() {
    sessionStorage.setItem(this.key, JSON.stringify({ seq: this.seq, items: this.items }));
  }

  get size() {
    return Object.keys(this.items).length;
  }

  /** The waiting choice of a question, or undefined. */
  waiting(question) {
    return this.items[question]?.choices;
  }

  /** Queues a question's choices, replacing any waiting ones, and sends at once. */
  put(question, choices) {
    this.seq += 1;
    this.items[question] = { choices: [...choices], rev: this.seq };
    this.persist();
    this.onChange();
    this.flush();
  }

  /** Sends what is waiting, unless a request is in flight or a retry is scheduled (`now` skips the wait). */
  flush({ now = false } = {}) {
    if (this.stopped === "closed" || this.inflight || !this.size) return this.inflight;
    if (this.retryTimer) {
      if (!now) return null;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.stopped = null;
    const batch = Object.entries(this.items)
      .sort((a, b) => a[1].rev - b[1].rev)
      .slice(0, MAX_BATCH)
      .map(([question, item]) => ({ question: Number(question), choices: item.choices, rev: item.rev }));
    this.inflight = this.send(batch.map(({ question, choices }) => ({ question, choices })))
      .then(
        () => {
          for (const { question, rev } of batch) {
            if (this.items[question]?.rev === rev) delete this.items[question];
          }
          this.persist();
          this.failures = 0;
          this.lastError = null;
        },
        (error) => this.failed(error, batch),
      )
      .finally(() => {
        this.inflight = null;
        this.onChange();
        if (this.size && !this.retryTimer && !this.stopped) this.flush();
      });
    this.onChange();
    return this.inflight;
  }

  failed(error, batch) {
    this.lastError = error;
    if (error.kind === "closed") {
      this.stopped = "closed";
      return;
    }
    if (error.kind === "signin") {
      this.stopped = "signin";
      return;
    }
    if (error.kind === "rejected") {
      // The server refused the answers themselves (422): sending them again cannot help. Drop them and say so.
      for (const { question, rev } of batch) {
        if (this.items[question]?.rev === rev) delete this.items[question];
      }
      this.persist();
      return;
    }
    this.failures += 1;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.failures - 1));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, delay);
  }

  /** Sends everything now and waits; true when nothing is left waiting. */
  async drain() {
    for (let round = 0; round < 20 && this.size; round += 1) {
      const sending = this.flush({ now: true });
      if (!sending) return !this.size;
      await sending;
      if (this.size && (this.stopped || this.retryTimer)) return false;
    }
    return !this.size;
  }
}
