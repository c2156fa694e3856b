/** The loanet wire contract: import from here on every side. */
export * from './version.ts';
export * from './topics.ts';
export * from './messages.ts';
export * from './decode.ts';
export * from './device.ts';
export * from './audio-frame.ts';
export * from './audio-control.ts';
export * from './playlist.ts';
export * from './alert.ts';
export * from './stream-stats.ts';
export * from './retained-canary.ts';
export * from './event-ack.ts';
export * from './site-config.ts';
export * from './site-config-decode.ts';
export * from './update.ts';
