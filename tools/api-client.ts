/**
 * A small client for loanet's HTTP API, used by the command-line tools
 * (broker-files here; the simulator's fleet runner and demo; tests and
 * benchmarks). They take the server from LOANET_URL and a token from
 * LOANET_TOKEN, as scripts and operators do.
 */
import { ArgError } from './cli-args.ts';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    what: string,
  ) {
    const msg = typeof body === 'object' && body && 'message' in body ? String((body as { message: unknown }).message) : JSON.stringify(body);
    super(`${what}: HTTP ${status}: ${msg}`);
    this.name = 'ApiError';
  }
}

export class LoanetClient {
  constructor(
    readonly baseUrl: string,
    private token: string | undefined,
  ) {}

  static fromEnv(env: Record<string, string | undefined> = process.env): LoanetClient {
    const url = env.LOANET_URL ?? 'http://localhost:8080';
    if (!/^https?:\/\//.test(url)) throw new Error(`LOANET_URL="${url}" is not an http(s) URL; set LOANET_URL, e.g. http://localhost:8080`);
    return new LoanetClient(url.replace(/\/$/, ''), env.LOANET_TOKEN || undefined);
  }

  get hasToken(): boolean {
    return this.token !== undefined;
  }

  async login(username: string, password: string): Promise<void> {
    const r = await this.request<{ token: string }>('POST', '/api/auth/login', { username, password });
    this.token = r.token;
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    } catch (e) {
      throw new Error(`cannot reach loanet at ${this.baseUrl} (${(e as Error).cause ?? (e as Error).message}); is the server running? set LOANET_URL`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* keep text */
    }
    if (!res.ok) throw new ApiError(res.status, parsed, `${method} ${path}`);
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }
}

/** The client the command-line tools use: LOANET_TOKEN, else a login as admin with LOANET_ADMIN_PASSWORD. */
export async function connectApi(): Promise<LoanetClient> {
  const api = LoanetClient.fromEnv();
  if (!api.hasToken) {
    const password = process.env.LOANET_ADMIN_PASSWORD;
    if (!password) throw new ArgError('no credentials: set LOANET_TOKEN to an API token (POST /api/auth/tokens), or LOANET_ADMIN_PASSWORD');
    await api.login('admin', password);
  }
  return api;
}
