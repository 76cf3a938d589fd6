// One headless Chromium RTCPeerConnection driven over JSON lines (stdout: one object per line; stdin: the same).
// Used by crates/testkit/src/chromium.rs; see README.md beside this file. Chromium is the Debian package
// (/usr/bin/chromium), never a downloaded browser. Run it in a network namespace with only `lo` up so that it
// gathers 127.0.0.1 candidates only.
//
//   node peer.mjs offer|answer [--bundle-policy balanced|max-compat|max-bundle] [--audio-only]
//                              [--stats-seconds N] [--executable PATH]
//   node peer.mjs whip|whep --url URL [--token T] [--audio-only] [--stats-seconds N]
//
// offer : prints {"type":"offer","sdp":...} (ICE gathering complete, no trickle), reads {"type":"answer","sdp":...}
// answer: reads {"type":"offer","sdp":...}, prints {"type":"answer","sdp":...}
// whip  : the page POSTs its offer (fake microphone, sendonly) to URL as application/sdp (with
//         `Authorization: Bearer T`), applies the 201 answer and prints {"type":"whip","status":N,"location":...};
//         at the end it DELETEs the Location and the final line carries "deleteStatus".
// whep  : the same with a recvonly audio offer (the server sends), {"type":"whep",...}.
// then  : {"type":"stats",...} every 500 ms for N seconds (a {"type":"close"} line or stdin EOF ends it early),
//         then {"type":"final",...}. Any failure prints {"type":"error","message":...} and exits non-zero.
// Always closes the browser and removes its temporary profile.
import { chromium } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const LAUNCH_TIMEOUT_MS = 20_000; // browser start
const GATHER_TIMEOUT_MS = 10_000; // ICE gathering (host candidates on lo: a few ms)
const STDIN_TIMEOUT_MS = 60_000; // waiting for the other side's SDP
const STATS_INTERVAL_MS = 500;

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const log = (msg) => process.stderr.write(`peer.mjs: ${msg}\n`);

function parseArgs(argv) {
  const opts = { mode: argv[0], bundlePolicy: 'balanced', audioOnly: false, statsSeconds: 0, executable: '/usr/bin/chromium', url: null, token: null };
  if (!['offer', 'answer', 'whip', 'whep'].includes(opts.mode)) throw new Error(`mode must be offer, answer, whip or whep, got ${opts.mode}`);
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const value = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    if (a === '--bundle-policy') opts.bundlePolicy = value();
    else if (a === '--audio-only') opts.audioOnly = true;
    else if (a === '--stats-seconds') opts.statsSeconds = Number(value());
    else if (a === '--executable') opts.executable = value();
    else if (a === '--url') opts.url = value();
    else if (a === '--token') opts.token = value();
    else throw new Error(`unknown option ${a}`);
  }
  if ((opts.mode === 'whip' || opts.mode === 'whep') && !opts.url) throw new Error(`${opts.mode} needs --url`);
  if (!['balanced', 'max-compat', 'max-bundle'].includes(opts.bundlePolicy)) throw new Error(`bad bundle policy ${opts.bundlePolicy}`);
  if (!Number.isFinite(opts.statsSeconds) || opts.statsSeconds < 0 || opts.statsSeconds > 600) throw new Error('bad --stats-seconds');
  return opts;
}

// stdin as a queue of parsed JSON lines; EOF yields {type:"eof"}.
const stdinLines = [];
let stdinWaiter = null;
let stdinEof = false;
createInterface({ input: process.stdin })
  .on('line', (line) => { if (line.trim()) { stdinLines.push(line); stdinWaiter?.(); } })
  .on('close', () => { stdinEof = true; stdinWaiter?.(); });
async function nextMessage(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (stdinLines.length === 0 && !stdinEof) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no line on stdin within ${timeoutMs} ms`);
    let timer;
    await new Promise((resolve) => { stdinWaiter = resolve; timer = setTimeout(resolve, left); });
    clearTimeout(timer);
    stdinWaiter = null;
  }
  return stdinLines.length ? JSON.parse(stdinLines.shift()) : { type: 'eof' };
}
async function expectMessage(type) {
  const msg = await nextMessage(STDIN_TIMEOUT_MS);
  if (msg.type !== type || typeof msg.sdp !== 'string') throw new Error(`expected a ${type} line on stdin, got ${msg.type}`);
  return msg.sdp;
}

// Runs in the page: one peer connection with the fake microphone (and fake camera unless audio only).
// Remote audio plays through an <audio> element so that Chromium decodes it (totalSamplesReceived).
async function pageSetup({ bundlePolicy, audioOnly, gatherTimeoutMs }) {
  const pc = new RTCPeerConnection({ bundlePolicy });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: !audioOnly });
  pc.ontrack = (ev) => {
    if (ev.track.kind !== 'audio') return;
    const el = document.createElement('audio');
    el.autoplay = true;
    el.srcObject = new MediaStream([ev.track]);
    document.body.appendChild(el);
  };
  const gathered = () => new Promise((resolve, reject) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const t = setTimeout(() => reject(new Error('ICE gathering did not complete')), gatherTimeoutMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
  const addTracks = () => stream.getTracks().forEach((t) => pc.addTrack(t, stream));
  window.peer = {
    async offer() {
      addTracks();
      await pc.setLocalDescription(await pc.createOffer());
      await gathered();
      return pc.localDescription.sdp;
    },
    // WHIP/WHEP (RFC 9725): POST the complete offer, apply the 201 answer; the Location is kept for DELETE.
    async http(kind, url, token) {
      if (kind === 'whip') stream.getAudioTracks().forEach((t) => pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] }));
      else pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered();
      const headers = { 'Content-Type': 'application/sdp' };
      if (token) headers.Authorization = `Bearer ${token}`;
      const resp = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp });
      const body = await resp.text();
      const location = resp.headers.get('Location');
      if (resp.status !== 201) return { status: resp.status, location, body };
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      this.resource = location ? new URL(location, url).href : null;
      this.token = token;
      return { status: resp.status, location };
    },
    async deleteResource() {
      if (!this.resource) return null;
      const headers = this.token ? { Authorization: `Bearer ${this.token}` } : {};
      return (await fetch(this.resource, { method: 'DELETE', headers })).status;
    },
    async applyAnswer(sdp) { await pc.setRemoteDescription({ type: 'answer', sdp }); },
    async answer(sdp) {
      await pc.setRemoteDescription({ type: 'offer', sdp });
      addTracks(); // reuses the transceivers the offer created
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered();
      return pc.localDescription.sdp;
    },
    // The selected getStats fields, flattened (see README.md).
    async stats() {
      const report = await pc.getStats();
      const s = { connectionState: pc.connectionState, iceConnectionState: pc.iceConnectionState };
      const inbound = { packetsReceived: 0, bytesReceived: 0, totalSamplesReceived: 0 };
      const outbound = { packetsSent: 0 };
      let transport = null;
      report.forEach((r) => {
        if (r.type === 'transport' && (!transport || r.selectedCandidatePairId)) transport = r;
        if (r.type === 'inbound-rtp' && r.kind === 'audio') {
          inbound.packetsReceived += r.packetsReceived ?? 0;
          inbound.bytesReceived += r.bytesReceived ?? 0;
          inbound.totalSamplesReceived += r.totalSamplesReceived ?? 0;
        }
        if (r.type === 'outbound-rtp' && r.kind === 'audio') outbound.packetsSent += r.packetsSent ?? 0;
      });
      if (transport) {
        for (const k of ['dtlsState', 'srtpCipher', 'tlsVersion', 'dtlsRole', 'dtlsCipher', 'iceRole']) s[k] = transport[k] ?? null;
        const pair = report.get(transport.selectedCandidatePairId);
        if (pair) {
          const addr = (id) => { const c = report.get(id); return c ? `${c.address}:${c.port}` : null; };
          s.selectedPair = { state: pair.state, nominated: pair.nominated ?? false, local: addr(pair.localCandidateId), remote: addr(pair.remoteCandidateId) };
        }
      }
      s.inbound = inbound;
      s.outbound = outbound;
      return s;
    },
    close() { pc.close(); stream.getTracks().forEach((t) => t.stop()); },
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  // Hard bound on the whole run, whatever hangs (the browser is still closed by the finally below on errors;
  // this is the last resort).
  const watchdog = setTimeout(() => { out({ type: 'error', message: 'watchdog: run took too long' }); process.exit(4); },
    LAUNCH_TIMEOUT_MS + 2 * STDIN_TIMEOUT_MS + opts.statsSeconds * 1000 + 15_000);
  watchdog.unref();
  const userDataDir = await mkdtemp(join(tmpdir(), 'dtlsrtp-chromium-'));
  let context = null;
  const shutdown = async () => {
    try { await context?.close(); } catch { /* already gone */ }
    await rm(userDataDir, { recursive: true, force: true });
  };
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { shutdown().finally(() => process.exit(130)); });
  try {
    // NOTES.md flags. Playwright adds --headless (headless: true), --no-sandbox (chromiumSandbox: false) and
    // --user-data-dir (the temp profile), and drives the browser over a pipe (no debugging port).
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: opts.executable,
      headless: true,
      chromiumSandbox: false,
      timeout: LAUNCH_TIMEOUT_MS,
      ignoreDefaultArgs: ['--mute-audio'],
      args: [
        '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection',
        '--disable-features=WebRtcHideLocalIpsWithMdns', '--autoplay-policy=no-user-gesture-required',
      ],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => log(`console: ${m.text()}`));
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    // getUserMedia needs a secure context, which about:blank is not: serve an empty page as http://localhost/
    // from Playwright itself (no server, no network).
    // whip/whep: the page is the endpoint's own origin (http://127.0.0.1:PORT/, also a secure context), so that
    // Chromium's Local Network Access checks let it fetch the endpoint; only that one URL is routed.
    const pageUrl = opts.url ? new URL('/', opts.url).href : 'http://localhost/';
    await page.route(pageUrl, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>dtlsrtp peer</title>' }));
    await page.goto(pageUrl, { timeout: LAUNCH_TIMEOUT_MS });
    out({ type: 'ready', version: context.browser()?.version() ?? null, launch_ms: Date.now() - started });
    await page.evaluate(pageSetup, { bundlePolicy: opts.bundlePolicy, audioOnly: opts.audioOnly, gatherTimeoutMs: GATHER_TIMEOUT_MS });

    if (opts.mode === 'offer') {
      out({ type: 'offer', sdp: await page.evaluate(() => window.peer.offer()) });
      const answer = await expectMessage('answer');
      await page.evaluate((sdp) => window.peer.applyAnswer(sdp), answer);
    } else if (opts.mode === 'whip' || opts.mode === 'whep') {
      const r = await page.evaluate(({ kind, url, token }) => window.peer.http(kind, url, token), { kind: opts.mode, url: opts.url, token: opts.token });
      out({ type: opts.mode, ...r });
      if (r.status !== 201) throw new Error(`${opts.mode} POST answered ${r.status}: ${String(r.body ?? '').split('\n')[0]}`);
    } else {
      const offer = await expectMessage('offer');
      out({ type: 'answer', sdp: await page.evaluate((sdp) => window.peer.answer(sdp), offer) });
    }

    // Stats loop: every 500 ms for N seconds, unless a close line or EOF arrives first.
    const end = Date.now() + opts.statsSeconds * 1000;
    while (Date.now() < end) {
      out({ type: 'stats', t_ms: Date.now() - started, ...(await page.evaluate(() => window.peer.stats())) });
      const msg = await nextMessage(Math.min(STATS_INTERVAL_MS, Math.max(1, end - Date.now()))).catch(() => null);
      if (msg && (msg.type === 'close' || msg.type === 'eof')) break;
      if (msg) throw new Error(`unexpected line on stdin: ${msg.type}`);
    }
    const last = await page.evaluate(() => window.peer.stats());
    if (opts.mode === 'whip' || opts.mode === 'whep') last.deleteStatus = await page.evaluate(() => window.peer.deleteResource());
    out({ type: 'final', t_ms: Date.now() - started, ...last });
    await page.evaluate(() => window.peer.close());
  } catch (e) {
    out({ type: 'error', message: String(e?.message ?? e).split('\n')[0] });
    process.exitCode = 1;
  } finally {
    await shutdown();
  }
  process.exit(process.exitCode ?? 0); // stdin may still hold the event loop open
}

main().catch((e) => { out({ type: 'error', message: String(e?.message ?? e) }); process.exit(2); });
