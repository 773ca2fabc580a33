// Benchmarks the JavaScript host: first (transpile) load, cached load,
// instantiate + manifest, and verify against the fake provider.
//   node bench/bench.mjs               the full run
//   node bench/bench.mjs --load-only   one Connector.load in this process (used by the full run)

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Connector, MemorySecrets } from '../src/index.js';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const componentPath = process.env.CONNHOST_COMPONENT ?? path.resolve(pkg, '../../target/components/celonis.wasm');
const fakesPath = process.env.CONNHOST_FAKES ?? path.resolve(pkg, '../../target/debug/connhost-fakes');
const ITERATIONS = 200;

const p50 = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms) => (ms < 10 ? ms.toFixed(3) : ms.toFixed(1));

async function timeIt(fn, n) {
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return p50(samples);
}

/** One Connector.load in a new process using the cache directory `cache`; its time in ms. */
function loadInChild(cache) {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--load-only'], {
    env: { ...process.env, CONNHOST_JS_CACHE: cache }, encoding: 'utf8',
  });
  const m = /^LOAD_MS (\S+)$/m.exec(out);
  if (!m) throw new Error(`no LOAD_MS in child output: ${out}`);
  return Number(m[1]);
}

async function startFakes() {
  const child = spawn(fakesPath, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`connhost-fakes exited (${code}) before it was ready`)));
  });
  rl.on('line', () => {});
  return { child, info: JSON.parse(first) };
}

async function stopFakes(child) {
  child.stdin.end();
  await new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => { child.kill(); resolve(); }, 5000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
  });
}

if (process.argv.includes('--load-only')) {
  const t = performance.now();
  const c = await Connector.load(componentPath);
  console.log(`LOAD_MS ${performance.now() - t}`);
  await c.close();
} else {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'connhost-js-bench-'));
  process.env.CONNHOST_JS_CACHE = cache;
  try {
    // 1 and 2: each load in its own process; the first one fills the empty cache.
    const firstLoad = loadInChild(cache);
    const cachedLoad = p50(Array.from({ length: 5 }, () => loadInChild(cache)));

    // 3: Connector.load on bytes already in memory after the module is prepared:
    // a hash lookup, then the constructor's fresh instance + manifest() (not memoized).
    const bytes = fs.readFileSync(componentPath);
    await Connector.load(bytes);
    const instantiateManifest = await timeIt(async () => {
      (await Connector.load(bytes)).manifest();
    }, ITERATIONS);

    // 4: verify against the fake provider (each call instantiates afresh).
    const { child, info } = await startFakes();
    let verify;
    try {
      const connectTo = Object.fromEntries(info.hosts.map((h) => [`${h}:443`, info.addr]));
      const connector = await Connector.load(bytes, { caPem: info.ca_pem, connectTo });
      const connection = { id: 'conn_bench', fields: { domain: 'acme.eu-1.celonis.cloud', auth_type: 'app-key' } };
      const run = () => connector.verify(connection, new MemorySecrets({ app_key: 'demo-app-key-4f1d9c' }));
      await timeIt(run, 5); // warm up the HTTP worker and its connection
      verify = await timeIt(run, ITERATIONS);
      await connector.close();
    } finally {
      await stopFakes(child);
    }

    console.log(`connhost JS host benchmark (node ${process.version})`);
    console.log(`first load (compile)  ${fmt(firstLoad)} ms`);
    console.log(`cached load  ${fmt(cachedLoad)} ms`);
    console.log(`instantiate + manifest p50  ${fmt(instantiateManifest)} ms`);
    console.log(`verify p50  ${fmt(verify)} ms`);
    console.log('JSON ' + JSON.stringify({
      node: process.version, first_load_ms: firstLoad, cached_load_ms: cachedLoad,
      instantiate_manifest_ms: instantiateManifest, verify_ms: verify,
    }));
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
}
