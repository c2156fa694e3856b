/**
 * Tasks run one after another per key, and concurrently across keys: the
 * read-then-write steps of one thing (an alert, a site's reports of an alert,
 * a media file) must not interleave, while different things need not wait
 * for each other. A task that fails rejects its own promise only; the next
 * task of its key still runs. A key is held only while it has a task queued
 * or running, so keys seen once (every alert, every file) do not accumulate.
 */
export class KeyedSerial {
  /** Per key, the tail of its chain: settles after the last task queued on it, and never rejects. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Run `task` after every task queued before it under `key`, and before any queued after; answers what it answers. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      // A later task queued meanwhile owns the entry now; only the last one's tail removes it.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** How many keys have tasks queued or running. */
  get pending(): number {
    return this.tails.size;
  }
}
