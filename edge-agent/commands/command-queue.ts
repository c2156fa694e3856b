/**
 * Commands from the server on `cmd`: decoded, run one at a time (the
 * hardware does one thing at once), each exactly once, and each answered by
 * one `cmd_result` event. A duplicate (QoS 1, a persistent session, the
 * server retrying, an agent restart) is answered from the ledger, never
 * re-run; an expired or misaddressed command is refused; a bad payload is
 * answered when the sender can tell which command it was.
 */
import { COMMAND_TYPES, PROTOCOL_VERSION, decodeCommand, type CommandMessage, type CommandResultEvent, type CommandType, type SiteEventMessage } from '../../protocol/index.ts';
import { DeviceError } from '../devices/gateway.ts';
import { clip, type AgentLogger, type NoteLevel } from '../agent-log.ts';
import type { CommandLedger } from './ledger.ts';
import type { SiteCommands } from './site-commands.ts';

export interface CommandQueueOptions {
  siteId: string;
  ledger: CommandLedger;
  commands: SiteCommands;
  /** Commands waiting behind the running one before new ones are refused 'busy'. */
  maxQueued: number;
  /** The agent's clock for `at` and expiry. */
  now: () => number;
  publishEvent: (event: SiteEventMessage) => Promise<boolean>;
  log: AgentLogger;
  note: (message: string, level?: NoteLevel) => void;
}

export class CommandQueue {
  readonly stats = { commandsRun: 0, commandsRefused: 0, duplicateCommands: 0, invalidCommands: 0 };
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(private readonly o: CommandQueueOptions) {}

  /** A payload on `cmd`. */
  onPayload(payload: Buffer): void {
    const decoded = decodeCommand.decode(payload);
    if (!decoded.ok) {
      this.onInvalid(payload, decoded.error.code === 'unknown_version' ? 'unsupported_version' : 'invalid', decoded.error.reason);
      return;
    }
    const command = decoded.value;
    if (this.queued >= this.o.maxQueued) {
      void this.o.publishEvent(this.resultOf(command, false, undefined, { code: 'busy', message: `${this.queued} commands already waiting; retry later` }));
      this.stats.commandsRefused++;
      return;
    }
    // Commands run one at a time: the hardware does one thing at once, and a
    // duplicate that arrives while its original runs finds the stored result.
    this.queued++;
    this.chain = this.chain
      .then(() => this.handle(command))
      .catch((e: unknown) => this.o.note(`bug: command ${command.id} handling failed: ${(e as Error).message}`))
      .finally(() => {
        this.queued--;
      });
  }

  /** Answer a bad command if we can tell the sender which one it was; otherwise count and drop it. */
  private onInvalid(payload: Buffer, code: string, reason: string): void {
    this.stats.invalidCommands++;
    let id: unknown;
    let type: unknown;
    try {
      ({ id, type } = JSON.parse(payload.toString('utf8')) as { id?: unknown; type?: unknown });
    } catch {
      /* not JSON: nothing to answer */
    }
    const answerable = typeof id === 'string' && /^[A-Za-z0-9_-]{8,64}$/.test(id) && COMMAND_TYPES.includes(type as CommandType);
    if (!answerable) {
      this.o.log.warn(`dropped an invalid command payload (${payload.length} bytes): ${clip(reason, 200)}`);
      return;
    }
    const event: CommandResultEvent = {
      v: PROTOCOL_VERSION,
      siteId: this.o.siteId,
      at: this.o.now(),
      type: 'cmd_result',
      cmdId: id as string,
      cmdType: type as CommandType,
      ok: false,
      error: { code, message: clip(reason, 500) },
    };
    void this.o.publishEvent(event);
  }

  private resultOf(command: CommandMessage, ok: boolean, result?: CommandResultEvent['result'], error?: { code: string; message: string }): CommandResultEvent {
    const event: CommandResultEvent = { v: PROTOCOL_VERSION, siteId: this.o.siteId, at: this.o.now(), type: 'cmd_result', cmdId: command.id, cmdType: command.type, ok };
    if (result) event.result = result;
    if (error) event.error = { code: clip(error.code, 64), message: clip(error.message, 500) };
    return event;
  }

  private async handle(command: CommandMessage): Promise<void> {
    const prior = this.o.ledger.get(command.id);
    if (prior) {
      // Redelivered (QoS 1, persistent session, or the server retrying): answer again, never run twice.
      this.stats.duplicateCommands++;
      await this.o.publishEvent(prior);
      return;
    }
    let answer: CommandResultEvent;
    let after: (() => Promise<void>) | undefined;
    if (command.siteId !== this.o.siteId) {
      this.stats.commandsRefused++;
      answer = this.resultOf(command, false, undefined, { code: 'wrong_site', message: `command is for site ${command.siteId}, this is ${this.o.siteId}` });
    } else if (command.expiresAt < this.o.now()) {
      this.stats.commandsRefused++;
      answer = this.resultOf(command, false, undefined, { code: 'expired', message: `command expired at ${new Date(command.expiresAt).toISOString()}; not run` });
    } else {
      try {
        this.stats.commandsRun++;
        const outcome = await this.o.commands.execute(command);
        answer = this.resultOf(command, true, outcome.result);
        after = outcome.after;
      } catch (e) {
        // The one place a failed command becomes an answer.
        const code = e instanceof DeviceError ? e.code : 'internal';
        answer = this.resultOf(command, false, undefined, { code, message: (e as Error)?.message || String(e) });
        if (code === 'internal') this.o.note(`command ${command.id} (${command.type}) failed: ${answer.error?.message}`);
      }
    }
    await this.o.ledger.put(answer);
    await this.o.publishEvent(answer);
    if (after) await after();
  }
}
