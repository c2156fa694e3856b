/** What the live stream record keeps of a relay's URL: never its credentials, a token in its query, or its fragment. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { publicUrl } from '../../server/live/store.ts';
import { redactUrl } from '../../server/live/service.ts';

describe('publicUrl', () => {
  it('keeps scheme, host, port and path only', () => {
    expect(publicUrl('http://radio:s3cret@radio.example.vn:8000/vov1.mp3?token=abc#x')).toBe('http://radio.example.vn:8000/vov1.mp3');
    expect(publicUrl('https://stream.example.vn/live')).toBe('https://stream.example.vn/live');
    expect(publicUrl('not a url')).toBe('relay');
  });

  it('never keeps the password or a query value, whatever they are', () => {
    const part = fc.stringMatching(/^[A-Za-z0-9]{6,20}$/);
    fc.assert(
      fc.property(part, part, (pw, tok) => {
        const out = publicUrl(`http://user:${pw}@127.0.0.1:8000/a.mp3?key=${tok}`);
        expect(out).not.toContain(pw);
        expect(out).not.toContain(tok);
      }),
    );
  });
});

describe('redactUrl', () => {
  const url = 'http://radio:s3cret-pw@127.0.0.1:9/live.mp3?token=tok-123#x';

  it('shows the URL in its public form inside an error text (as ffmpeg prints it)', () => {
    expect(redactUrl(`ffmpeg exited (1): ${url}: Connection refused`, url)).toBe('ffmpeg exited (1): http://127.0.0.1:9/live.mp3: Connection refused');
    expect(redactUrl('http://radio:s3cret-pw@127.0.0.1:9/live.mp3?token=tok-123: I/O error', url)).toBe('http://127.0.0.1:9/live.mp3: I/O error');
  });

  it('masks the password, the user and query values wherever else they appear', () => {
    const out = redactUrl('auth failed for radio with s3cret-pw; query token=tok-123; tcp://radio:s3cret-pw@host', url);
    for (const secret of ['s3cret-pw', 'tok-123', 'radio:']) expect(out).not.toContain(secret);
  });

  it('leaves a text without the URL as it is', () => {
    expect(redactUrl('the stream ended', url)).toBe('the stream ended');
  });
});
