/**
 * How the agent's parts speak: the logger interface the caller may inject,
 * the default console logger, and the one place that records the last error
 * (reported in AgentStats.lastError) while logging it.
 */
export interface AgentLogger {
  debug?(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export type NoteLevel = 'error' | 'warn' | 'debug';

export function consoleLogger(siteId: string): AgentLogger {
  return {
    info: (m) => console.log(`[agent ${siteId}] ${m}`),
    warn: (m) => console.warn(`[agent ${siteId}] ${m}`),
    error: (m) => console.error(`[agent ${siteId}] ${m}`),
  };
}

/** Logs a problem and keeps it as the agent's last error (a technician's first clue in the stats). */
export class ProblemLog {
  last: string | null = null;

  constructor(private readonly log: AgentLogger) {}

  readonly note = (message: string, level: NoteLevel = 'error'): void => {
    this.last = message;
    if (level === 'debug') this.log.debug?.(message);
    else this.log[level](message);
  };
}

/** Shortens text put into a message or a log line (bounded fields on the wire). */
export const clip = (s: string, max: number): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** Resolves as `promise` does, or with undefined after `ms` (the timer does not hold the process). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((res) => {
    timer = setTimeout(() => res(undefined), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
