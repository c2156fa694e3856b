/**
 * The browser's microphone, opened one way for every use in the console: a
 * live broadcast (live.tsx) and a bulletin version recorded in the schedule
 * form (components/version-recorder.tsx). Speech for loudspeakers: one channel,
 * no echo cancellation (nothing plays back into it), noise suppression and
 * automatic gain so a quiet speaker on a phone is still heard.
 */

/** False where the browser offers no microphone at all (plain http on another host, an old browser). */
export const hasMicrophone = (): boolean => !!navigator.mediaDevices?.getUserMedia;

export function openMicrophone(): Promise<MediaStream> {
  return navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: true, autoGainControl: true } });
}
