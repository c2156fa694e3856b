/** Tiny flag parser for the command-line tools: `--name value` and `--flag`, with errors naming the flag. */
export class ArgError extends Error {}

export function parseArgs(argv: readonly string[], spec: Record<string, 'string' | 'number' | 'boolean'>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new ArgError(`unexpected argument "${a}"; flags look like --sites 100`);
    const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    const kind = spec[name];
    if (!kind)
      throw new ArgError(
        `unknown flag --${name}; known: ${Object.keys(spec)
          .map((k) => '--' + k)
          .join(', ')}`,
      );
    if (kind === 'boolean') {
      out[name] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new ArgError(`--${name} needs a value`);
    if (kind === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new ArgError(`--${name} "${raw}" is not a number`);
      out[name] = n;
    } else out[name] = raw;
  }
  return out;
}
