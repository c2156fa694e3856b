// AudioWorklet for the console's "go live": microphone samples (48 kHz, as
// the AudioContext is opened) → 16-bit PCM in 20 ms frames of 960 samples, the
// unit the server's Opus encoder and the agents work in. Posts each frame's
// bytes and its peak level (0..1) to the page, which sends them over the WebSocket.
class PcmFrames extends AudioWorkletProcessor {
  constructor() {
    super();
    this.frame = new Int16Array(960);
    this.fill = 0;
    this.peak = 0;
  }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      const s = Math.max(-1, Math.min(1, ch[i]));
      const a = Math.abs(s);
      if (a > this.peak) this.peak = a;
      this.frame[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.fill === 960) {
        const out = this.frame;
        this.port.postMessage({ pcm: out.buffer, peak: this.peak }, [out.buffer]);
        this.frame = new Int16Array(960);
        this.fill = 0;
        this.peak = 0;
      }
    }
    return true;
  }
}
registerProcessor('pcm-frames', PcmFrames);
