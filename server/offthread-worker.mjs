// Entry of a worker started by server/offthread.ts: loads one module (a
// TypeScript source through tsx, so it works whether or not the parent itself
// runs under tsx; or a task bundle of the build, dist/server/tasks/*.mjs, as
// plain JavaScript), calls one of its exports with the input, and posts the
// result or the error. Plain JavaScript because it must run before any
// TypeScript loader exists.
import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

const { moduleUrl, fn, input, nice } = workerData;
if (nice > 0) {
  // On Linux setpriority() given a thread id renices that thread alone; /proc/thread-self names ours.
  // Lowering one's own priority is always allowed; elsewhere the task simply runs at the server's.
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (os.getPriority(tid) < nice) os.setPriority(tid, nice);
  } catch {
    // not Linux, or no /proc
  }
}
try {
  const mod = moduleUrl.endsWith('.ts') ? await (await import('tsx/esm/api')).tsImport(moduleUrl, import.meta.url) : await import(moduleUrl);
  const result = await mod[fn](input);
  parentPort.postMessage({ ok: true, result });
} catch (e) {
  const err = e && typeof e === 'object' ? e : { message: String(e) };
  parentPort.postMessage({
    ok: false,
    error: {
      name: String(err.name ?? 'Error'),
      message: String(err.message ?? err),
      code: typeof err.code === 'string' ? err.code : undefined,
      statusCode: typeof err.statusCode === 'number' ? err.statusCode : undefined,
      details: err.details && typeof err.details === 'object' ? err.details : undefined,
      // A catalogue error's parameters (server/errors.ts), so the refusal keeps its code's words on this side.
      params: err.params && typeof err.params === 'object' ? err.params : undefined,
    },
  });
}
