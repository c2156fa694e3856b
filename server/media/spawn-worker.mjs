// The thread that starts the media pipeline's programs (espeak-ng, ffprobe,
// ffmpeg) for `run()` in server/media/tools.ts, so that libuv's spawn, which
// waits until the child has exec'ed (on a loaded machine, until the child got
// a core), blocks this thread and never the event loop that answers alerts,
// HTTP and MQTT. The only module of server/media that imports child_process.
//
// Plain JavaScript (no TypeScript loader needed). Messages:
//   in:  { type: 'run', id, file, args, nice, lines, maxStderr, timeoutMs }
//        { type: 'kill', id }            SIGKILL the run's child (an abort)
//   out: { type: 'spawned', id, pid }
//        { type: 'lines', id, lines }    complete stdout lines, in order, batched
//        { type: 'exit', id, code, signal, stdout, stderr }
//        { type: 'error', id, error }    the program could not start (ENOENT, …)
//        { type: 'killed', id }          the kill of a 'kill' was sent
import { parentPort } from 'node:worker_threads';
import { spawn } from 'node:child_process';
import os from 'node:os';

/** id → the running child and its pending stdout lines. */
const runs = new Map();

function errorFields(e) {
  const err = e && typeof e === 'object' ? e : { message: String(e) };
  const out = { name: String(err.name ?? 'Error'), message: String(err.message ?? err) };
  for (const k of ['errno', 'code', 'syscall', 'path']) if (err[k] !== undefined) out[k] = err[k];
  if (Array.isArray(err.spawnargs)) out.spawnargs = err.spawnargs;
  return out;
}

function start(m) {
  const { id } = m;
  let child;
  try {
    child = spawn(m.file, m.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // Invalid arguments are thrown synchronously by spawn.
    parentPort.postMessage({ type: 'error', id, error: errorFields(e) });
    return;
  }
  const r = { child, lines: [], flushing: false };
  runs.set(id, r);
  if (child.pid !== undefined) {
    if (m.nice) {
      try {
        os.setPriority(child.pid, m.nice);
      } catch {
        // Lowering our own child's priority is always allowed; if the platform refuses, it simply runs at ours.
      }
    }
    parentPort.postMessage({ type: 'spawned', id, pid: child.pid });
  }
  let stdout = '';
  let stderr = '';
  let partial = '';
  let failed = false;
  const maxErr = m.maxStderr;
  const timer = m.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), m.timeoutMs) : undefined;
  const flush = () => {
    r.flushing = false;
    if (r.lines.length === 0) return;
    parentPort.postMessage({ type: 'lines', id, lines: r.lines });
    r.lines = [];
  };
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    if (!m.lines) {
      if (stdout.length < 1024 * 1024) stdout += chunk;
      return;
    }
    partial += chunk;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      r.lines.push(partial.slice(0, nl).trimEnd());
      partial = partial.slice(nl + 1);
    }
    // One message for all the lines that arrived in this turn of the loop.
    if (r.lines.length > 0 && !r.flushing) {
      r.flushing = true;
      setImmediate(flush);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    stderr += chunk;
    if (stderr.length > maxErr * 2) stderr = stderr.slice(-maxErr);
  });
  child.on('error', (e) => {
    if (timer) clearTimeout(timer);
    if (failed) return;
    failed = true;
    parentPort.postMessage({ type: 'error', id, error: errorFields(e) });
  });
  child.on('close', (code, signal) => {
    if (timer) clearTimeout(timer);
    runs.delete(id);
    flush();
    if (!failed) parentPort.postMessage({ type: 'exit', id, code, signal, stdout, stderr: stderr.slice(-maxErr) });
  });
}

parentPort.on('message', (m) => {
  if (m.type === 'run') start(m);
  else if (m.type === 'kill') {
    const r = runs.get(m.id);
    if (r) r.child.kill('SIGKILL');
    parentPort.postMessage({ type: 'killed', id: m.id });
  }
});
