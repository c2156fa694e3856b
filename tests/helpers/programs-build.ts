/**
 * vitest globalSetup: the agent and the server built once per run
 * (scripts/build.ts), for the tests that start them as processes of their own
 * (process.ts agentCli, server-process.ts). They run what a board and
 * `npm start` run, with no TypeScript loader: through tsx, each start
 * transpiled every module again, 2.3–2.6 s of CPU for an agent that only
 * printed its usage against 0.35–0.4 s from the bundle, and a suite starts
 * dozens of agents and servers (a power-cut test alone, one per cut).
 *
 * Built inside the project (`.test-build-programs-<pid>/`, ignored by git):
 * the server's bundle finds its packages in the project's node_modules and
 * the console in web/dist, two folders up, as an installed server does
 * (server/files.ts). Removed at the run's end; one left by a run that was
 * killed is removed by the next.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildAgent, buildServer } from '../../scripts/build.ts';
import { BUILT_PROGRAM_ENV, ROOT } from './process.ts';

const PREFIX = '.test-build-programs-';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

export default async function setup(): Promise<(() => void) | undefined> {
  // vitest runs a globalSetup once per project: the first builds for them all.
  if (process.env[BUILT_PROGRAM_ENV.agent]) return undefined;
  for (const name of fs.readdirSync(ROOT)) {
    const pid = name.startsWith(PREFIX) ? Number(name.slice(PREFIX.length)) : Number.NaN;
    if (Number.isInteger(pid) && !alive(pid)) fs.rmSync(path.join(ROOT, name), { recursive: true, force: true });
  }
  const dir = path.join(ROOT, `${PREFIX}${process.pid}`);
  const [agent, server] = await Promise.all([buildAgent(path.join(dir, 'agent')), buildServer(path.join(dir, 'server'))]);
  // Workers are started after the global set-up, with this process's environment.
  process.env[BUILT_PROGRAM_ENV.agent] = agent.file;
  process.env[BUILT_PROGRAM_ENV.server] = server.file;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
