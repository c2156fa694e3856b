/**
 * When each open alarm is next due (time alone shows, clears or drops it),
 * kept so that the earliest is found without looking at every alarm: a
 * binary min-heap of (due, key) with lazy deletion, and a map of each key's
 * current due time. An entry is live while the map still gives its key that
 * time; a key whose time moves is pushed again and its old entry skipped
 * when it reaches the top. At 30,000 open alarms after a broker restart, a
 * scan of all of them per input would be quadratic; this is O(log n).
 */
interface Entry {
  at: number;
  key: string;
  /** Push order: entries due at the same moment come out in the order they were scheduled. */
  n: number;
}

export class DueQueue {
  private readonly heap: Entry[] = [];
  private readonly due = new Map<string, number>();
  private pushed = 0;

  get size(): number {
    return this.due.size;
  }

  /** The key's due time now: `at`, or never (null). */
  set(key: string, at: number | null): void {
    if (at === null) {
      this.due.delete(key);
      return;
    }
    if (this.due.get(key) === at) return;
    this.due.set(key, at);
    this.push({ at, key, n: this.pushed++ });
    // Skipped entries pile up when due times move a lot (a flapping fleet): rebuild once they outnumber the live ones.
    if (this.heap.length > 2 * this.due.size + 1024) this.rebuild();
  }

  get(key: string): number | null {
    return this.due.get(key) ?? null;
  }

  /** The earliest due time, or null. */
  peek(): number | null {
    this.dropStale();
    return this.heap[0]?.at ?? null;
  }

  /** Takes out every key due at or before `at`, earliest first; their due times are forgotten (set them again after running them). */
  takeDue(at: number): string[] {
    const out: string[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (top === undefined || top.at > at) return out;
      this.pop();
      this.due.delete(top.key);
      out.push(top.key);
    }
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.due.get(this.heap[0]!.key) !== this.heap[0]!.at) this.pop();
  }

  private rebuild(): void {
    const live = this.heap.filter((e) => this.due.get(e.key) === e.at);
    // One live entry per key: a key whose time went back to an earlier value has two with the same time.
    const seen = new Set<string>();
    this.heap.length = 0;
    for (const e of live.sort(less)) {
      if (seen.has(e.key)) continue;
      seen.add(e.key);
      this.heap.push(e);
    }
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p]!, e) <= 0) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && less(h[r]!, h[l]!) < 0 ? r : l;
      if (less(last, h[c]!) <= 0) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}

function less(a: Entry, b: Entry): number {
  return a.at - b.at || a.n - b.n;
}
