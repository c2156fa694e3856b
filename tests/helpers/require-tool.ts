/**
 * "This test needs tool X", said once for the whole suite.
 *
 * A test that needs a program the machine lacks cannot pass honestly. Under CI
 * (CI set) that is a broken machine: `haveTools` adds one failing test named
 * after each missing tool, saying how to install it, and answers false so the
 * tests that need it are skipped rather than failing on something unrelated.
 * Elsewhere (a laptop without Mosquitto) it answers false with a loud warning,
 * so the rest of the suite still runs and nobody mistakes the skip for a pass.
 *
 *   describe.skipIf(!haveTools('ffmpeg', 'espeak-ng'))('media library', () => { … });
 *
 * Call it at the file's top level (or inside the describe that needs it): the
 * failing test is registered where it is called.
 */
import fs from 'node:fs';
import { it } from 'vitest';
import { findMediaTools, which } from '../../server/media/tools.ts';
import { MOSQUITTO } from './mosquitto.ts';

export interface ToolCheck {
  /** What is missing, as a person would name it. */
  name: string;
  /** How to get it on a Debian machine (.ci/run installs the same). */
  install: string;
  /** true when present; otherwise false or why not. */
  present(): true | false | string;
}

export const CHROMIUM = process.env.LOANET_CHROMIUM ?? '/usr/bin/chromium';
export const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

const exists = (file: string) => fs.existsSync(file) || `${file} does not exist`;

/** The tools the suite uses, by the name tests ask for. */
export const TOOLS = {
  ffmpeg: {
    name: 'ffmpeg and ffprobe',
    install: 'apt-get install ffmpeg (or npm install, which fetches the optional @ffmpeg-installer packages)',
    present: () => {
      const found = findMediaTools({});
      return 'tools' in found || found.missing;
    },
  },
  'espeak-ng': { name: 'espeak-ng', install: 'apt-get install espeak-ng', present: () => which('espeak-ng') !== undefined },
  mosquitto: { name: MOSQUITTO, install: 'apt-get install mosquitto', present: () => exists(MOSQUITTO) },
  mosquitto_passwd: { name: MOSQUITTO_PASSWD, install: 'apt-get install mosquitto', present: () => exists(MOSQUITTO_PASSWD) },
  chromium: { name: `chromium at ${CHROMIUM}`, install: 'apt-get install chromium, or set LOANET_CHROMIUM to a Chromium binary', present: () => exists(CHROMIUM) },
  aplay: { name: 'aplay', install: 'apt-get install alsa-utils', present: () => which('aplay') !== undefined },
  'systemd-notify': { name: 'systemd-notify', install: 'apt-get install systemd', present: () => which('systemd-notify') !== undefined },
  python3: { name: 'python3', install: 'apt-get install python3', present: () => which('python3') !== undefined },
  'proc-thread-self': { name: '/proc/thread-self/stat (Linux 3.17+)', install: 'run the tests on Linux', present: () => exists('/proc/thread-self/stat') },
} satisfies Record<string, ToolCheck>;

export type ToolName = keyof typeof TOOLS;

// One failing test and one warning per tool and test file, however many describes ask.
const reported = new Set<string>();

/** The checks that fail here, each with why. */
export function missingOf(...wanted: ReadonlyArray<ToolName | ToolCheck>): Array<{ tool: ToolCheck; why: string }> {
  const out: Array<{ tool: ToolCheck; why: string }> = [];
  for (const w of wanted) {
    const tool = typeof w === 'string' ? TOOLS[w] : w;
    const p = tool.present();
    if (p !== true) out.push({ tool, why: typeof p === 'string' ? p : 'not found' });
  }
  return out;
}

/**
 * true when every tool is here. Otherwise false, after registering a failing
 * test per missing tool (under CI) or printing a loud warning (elsewhere).
 */
export function haveTools(...wanted: ReadonlyArray<ToolName | ToolCheck>): boolean {
  const missing = missingOf(...wanted);
  for (const { tool, why } of missing) {
    if (reported.has(tool.name)) continue;
    reported.add(tool.name);
    const message = `need ${tool.name} (${why}); to install: ${tool.install}`;
    if (process.env.CI) {
      it(`needs ${tool.name}`, () => {
        throw new Error(`CI must run every test: tests here ${message}`);
      });
    } else {
      const bar = '!'.repeat(72);
      console.warn(`\n${bar}\n!! SKIPPING tests that ${message}\n!! (under CI=true they fail instead)\n${bar}\n`);
    }
  }
  return missing.length === 0;
}
