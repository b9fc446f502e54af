// sealgate download helper (service worker). Browsers without the File
// System Access API save a decrypted file through an ordinary download:
// the page registers the download here (name, type, size and a
// MessagePort), opens <scope>download/<id> in a hidden frame, and this
// worker answers that request with a stream that it pulls from the page,
// one decrypted chunk at a time. The plaintext never touches the network
// or any cache; nothing else is intercepted.
//
// Only pages of this origin can post to a service worker, and each
// registered download is served once, to the first request for its random
// ID.

'use strict';

const PREFIX = 'download/';
const downloads = new Map(); // id -> { port, name, contentType, size }

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const d = event.data;
  const port = event.ports && event.ports[0];
  if (!d || d.type !== 'sealgate-download' || !/^[0-9a-f]{32}$/.test(d.id) || !port) return;
  downloads.set(d.id, { port, name: String(d.name || 'download'), contentType: String(d.contentType || ''), size: Number(d.size) || 0 });
  // A download nobody fetches is forgotten after a minute.
  setTimeout(() => downloads.delete(d.id), 60_000);
  port.postMessage({ type: 'registered' });
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const base = new URL(PREFIX, self.registration.scope);
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) return;
  const id = url.pathname.slice(base.pathname.length);
  const dl = downloads.get(id);
  if (!dl) {
    event.respondWith(new Response('This download is no longer available.', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } }));
    return;
  }
  downloads.delete(id);
  event.respondWith(new Response(pullFrom(dl.port), { headers: headersFor(dl) }));
});

// pullFrom returns a stream that asks the page for the next chunk each
// time the download wants one.
function pullFrom(port) {
  return new ReadableStream({
    pull(controller) {
      return new Promise((resolve) => {
        port.onmessage = ({ data }) => {
          if (data.error) {
            // The download fails and the browser discards what it wrote.
            controller.error(new Error(data.error));
            port.close();
          } else if (data.done) {
            controller.close();
            port.close();
          } else {
            controller.enqueue(new Uint8Array(data.chunk));
          }
          resolve();
        };
        port.postMessage({ type: 'pull' });
      });
    },
    cancel() {
      port.postMessage({ type: 'cancel' });
      port.close();
    },
  });
}

function headersFor(dl) {
  const h = new Headers({
    'Content-Type': /^[\w.+-]+\/[\w.+-]+$/.test(dl.contentType) ? dl.contentType : 'application/octet-stream',
    'Content-Disposition': contentDisposition(dl.name),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
  });
  if (dl.size > 0) h.set('Content-Length', String(dl.size));
  return h;
}

// contentDisposition names the file for the download, in RFC 6266 form: an
// ASCII fallback and the UTF-8 name.
function contentDisposition(name) {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const utf8 = encodeURIComponent(name).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}
