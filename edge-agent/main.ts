/**
 * The edge agent's composition root: `npm run agent -- --config FILE`.
 * Loads and validates the config, builds the device gateway from it, starts
 * the agent, and stops it gracefully on SIGINT/SIGTERM (state 'shutdown', so
 * the server can tell a planned stop from a lost link).
 *
 * `enrol …` enrols the board with a one-time code instead (enrol.ts). A
 * board started without a usable configuration (no file, or one without a
 * site or credential) that finds an enrolment file on its boot partition
 * (`--enrol-file`, default /boot/firmware/loanet-enrol.txt) enrols from it
 * first.
 *
 * Before anything else it asks the launcher (update/launcher.ts) which
 * installed version runs: this package's program, or an update in a slot of
 * the state folder, which it then imports in this same process. The agent's
 * parts are imported only after that, so a board running an update does not
 * also hold the package's copy of them (nor load its native addon twice).
 */
import type { AgentFileConfig } from './config.ts';
import { readAgentVersion } from './config.ts';
import { launch } from './update/launcher.ts';

const USAGE = 'usage: npm run agent -- --config FILE';

function option(argv: readonly string[], long: string, short?: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === long || (short !== undefined && arg === short)) return argv[i + 1];
    if (arg.startsWith(`${long}=`)) return arg.slice(long.length + 1);
  }
  return undefined;
}

/** Enrol from the boot partition's file when the configuration cannot run yet and the file is there. */
async function enrolAtStart(path: string, enrolFile: string, notifier: { starting(status: string, withinMs: number): void }): Promise<void> {
  const { EnrolError, enrolFromFile, needsEnrolment, readEnrolFile } = await import('./enrol.ts');
  // A configuration that is not JSON counts as enrolled: loadAgentConfig says what is wrong with it.
  if (!needsEnrolmentQuietly(needsEnrolment, path)) return;
  try {
    if (!readEnrolFile(enrolFile)) return;
    console.log(`loanet agent: ${path} has no site credential yet; enrolling with ${enrolFile}`);
    const done = await enrolFromFile({
      file: enrolFile,
      configPath: path,
      log: { info: (m) => console.log(`loanet agent: ${m}`), warn: (m) => console.warn(`loanet agent: ${m}`) },
      progress: (status, withinMs) => notifier.starting(status, withinMs),
    });
    console.log(`loanet agent: enrolled as site ${done.siteId}; ${path} written, ${enrolFile} removed`);
  } catch (e) {
    if (!(e instanceof EnrolError)) throw e;
    console.error(`loanet agent: enrolment with ${enrolFile} failed: ${e.message}`);
    process.exit(2);
  }
}

function needsEnrolmentQuietly(needsEnrolment: (path: string) => boolean, path: string): boolean {
  try {
    return needsEnrolment(path);
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] !== 'enrol' && !argv.includes('--help') && !argv.includes('-h')) {
    const log = { info: (m: string) => console.log(`loanet agent: ${m}`), warn: (m: string) => console.warn(`loanet agent: ${m}`) };
    if ((await launch(option(argv, '--config', '-c'), readAgentVersion(), log)) === 'slot') return;
  }
  const { EdgeAgent, monotonicEpochMs } = await import('./agent.ts');
  const { createAudioSink } = await import('./audio/sinks/factory.ts');
  const { AudioSinkError } = await import('./audio/types.ts');
  const { opusFec } = await import('./audio/opus.ts');
  const { FileMediaCache } = await import('./media-cache/cache.ts');
  const { AgentConfigError, loadAgentConfig } = await import('./config.ts');
  const { createDeviceGateway } = await import('./devices/factory.ts');
  const { DEFAULT_ENROL_FILE, ENROL_USAGE, needsEnrolment, runEnrolCommand } = await import('./enrol.ts');
  const { SystemdNotifier, WatchdogGate } = await import('./systemd-notify.ts');
  const { loadTrustedKeys, PACKAGE_RELEASE_KEYS_DIR } = await import('./update/keys.ts');
  if (argv[0] === 'enrol') {
    process.exit(await runEnrolCommand(argv.slice(1)));
  }
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`${USAGE} [--enrol-file FILE (default ${DEFAULT_ENROL_FILE}): enrol from it when FILE has no credential yet]\n${ENROL_USAGE}`);
    return;
  }
  const path = option(argv, '--config', '-c');
  if (!path) {
    console.error(`loanet agent: no config file given; ${USAGE}`);
    process.exit(2);
  }
  const notifier = new SystemdNotifier({ log: { info: (m) => console.log(`loanet agent: ${m}`), warn: (m) => console.warn(`loanet agent: ${m}`) } });
  await enrolAtStart(path, option(argv, '--enrol-file') ?? DEFAULT_ENROL_FILE, notifier);
  let config: AgentFileConfig;
  try {
    config = await loadAgentConfig(path);
  } catch (e) {
    if (e instanceof AgentConfigError) {
      console.error(`loanet agent: bad config ${e.message}`);
      // A board never enrolled: say how, rather than only that a file is missing.
      if (needsEnrolmentQuietly(needsEnrolment, path))
        console.error(`loanet agent: this board is not enrolled yet; make a code on the site's page of the console, then:\n${ENROL_USAGE}`);
      process.exit(2);
    }
    throw e;
  }

  const gateway = createDeviceGateway(config.devices);
  let sink: ReturnType<typeof createAudioSink>;
  try {
    // The sink judges "due" on the agent's own time base (monotonic, anchored to the epoch once).
    sink = createAudioSink(config.audio, { gateway, now: monotonicEpochMs });
  } catch (e) {
    if (!(e instanceof AudioSinkError)) throw e;
    console.error(`loanet agent: bad config ${path}: audio.sink: ${e.message}`);
    process.exit(2);
  }
  // Media for the playlist: downloaded from the server's HTTP API with the site's own credential.
  const { cacheDir } = config.audio;
  const httpUrl = config.server.httpUrl;
  const cache =
    cacheDir && httpUrl
      ? new FileMediaCache({
          dir: cacheDir,
          limitBytes: config.audio.cacheLimitBytes,
          httpUrl,
          siteId: config.siteId,
          secret: config.credential.secret,
          partialMaxAgeMs: config.audio.partialMaxAgeH * 3600_000,
          // Checksum failures (a damaged download, a file rotted on the SD card) and failed fetches are the
          // first thing a technician needs when a bulletin is skipped 'no_media': they go to the journal.
          log: { info: (m) => console.log(`[agent ${config.siteId}] ${m}`), warn: (m) => console.warn(`[agent ${config.siteId}] ${m}`) },
        })
      : undefined;
  if (!cache) console.warn(`loanet agent: no media cache (needs server.httpUrl and stateDir or audio.cacheDir): scheduled bulletins will be skipped 'no_media'`);
  const keysDir = config.releaseKeysDir ?? PACKAGE_RELEASE_KEYS_DIR;
  const trustedKeys = await loadTrustedKeys(keysDir, (m) => console.warn(`loanet agent: ${m}`));
  // Switching versions (an update on trial, or a rollback) is a restart: the launcher then runs what boot.json says.
  // Under systemd (Restart=always) the agent comes back by itself; a supervisor without restart needs one.
  let restarting = false;
  const restart = async (why: string): Promise<void> => {
    if (restarting) return;
    restarting = true;
    console.log(`loanet agent: restarting: ${why}`);
    notifier.stopping();
    await agent.stop({ graceful: true }).catch((e: unknown) => console.error(`loanet agent: stop failed: ${(e as Error).message}`));
    process.exit(0);
  };
  const agent = new EdgeAgent({ config, gateway, playout: { sink, ...(cache ? { cache } : {}) }, update: { port: { restart }, trustedKeys } });

  // The agent's own timers are unref'd (so thousands can live in a test or the
  // fleet runner); this one keeps the process up while the link is down.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      console.error(`loanet agent: ${signal} again, exiting without a clean stop`);
      process.exit(1);
    }
    stopping = true;
    notifier.stopping();
    console.log(`loanet agent: ${signal}, stopping`);
    agent
      .stop({ graceful: true })
      .then(() => {
        clearInterval(keepAlive);
        process.exit(0);
      })
      .catch((e: unknown) => {
        console.error(`loanet agent: stop failed: ${(e as Error).message}`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  await agent.start();
  console.log(`loanet agent ${config.agentVersion}: site ${config.siteId} → ${config.server.mqttUrl}`);
  if (opusFec.available) console.log(`loanet agent: libopus ${opusFec.libopus}, lost live packets rebuilt from in-band FEC`);
  else console.warn(`loanet agent: WARNING: ${opusFec.why}; lost live packets are concealed (PLC) only`);
  // Under systemd (Type=notify): ready now that it plays from disk; the watchdog pings only while its loop is alive.
  notifier.ready(`site ${config.siteId}`, new WatchdogGate(config.heartbeatIntervalS * 1000), () => ({ now: monotonicEpochMs(), ...agent.stats }));
}

main().catch((e: unknown) => {
  console.error(`loanet agent: ${(e as Error).message ?? String(e)}`);
  process.exit(1);
});
