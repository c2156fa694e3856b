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
/** This thread's id on Linux (/proc/thread-self names it), else null: the parent reads its CPU time by it. */
let tid = null;
try {
  tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
} catch {
  // not Linux, or no /proc
}
// First, before the task's module loads: the parent counts the task's CPU time from here.
parentPort.postMessage({ started: true, tid });
if (nice > 0 && tid !== null) {
  // On Linux setpriority() given a thread id renices that thread alone.
  // Lowering one's own priority is always allowed; elsewhere the task simply runs at the server's.
  try {
    if (os.getPriority(tid) < nice) os.setPriority(tid, nice);
  } catch {
    // the priority cannot be read or set here
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
