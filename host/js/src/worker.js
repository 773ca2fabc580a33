// The HTTPS sender thread. The main thread, inside a synchronous WIT import,
// posts one request and blocks on `Atomics.wait`; this thread performs it and
// posts the reply, then wakes the main thread. Requests arrive already
// checked (allowlist, secrets, headers); this thread enforces the network
// rules: https only, public addresses unless `connectTo` reroutes, extra CA,
// no redirects, body cap, deadline.

import { workerData } from 'node:worker_threads';
import https from 'node:https';
import tls from 'node:tls';
import dns from 'node:dns';
import net from 'node:net';
import { isPublicAddress } from './policy.js';

const { port, flag, caPem, connectTo, userAgent } = workerData;
const signal = new Int32Array(flag);
const ca = caPem ? [...tls.rootCertificates, ...(Array.isArray(caPem) ? caPem : [caPem])] : undefined;
// One context for every request: parsing ~150 roots per request cost tens of ms.
const secureContext = ca ? tls.createSecureContext({ ca }) : undefined;
// Kept-alive connections per address and name; a socket goes back to the
// pool only after its response was read whole (see `finish`).
const agent = new https.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 32, timeout: 30_000 });

function reply(id, msg) {
  port.postMessage({ id, ...msg });
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function resolvePublic(host, portNo) {
  return new Promise((resolve, reject) => {
    if (net.isIP(host)) {
      return isPublicAddress(host) ? resolve(host) : reject(new Error(`${host}: not a public address; refused`));
    }
    dns.lookup(host, { all: true, verbatim: true }, (err, addrs) => {
      if (err || !addrs || addrs.length === 0) return reject(new Error(`${host}: name not resolved`));
      if (!addrs.every((a) => isPublicAddress(a.address))) {
        return reject(new Error(`${host}: not a public address; refused`));
      }
      resolve(addrs[0].address);
    });
  });
}

async function perform(id, r) {
  const url = new URL(r.url);
  if (url.protocol !== 'https:') {
    return reply(id, { err: { tag: 'invalid-request', val: `only https URLs are allowed, got ${url.protocol}//` } });
  }
  const host = url.hostname.toLowerCase();
  const bare = host.replace(/^\[|\]$/g, '');
  const portNo = url.port ? Number(url.port) : 443;
  const target = `${url.protocol}//${host}`;
  let done = false;
  let req = null;
  // `complete`: the response was read whole, so its socket may be reused;
  // anything else (error, cap, deadline) destroys it.
  const finish = (msg, complete = false) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (req && !complete) req.destroy();
    reply(id, msg);
  };
  const timer = setTimeout(() => {
    finish({ err: { tag: 'timeout', val: `${target} did not answer within ${r.timeoutMs} ms` } });
  }, r.timeoutMs);

  let addr;
  let addrPort = portNo;
  const via = connectTo[`${host}:${portNo}`];
  try {
    if (via) {
      const i = via.lastIndexOf(':');
      addr = via.slice(0, i).replace(/^\[|\]$/g, '');
      addrPort = Number(via.slice(i + 1));
    } else {
      addr = await resolvePublic(bare, portNo);
    }
  } catch (e) {
    return finish({ err: { tag: 'network', val: e.message } });
  }
  if (done) return;
  const authority = portNo === 443 ? host : `${host}:${portNo}`;
  const headers = [['host', authority]];
  if (!r.headers.some(([k]) => k === 'user-agent')) headers.push(['user-agent', userAgent]);
  headers.push(...r.headers);
  const body = r.body && r.body.length ? Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength) : null;
  if (body || !['GET', 'HEAD', 'DELETE'].includes(r.method)) {
    headers.push(['content-length', String(body ? body.length : 0)]);
  }
  // Mutual TLS: a context with the client's certificate, on a connection
  // of its own (never pooled, so no other request rides on it).
  let ownContext;
  if (r.identity) {
    try {
      ownContext = tls.createSecureContext({ ca: ca ?? tls.rootCertificates, cert: r.identity.cert, key: r.identity.key });
    } catch {
      return finish({ err: { tag: 'invalid-request', val: 'the client certificate and key do not form a usable identity' } });
    }
  }
  let stage = 'connect';
  try {
    req = https.request({
      method: r.method,
      host: addr,
      port: addrPort,
      path: url.pathname + url.search,
      headers: headers.flat(),
      servername: net.isIP(bare) ? undefined : bare,
      secureContext: ownContext ?? secureContext,
      agent: ownContext ? false : agent,
      ALPNProtocols: ['http/1.1'],
      setHost: false,
    });
  } catch (e) {
    return finish({ err: { tag: 'invalid-request', val: e.message } });
  }
  req.on('socket', (s) => {
    s.setNoDelay(true);
    s.once('connect', () => { stage = 'tls'; });
    s.once('secureConnect', () => { stage = 'request'; });
  });
  req.on('error', (e) => {
    const what = stage === 'connect' ? `connect to ${host}:${portNo}`
      : stage === 'tls' ? `TLS with ${host}:${portNo}`
        : stage === 'request' ? `request to ${host}` : `reading response from ${host}`;
    finish({ err: { tag: 'network', val: `${what}: ${e.message}` } });
  });
  req.on('response', (res) => {
    stage = 'response';
    const chunks = [];
    let total = 0;
    res.on('data', (c) => {
      if (done) return;
      total += c.length;
      if (total > r.maxBodyBytes) {
        finish({ err: { tag: 'too-large', val: r.maxBodyBytes } });
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => {
      const raw = res.rawHeaders;
      const hs = [];
      for (let i = 0; i + 1 < raw.length; i += 2) hs.push([raw[i].toLowerCase(), raw[i + 1]]);
      const buf = Buffer.concat(chunks);
      finish({ ok: { status: res.statusCode, headers: hs, body: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) } }, true);
    });
    res.on('error', (e) => finish({ err: { tag: 'network', val: `reading response from ${host}: ${e.message}` } }));
  });
  req.end(body ?? undefined);
}

port.on('message', ({ id, request }) => {
  perform(id, request).catch((e) => reply(id, { err: { tag: 'network', val: String(e && e.message) } }));
});
