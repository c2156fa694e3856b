/**
 * The text of an uploaded .docx, worked out in a worker thread: the unzip and
 * the XML scan are bounded (docx.ts), and running them off the event loop
 * means even a maximal document never delays HTTP, the MQTT broker or an
 * alert. The worker has its own heap limit and a deadline.
 */
import { isErrorCode } from '../../api/error-catalogue.ts';
import { failWithText, LoanetError } from '../errors.ts';
import { OffThreadError, runOffThread } from '../offthread.ts';
import { offThreadTask } from '../files.ts';
import { MediaRejected } from './analysis.ts';

/** CPU time allowed for one document (a maximal one takes about a second); runOffThread bounds its wall time at ten times this. */
export const DOCX_TIMEOUT_MS = 30_000;
/** Heap of the worker (MB): the inflated XML is at most 32 MiB and the text 50,000 characters. Uploads run one at a time (the media lane of offthread.ts). */
export const DOCX_WORKER_HEAP_MB = 256;

const TASK = offThreadTask(new URL('./docx.ts', import.meta.url), 'docx');

export async function docxTextOffThread(bytes: Uint8Array): Promise<string> {
  try {
    // A copy of its own, moved to the worker: the upload's bytes may be a view of Node's shared Buffer pool, which
    // must not be detached (Node 22 refuses to move it: DataCloneError), and Buffer#slice does not copy.
    const own = new Uint8Array(bytes);
    return await runOffThread<string>(
      TASK,
      'docxTextTask',
      { bytes: own },
      { timeoutMs: DOCX_TIMEOUT_MS, maxHeapMb: DOCX_WORKER_HEAP_MB, lane: 'media', transfer: [own.buffer as ArrayBuffer] },
    );
  } catch (e) {
    if (!(e instanceof OffThreadError)) throw e;
    if (e.code === 'LOANET_OFFTHREAD_TIMEOUT' || e.code === 'LOANET_OFFTHREAD_MEMORY') {
      throw new MediaRejected('LOANET_DOCX_TOO_LARGE', 413, `the document could not be read within the limits: ${e.message}`);
    }
    // A catalogue error thrown in the worker comes back as its code and parameters; a core's own refusal as its words.
    if (e.code && e.params && isErrorCode(e.code)) throw new LoanetError(e.code, e.params as never, e.details);
    if (e.code && e.statusCode) throw failWithText(e.code, 'LOANET_OFFTHREAD_FAILED', e.message, e.details);
    throw e;
  }
}
