/**
 * Record a bulletin version from the browser's microphone (opened as the live
 * page opens it, web/src/microphone.ts), then upload it to the media library
 * in its language through the ordinary upload: the library normalises its
 * loudness and encodes it like any uploaded file.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { uploadWithProgress } from '../api.ts';
import { formatNumber, t } from '../i18n.ts';
import { hasMicrophone, openMicrophone } from '../microphone.ts';
import type { MediaEntry, MediaItem } from '../../../api/index.ts';
import { followMedia } from './media-picker.tsx';

type Phase = 'idle' | 'recording' | 'saving';

export function VersionRecorder(props: { language: string; title: string; onReady: (item: MediaItem) => void; onError: (e: unknown) => void }) {
  const [phase, setPhase] = useState<Phase>('idle');
  const [seconds, setSeconds] = useState(0);
  const [pct, setPct] = useState(0);
  const rec = useRef<{ recorder: MediaRecorder; mic: MediaStream; timer: number } | null>(null);
  const alive = useRef(true);
  useEffect(
    () => () => {
      alive.current = false;
      const r = rec.current;
      if (r) {
        clearInterval(r.timer);
        r.mic.getTracks().forEach((tr) => tr.stop());
      }
    },
    [],
  );

  const start = async () => {
    if (!hasMicrophone() || typeof MediaRecorder === 'undefined') {
      props.onError(new Error(t('liveNeedsMic')));
      return;
    }
    try {
      const mic = await openMicrophone();
      const recorder = new MediaRecorder(mic);
      const chunks: Blob[] = [];
      recorder.ondataavailable = (e) => e.data.size > 0 && chunks.push(e.data);
      recorder.onstop = () => {
        mic.getTracks().forEach((tr) => tr.stop());
        if (!alive.current) return;
        const type = recorder.mimeType || 'audio/webm';
        const ext = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
        const form = new FormData();
        form.append('title', props.title);
        form.append('lang', props.language);
        form.append('file', new Blob(chunks, { type }), `${props.title}.${ext}`);
        setPhase('saving');
        uploadWithProgress<MediaEntry>('/api/media?waitMs=0', form, setPct)
          .then((entry) =>
            followMedia(
              entry,
              () => {},
              () => alive.current,
            ),
          )
          .then(
            (item) => {
              setPhase('idle');
              props.onReady(item);
            },
            (e: unknown) => {
              setPhase('idle');
              props.onError(e);
            },
          );
      };
      const began = Date.now();
      const timer = window.setInterval(() => setSeconds(Math.round((Date.now() - began) / 1000)), 500);
      rec.current = { recorder, mic, timer };
      setSeconds(0);
      recorder.start(1000);
      setPhase('recording');
    } catch (e) {
      props.onError(e instanceof Error ? new Error(`${t('liveNeedsMic')} (${e.message})`) : e);
    }
  };

  const stop = () => {
    const r = rec.current;
    if (!r) return;
    clearInterval(r.timer);
    rec.current = null;
    r.recorder.stop();
  };

  if (phase === 'recording')
    return (
      <button type="button" class="danger" onClick={stop} data-testid="record-stop" data-language={props.language}>
        ■ {t('langRecordStop', { s: seconds })}
      </button>
    );
  if (phase === 'saving')
    return (
      <span class="muted" data-testid="record-saving">
        <progress max={1} value={pct} /> {pct >= 1 ? t('processing') : t('uploading', { pct: formatNumber(Math.round(pct * 100), 0, '%') })}
      </span>
    );
  return (
    <button type="button" class="secondary" onClick={start} data-testid="record-start" data-language={props.language}>
      🎙 {t('langRecord')}
    </button>
  );
}
