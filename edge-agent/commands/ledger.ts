/**
 * The command ledger: results of the last N commands, so a command delivered
 * again (QoS 1, a persistent session, the server retrying, an agent restart)
 * is answered from here and never run twice.
 */
import { readJsonFile, writeJsonAtomic } from '../state-file.ts';
import { decodeEvent, type CommandResultEvent } from '../../protocol/index.ts';
import type { AgentLogger } from '../agent-log.ts';

export const LEDGER_FILE = 'commands.json';

/**
 * Results of the last N commands, oldest first, optionally kept in a JSON
 * file so a command redelivered after an agent restart is still not re-run.
 */
export class CommandLedger {
  private readonly results = new Map<string, CommandResultEvent>();
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    private readonly capacity: number,
    private readonly file: string | undefined,
    private readonly log: AgentLogger,
  ) {}

  async load(): Promise<void> {
    if (!this.file) return;
    const raw = await readJsonFile(this.file, 'command ledger', (m) => this.log.warn(m));
    const list = (raw as { results?: unknown } | null)?.results;
    if (!Array.isArray(list)) return;
    for (const item of list) {
      const checked = decodeEvent.check(item);
      if (checked.ok && checked.value.type === 'cmd_result') this.remember(checked.value);
    }
  }

  get(id: string): CommandResultEvent | undefined {
    return this.results.get(id);
  }

  put(result: CommandResultEvent): Promise<void> {
    this.remember(result);
    return this.persist();
  }

  private remember(result: CommandResultEvent): void {
    this.results.delete(result.cmdId);
    this.results.set(result.cmdId, result);
    while (this.results.size > this.capacity) {
      const oldest = this.results.keys().next().value;
      if (oldest === undefined) break;
      this.results.delete(oldest);
    }
  }

  /** Writes are serialised and coalesced; a write is atomic (temp file + rename). */
  private persist(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    this.dirty = true;
    this.writing = this.writing.then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await writeJsonAtomic(file, { v: 1, results: [...this.results.values()] });
      } catch (e) {
        this.log.error(`cannot save command ledger ${file}: ${(e as Error).message}`);
      }
    });
    return this.writing;
  }

  flush(): Promise<void> {
    return this.writing;
  }
}
