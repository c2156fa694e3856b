// Entry of a worker started by server/offthread.ts: loads one TypeScript module
// (through tsx, so it works whether or not the parent itself runs under tsx),
// calls one of its exports with the input, and posts the result or the error.
// Plain JavaScript because it must run before any TypeScript loader exists.
import { parentPort, workerData } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

const { moduleUrl, fn, input } = workerData;
try {
  const mod = await tsImport(moduleUrl, import.meta.url);
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
    },
  });
}
