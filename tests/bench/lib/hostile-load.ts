/**
 * The worst inputs of the hardening work, all at once, against one server,
 * through its public interfaces only — a child process of the bench
 * (alert-dispatch.ts), so its CPU is not the measuring process's:
 *
 *   zip bomb     a .docx whose word/document.xml inflates to LOANET_HOSTILE_BOMB_MB
 *                (default 400) MB, uploaded to POST /api/media/tts/docx again
 *                as soon as each upload is answered;
 *   TTS flood    50,000-character POST /api/media/tts jobs, submitted again as
 *                soon as one is accepted, and 500 ms after a 503 (queue full);
 *   huge CONNECT raw TCP MQTT CONNECT packets declaring 250 MB, the body
 *                streamed as fast as the server takes it, LOANET_HOSTILE_CONNECTS
 *                (default 3) at a time, a new one 100 ms after each close;
 *   SSE          LOANET_HOSTILE_SSE (default 1,000) open GET /api/stream.
 *
 * Prints `ready` once every generator is going (the TTS queue has refused at
 * least once, the SSE connections are open or refused), then a `stats {json}`
 * line every second. Env: LOANET_URL, LOANET_TOKEN, LOANET_MQTT_PORT;
 * LOANET_HOSTILE_PARTS picks generators (bomb,tts,connect,sse).
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { varint } from '../../helpers/mqtt-bytes.ts';
import { zipArchive } from '../../helpers/zip-bomb.ts';

const URL_ = process.env.LOANET_URL!;
const TOKEN = process.env.LOANET_TOKEN!;
const MQTT_PORT = Number(process.env.LOANET_MQTT_PORT);
const BOMB_MB = Number(process.env.LOANET_HOSTILE_BOMB_MB ?? 400);
const CONNECTS = Number(process.env.LOANET_HOSTILE_CONNECTS ?? 3);
const SSE = Number(process.env.LOANET_HOSTILE_SSE ?? 1000);
const DECLARED = 250 * 1024 * 1024;
/** Which generators run (default all): to tell which one costs the server what. */
const PARTS = new Set((process.env.LOANET_HOSTILE_PARTS ?? 'bomb,tts,connect,sse').split(','));

const stats = {
  bombUploads: 0,
  bombStatuses: {} as Record<string, number>,
  bombAnswerMaxMs: 0,
  ttsAccepted: 0,
  ttsQueueFull: 0,
  ttsOther: {} as Record<string, number>,
  connects: 0,
  connectBytesTaken: 0,
  connectMaxBytesOne: 0,
  connectErrors: 0,
  sseOpen: 0,
  sseRefused: {} as Record<string, number>,
  sseClosed: 0,
};
const bump = (o: Record<string, number>, k: string) => (o[k] = (o[k] ?? 0) + 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A minimal .docx (zip: [Content_Types].xml stored, word/document.xml deflated) whose document inflates to `mb` MB. */
async function zipBomb(mb: number): Promise<Buffer> {
  const cache = path.join(os.tmpdir(), `loanet-bench-docx-bomb-${mb}mb.docx`);
  if (fs.existsSync(cache)) return fs.readFileSync(cache);
  const head = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>');
  const para = Buffer.from('<w:p><w:r><w:t>Thông báo khẩn cấp về lũ quét tại xã Bát Xát. </w:t></w:r></w:p>'.repeat(1000));
  const tail = Buffer.from('</w:body></w:document>');
  const deflate = zlib.createDeflateRaw({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (d: Buffer) => parts.push(d));
  const ended = new Promise((r) => deflate.on('end', r));
  let crc = zlib.crc32(head);
  let size = head.length;
  deflate.write(head);
  const total = mb * 1024 * 1024;
  while (size < total) {
    crc = zlib.crc32(para, crc);
    size += para.length;
    if (!deflate.write(para)) await new Promise((r) => deflate.once('drain', r));
  }
  crc = zlib.crc32(tail, crc);
  size += tail.length;
  deflate.end(tail);
  await ended;
  const doc = Buffer.concat(parts);
  const types = Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
  );
  const zip = zipArchive([
    { name: '[Content_Types].xml', method: 0, crc: zlib.crc32(types), declaredSize: types.length, data: types },
    { name: 'word/document.xml', method: 8, crc, declaredSize: size, data: doc },
  ]);
  fs.writeFileSync(cache, zip);
  return zip;
}

async function bombLoop(bomb: Buffer, first: () => void): Promise<void> {
  for (;;) {
    const fd = new FormData();
    fd.append('title', 'Văn bản (bom nén)');
    fd.append('file', new Blob([bomb], { type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' }), 'thong-bao.docx');
    const t0 = performance.now();
    try {
      const res = await fetch(`${URL_}/api/media/tts/docx?waitMs=0`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: fd });
      await res.arrayBuffer();
      bump(stats.bombStatuses, String(res.status));
    } catch (e) {
      bump(stats.bombStatuses, (e as Error).message.slice(0, 40));
      await sleep(200);
    }
    stats.bombAnswerMaxMs = Math.max(stats.bombAnswerMaxMs, performance.now() - t0);
    stats.bombUploads++;
    first();
  }
}

async function ttsLoop(firstFull: () => void): Promise<void> {
  const s = 'Thông báo lịch tiêm chủng mở rộng tại trạm y tế xã, đề nghị các hộ gia đình đưa trẻ đến đúng giờ. ';
  const text = s.repeat(Math.floor(50_000 / s.length));
  for (;;) {
    try {
      const res = await fetch(`${URL_}/api/media/tts?waitMs=0`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text, title: 'Bản tin rất dài' }),
      });
      await res.arrayBuffer();
      if (res.status === 202 || res.status === 201) stats.ttsAccepted++;
      else if (res.status === 503) {
        stats.ttsQueueFull++;
        firstFull();
        await sleep(500);
      } else {
        bump(stats.ttsOther, String(res.status));
        firstFull();
        await sleep(500);
      }
    } catch (e) {
      bump(stats.ttsOther, (e as Error).message.slice(0, 40));
      await sleep(500);
    }
  }
}

/** One raw MQTT CONNECT declaring 250 MB, its body streamed until the server closes the socket (or all of it is taken). */
function hugeConnect(): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect(MQTT_PORT, '127.0.0.1');
    let taken = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let open = true;
    const pump = () => {
      while (open && taken < DECLARED) {
        const n = Math.min(chunk.length, DECLARED - taken);
        taken += n;
        if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return sock.once('drain', pump);
      }
    };
    sock.on('connect', () => {
      stats.connects++;
      // Fixed header: CONNECT, then the remaining length 250 MB as an MQTT variable-length integer.
      sock.write(Buffer.concat([Buffer.from([0x10]), varint(DECLARED)]));
      pump();
    });
    sock.on('error', () => stats.connectErrors++);
    sock.on('close', () => {
      open = false;
      // What the kernel took is not what the server read; the socket's own count of bytes written out is the closer figure.
      const out = sock.bytesWritten;
      stats.connectBytesTaken += out;
      stats.connectMaxBytesOne = Math.max(stats.connectMaxBytesOne, out);
      resolve();
    });
  });
}

async function connectLoop(): Promise<void> {
  for (;;) {
    await hugeConnect();
    await sleep(100);
  }
}

function openSse(n: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get(`${URL_}/api/stream`, { agent, headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode === 200) stats.sseOpen++;
        else bump(stats.sseRefused, String(res.statusCode));
        res.on('data', () => {});
        res.on('close', () => {
          if (res.statusCode === 200) stats.sseOpen--, stats.sseClosed++;
        });
        resolve();
      });
      req.on('error', (e) => {
        bump(stats.sseRefused, e.message.slice(0, 40));
        resolve();
      });
    });
  return (async () => {
    for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, one));
  })();
}

async function main(): Promise<void> {
  const t0 = performance.now();
  let ttsFull!: () => void;
  const ttsFullSeen = PARTS.has('tts') ? new Promise<void>((r) => (ttsFull = r)) : Promise.resolve();
  let bombSent!: () => void;
  const bombAnswered = PARTS.has('bomb') ? new Promise<void>((r) => (bombSent = r)) : Promise.resolve();
  if (PARTS.has('bomb')) {
    const bomb = await zipBomb(BOMB_MB);
    console.log(`bomb ${bomb.length} bytes inflating to ${BOMB_MB} MB (made in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    void bombLoop(bomb, bombSent);
  }
  if (PARTS.has('sse')) await openSse(SSE);
  if (PARTS.has('tts')) void ttsLoop(ttsFull);
  if (PARTS.has('connect')) for (let i = 0; i < CONNECTS; i++) void connectLoop();
  // Ready: the TTS queue is full and one bomb has been answered (or 60 s passed: the bomb may hang the server, which the bench must see).
  await Promise.race([Promise.all([ttsFullSeen, bombAnswered]), sleep(60_000)]);
  console.log(`ready ${JSON.stringify(stats)}`);
  setInterval(() => console.log(`stats ${JSON.stringify({ t: Number(((performance.now() - t0) / 1000).toFixed(1)), ...stats })}`), 1000);
}

void main().catch((e: unknown) => {
  console.error(`hostile-load: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
