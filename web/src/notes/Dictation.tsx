/**
 * Voice dictation into a note (loaded on demand). Two ways, see docs/dictation.md:
 * - the browser's Web Speech API where it exists: words appear as they are recognised;
 * - otherwise — or when the browser's service fails, or the site prefers it (localStorage
 *   hale.dictation = "server": the audio then stays on the clinic's machines) — the microphone is recorded
 *   as 16 kHz mono 16-bit WAV and sent to POST /api/dictation, which answers with the text.
 * The button shows the state (aria-pressed; "Listening…", "Recording…", "Transcribing…").
 */
import { useEffect, useRef, useState } from 'react';
import { request } from '../api.ts';
import { downsample, encodeWav } from './wav.ts';

interface Recognition {
  continuous: boolean;
  interimResults: boolean;
  lang: string;
  onresult: ((e: { resultIndex: number; results: ArrayLike<ArrayLike<{ transcript: string }> & { isFinal: boolean }> }) => void) | null;
  onerror: ((e: { error: string }) => void) | null;
  onend: (() => void) | null;
  start(): void;
  stop(): void;
}
type RecognitionCtor = new () => Recognition;

function browserRecognition(): RecognitionCtor | undefined {
  const w = window as unknown as { SpeechRecognition?: RecognitionCtor; webkitSpeechRecognition?: RecognitionCtor };
  return w.SpeechRecognition ?? w.webkitSpeechRecognition;
}

type State = 'off' | 'listening' | 'recording' | 'transcribing';

/** A recording in progress: the microphone's samples as they come. */
interface Recorder {
  stop(): Promise<{ samples: Float32Array; rate: number }>;
}

async function record(): Promise<Recorder> {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(stream);
  // ScriptProcessor: deprecated but everywhere, and an AudioWorklet module would need a script URL the CSP allows.
  const proc = ctx.createScriptProcessor(4096, 1, 1);
  const chunks: Float32Array[] = [];
  proc.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(proc);
  proc.connect(ctx.destination);
  return {
    async stop() {
      for (const t of stream.getTracks()) t.stop();
      proc.disconnect();
      source.disconnect();
      const rate = ctx.sampleRate;
      await ctx.close();
      const samples = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        samples.set(c, at);
        at += c.length;
      }
      return { samples, rate };
    },
  };
}

export default function Dictation({ onText }: { onText: (text: string) => void }) {
  const [server, setServer] = useState(() => !browserRecognition() || localStorage.getItem('hale.dictation') === 'server');
  const [state, setState] = useState<State>('off');
  const [message, setMessage] = useState('');
  const recognition = useRef<Recognition>(undefined);
  const recorder = useRef<Recorder>(undefined);
  const onTextRef = useRef(onText);
  onTextRef.current = onText;

  useEffect(
    () => () => {
      recognition.current?.stop();
      void recorder.current?.stop();
    },
    [],
  );

  function listen() {
    const Ctor = browserRecognition() as RecognitionCtor;
    const rec = new Ctor();
    rec.continuous = true;
    rec.interimResults = false;
    rec.lang = navigator.language || 'en-US';
    rec.onresult = (e) => {
      for (let i = e.resultIndex; i < e.results.length; i++) {
        const r = e.results[i];
        if (r.isFinal && r[0]?.transcript.trim()) onTextRef.current(r[0].transcript.trim());
      }
    };
    rec.onerror = (e) => {
      if (e.error === 'no-speech' || e.error === 'aborted') return;
      setServer(true);
      setMessage(`This browser's speech recognition is not available (${e.error}). Press Dictate again to record for the Hale server instead.`);
    };
    rec.onend = () => {
      recognition.current = undefined;
      setState('off');
    };
    recognition.current = rec;
    rec.start();
    setMessage('');
    setState('listening');
  }

  async function startRecording() {
    try {
      recorder.current = await record();
      setMessage('');
      setState('recording');
    } catch (err) {
      setMessage(`The microphone cannot be used: ${(err as Error).message}. Allow it for this site in the browser's settings.`);
    }
  }

  async function stopRecording() {
    const r = recorder.current;
    recorder.current = undefined;
    if (!r) return;
    setState('transcribing');
    try {
      const { samples, rate } = await r.stop();
      const wav = encodeWav(downsample(samples, rate));
      const res = await request<{ text: string }>('POST', '/api/dictation', new Blob([wav], { type: 'audio/wav' }), { 'Content-Type': 'audio/wav' });
      if (res.text.trim()) onTextRef.current(res.text.trim());
      else setMessage('Nothing was recognised. Speak closer to the microphone and try again.');
    } catch (err) {
      setMessage((err as Error).message);
    } finally {
      setState('off');
    }
  }

  function toggle() {
    if (state === 'listening') recognition.current?.stop();
    else if (state === 'recording') void stopRecording();
    else if (state === 'off') {
      if (server) void startRecording();
      else listen();
    }
  }

  const on = state === 'listening' || state === 'recording';
  return (
    <span className="dictation">
      <button type="button" aria-pressed={on} disabled={state === 'transcribing'} onClick={toggle} className={on ? 'recording' : undefined}>
        <span aria-hidden="true">{on ? '■' : '●'}</span> {on ? 'Stop dictation' : 'Dictate'}
      </button>
      <span role="status" aria-live="polite" className="muted">
        {state === 'listening'
          ? 'Listening…'
          : state === 'recording'
            ? 'Recording… press Stop to transcribe'
            : state === 'transcribing'
              ? 'Transcribing…'
              : message}
      </span>
    </span>
  );
}
