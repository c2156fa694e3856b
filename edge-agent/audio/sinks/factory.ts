/**
 * Build the agent's one audio sink from its config (`audio` in
 * edge-agent/config.ts). 'device' asks the device driver for its own output
 * (DeviceGateway.audioSink): the board's sound card or the simulated
 * amplifier, so the common case needs no audio config at all.
 */
import type { AgentAudioConfig } from '../../config.ts';
import type { DeviceGateway } from '../../devices/gateway.ts';
import { AudioSinkError, type AudioSink } from '../types.ts';
import { AlsaSink } from './alsa.ts';
import { FileSink } from './file.ts';
import { NullSink } from './null.ts';

export interface SinkFactoryDeps {
  gateway?: Pick<DeviceGateway, 'audioSink'>;
  /** The engine's local clock (default wall time). */
  now?: () => number;
}

export function createAudioSink(config: Pick<AgentAudioConfig, 'sink' | 'alsaDevice' | 'bufferMs' | 'file'>, deps: SinkFactoryDeps = {}): AudioSink {
  const clock = deps.now ? { now: deps.now } : {};
  switch (config.sink) {
    case 'device': {
      const sink = deps.gateway?.audioSink?.({ bufferMs: config.bufferMs, ...clock });
      if (!sink) {
        throw new AudioSinkError('device', 'output_failed', "the device driver has no audio output; set audio.sink to 'alsa', 'file' or 'null' in the agent config");
      }
      return sink;
    }
    case 'alsa':
      return new AlsaSink({ device: config.alsaDevice, bufferMs: config.bufferMs, ...clock });
    case 'file':
      if (!config.file) throw new AudioSinkError('file', 'output_failed', "sink 'file' needs audio.file");
      return new FileSink({ path: config.file, latencyMs: config.bufferMs, ...clock });
    case 'null':
      return new NullSink({ latencyMs: config.bufferMs, ...clock });
    default: {
      const never: never = config.sink;
      throw new AudioSinkError('null', 'output_failed', `unknown sink ${String(never)}`);
    }
  }
}
