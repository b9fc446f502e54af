// sealgate levels 3–4 in the browser: the recipient's key, made, locked,
// unlocked and used here, and streaming decryption of downloads.
//
// An ES module without a build step. OpenPGP.js is the npm package's
// browser build, copied unchanged into ../vendor by scripts/assets.sh; the
// page preloads it with Subresource Integrity (<link rel="modulepreload"
// integrity=...>), so this import gets the checked copy.
//
// Secrets stay here: the key passphrase and the recovery code never leave
// the browser, and the unlocked key lives only in the page's memory. The
// server receives the public key and two locked copies of the secret key
// (one locked with the passphrase, one with the recovery code).

import * as openpgp from '../vendor/openpgp.min.mjs';

// How keys are made and locked. v6 keys (RFC 9580) with Ed25519/X25519;
// the key asks senders for SEIPDv2 with AES-256-GCM (the gateway's fast
// path); secret keys are locked with Argon2 (OpenPGP.js's default cost:
// 3 passes, 4 lanes, 64 MiB) and AEAD, not with the legacy iterated hash.
const KEY_CONFIG = {
  v6Keys: true,
  aeadProtect: true,
  preferredAEADAlgorithm: openpgp.enums.aead.gcm,
  preferredSymmetricAlgorithm: openpgp.enums.symmetric.aes256,
  s2kType: openpgp.enums.s2k.argon2,
};

// Decryption streams. SEIPDv2 (AEAD) is authenticated chunk by chunk.
// SEIPDv1, which the gateway writes for files stored before every
// recipient had a key, is only authenticated at its end: OpenPGP.js would
// hold the whole file in memory to check first, so we let it stream and
// rely on the end check instead. Every saver below discards the output
// when the stream ends in an error (a file picker's writable is aborted,
// a service-worker download fails, a Blob is never made), so unchecked
// bytes never become a finished file.
const DECRYPT_CONFIG = { allowUnauthenticatedStream: true };

// Files up to this size may be saved through a Blob (in memory) when the
// browser has neither the File System Access API nor service workers.
export const BLOB_LIMIT = 256 * 1024 * 1024;

/** Thrown by unlock when the passphrase or recovery code is wrong. */
export class WrongSecretError extends Error {
  constructor() {
    super('The passphrase or recovery code is not right for this key.');
    this.name = 'WrongSecretError';
  }
}

// ---- recovery codes -------------------------------------------------------

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A new recovery code: 160 random bits as 32 Crockford base-32 characters
 * in groups of four, e.g. "7K3M-XQ2P-...", easy to write down and type.
 */
export function newRecoveryCode() {
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  let bits = 0, value = 0, out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g).join('-');
}

/**
 * The recovery code as the key was locked with it: upper case, without
 * dashes or spaces, with the letters people confuse (O, I, L) read as
 * the digits Crockford's alphabet means.
 */
export function normalizeRecoveryCode(code) {
  return String(code).toUpperCase().replace(/[^0-9A-Z]/g, '')
    .replace(/O/g, '0').replace(/[IL]/g, '1');
}

/**
 * A rough strength estimate for the passphrase hint: bits of a random
 * string of the same length and character classes (an upper bound for
 * chosen passphrases), and a level for the page to word.
 */
export function passphraseStrength(passphrase) {
  const p = String(passphrase);
  let pool = 0;
  if (/[a-z]/.test(p)) pool += 26;
  if (/[A-Z]/.test(p)) pool += 26;
  if (/[0-9]/.test(p)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(p)) pool += 33;
  const distinct = new Set(p).size;
  const bits = Math.round(Math.min(p.length, distinct * 2) * Math.log2(Math.max(pool, 1)));
  const level = bits < 50 ? 'weak' : bits < 80 ? 'fair' : 'strong';
  return { bits, level };
}

// ---- keys -----------------------------------------------------------------

/**
 * Makes the recipient's key pair. Returns the armoured public key, the
 * secret key locked with the passphrase and a second copy locked with a
 * fresh recovery code (to show once), and the unlocked key for use now.
 * email, if given, becomes the key's user ID (v6 keys need none).
 */
export async function generateKey(passphrase, { email } = {}) {
  if (!passphrase) throw new Error('A passphrase is needed.');
  const { privateKey } = await openpgp.generateKey({
    type: 'curve25519',
    userIDs: email ? [{ email }] : [],
    format: 'object',
    config: KEY_CONFIG,
  });
  const recoveryCode = newRecoveryCode();
  const [passphraseLocked, recoveryLocked] = await Promise.all([
    lock(privateKey, passphrase),
    lock(privateKey, normalizeRecoveryCode(recoveryCode)),
  ]);
  return {
    publicKey: privateKey.toPublic().armor(),
    passphraseLocked,
    recoveryLocked,
    recoveryCode,
    privateKey,
    fingerprint: privateKey.getFingerprint(),
  };
}

async function lock(privateKey, secret) {
  const locked = await openpgp.encryptKey({ privateKey, passphrase: secret, config: KEY_CONFIG });
  return locked.armor();
}

/**
 * Unlocks an armoured locked secret key with its passphrase and returns
 * the key for decryption. A wrong passphrase throws WrongSecretError.
 */
export async function unlock(lockedKey, passphrase) {
  const privateKey = await openpgp.readPrivateKey({ armoredKey: lockedKey });
  try {
    return await openpgp.decryptKey({ privateKey, passphrase });
  } catch (err) {
    if (/passphrase|decrypt/i.test(String(err && err.message))) throw new WrongSecretError();
    throw err;
  }
}

/** Unlocks the recovery copy with a recovery code as the person typed it. */
export function unlockWithRecoveryCode(recoveryLockedKey, code) {
  return unlock(recoveryLockedKey, normalizeRecoveryCode(code));
}

/**
 * Locks an unlocked key with a new passphrase and returns the armoured
 * copy to upload in place of the old passphrase copy (the recovery copy
 * stays as it is).
 */
export async function changePassphrase(privateKey, newPassphrase) {
  if (!newPassphrase) throw new Error('A passphrase is needed.');
  return lock(privateKey, newPassphrase);
}

// ---- the key on the server (GET|PUT /api/v1/me/key) -------------------------

const KEY_URL = '/api/v1/me/key';

/** The signed-in recipient's key record, or null when they have none. */
export async function fetchKey() {
  const res = await fetch(KEY_URL, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`Loading the key failed (HTTP ${res.status}).`);
  return res.json();
}

/**
 * Uploads a key: { publicKey, passphraseLocked, recoveryLocked } as
 * generateKey returns it (locked copies empty for a key of one's own).
 * reset must be true to replace a different key, which makes files
 * encrypted to the old key unreadable (warn first).
 */
export async function uploadKey({ publicKey, passphraseLocked = '', recoveryLocked = '' }, { reset = false } = {}) {
  const res = await fetch(KEY_URL, {
    method: 'PUT',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({
      public_key: publicKey,
      passphrase_locked: passphraseLocked,
      recovery_locked: recoveryLocked,
      reset,
    }),
  });
  if (!res.ok) {
    let msg = `Saving the key failed (HTTP ${res.status}).`;
    try { msg = (await res.json()).error || msg; } catch { /* keep the status */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

// ---- decryption -----------------------------------------------------------

/**
 * Decrypts a download as it arrives. response is a fetch Response whose
 * body is the OpenPGP message (the .pgp URL); privateKey an unlocked key.
 * Returns a ReadableStream of plaintext chunks. onProgress(doneBytes,
 * totalBytes), if given, is called as plaintext comes out; totalBytes is
 * size (the plaintext size from the manifest) when given.
 *
 * A message that fails authentication, or is not for this key, makes the
 * stream (or this call) end in an error.
 */
export async function decryptStream(response, privateKey, onProgress, size = 0) {
  if (!response.ok) {
    const err = new Error(`Download failed (HTTP ${response.status}).`);
    err.status = response.status; // 409: no key packet yet; 410: an earlier key's file
    throw err;
  }
  const message = await openpgp.readMessage({ binaryMessage: response.body });
  const { data } = await openpgp.decrypt({
    message,
    decryptionKeys: privateKey,
    format: 'binary',
    config: DECRYPT_CONFIG,
  });
  let done = 0;
  return data.pipeThrough(new TransformStream({
    transform(chunk, controller) {
      done += chunk.byteLength;
      if (onProgress) onProgress(done, size);
      controller.enqueue(chunk);
    },
  }));
}

/** Decrypts a small message (a level-4 text part) to a string. */
export async function decryptText(response, privateKey) {
  const stream = await decryptStream(response, privateKey);
  return new Response(stream).text();
}

// ---- saving to disk ----------------------------------------------------------

/**
 * Chooses where a download goes. Call it first thing in the click handler:
 * the file picker needs the click's user activation. method forces one of
 * 'fs' (File System Access API: a save dialog, then written as it comes),
 * 'sw' (service worker: an ordinary browser download fed by a stream) or
 * 'blob' (in memory, files up to BLOB_LIMIT); by default the first the
 * browser has. Returns { method, write(stream) }; write resolves when the
 * file is complete and rejects (discarding the output) on error.
 */
export async function openSaveTarget({ name, type = 'application/octet-stream', size = 0, method } = {}) {
  const m = method || (typeof window.showSaveFilePicker === 'function' ? 'fs'
    : ('serviceWorker' in navigator && window.isSecureContext ? 'sw' : 'blob'));
  if (m === 'fs') {
    const handle = await window.showSaveFilePicker({ suggestedName: name });
    const writable = await handle.createWritable();
    // pipeTo aborts the writable if the stream errors: the half-written
    // file is discarded, never left in place of the target.
    return { method: m, write: (stream) => stream.pipeTo(writable) };
  }
  if (m === 'sw') {
    const worker = await downloadWorker();
    return { method: m, write: (stream) => serviceWorkerDownload(worker, stream, name, type, size) };
  }
  if (size > BLOB_LIMIT) throw new Error('This browser cannot save a file this large; please use a current Chrome, Edge, Firefox or Safari.');
  return {
    method: 'blob',
    write: async (stream) => {
      const blob = await new Response(stream).blob();
      const url = URL.createObjectURL(new Blob([blob], { type }));
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
  };
}

// The service worker lives beside this module; its scope is this
// directory, and it answers only <scope>download/<id> for downloads that
// a page of this origin registered with it.
const SW_URL = new URL('./sw.js', import.meta.url);

async function downloadWorker() {
  const reg = await navigator.serviceWorker.register(SW_URL.pathname);
  // navigator.serviceWorker.ready only settles for registrations whose
  // scope covers this page, and this page is outside /assets/js/.
  const worker = reg.active || reg.waiting || reg.installing;
  if (worker.state !== 'activated') {
    await new Promise((resolve, reject) => {
      worker.addEventListener('statechange', () => {
        if (worker.state === 'activated') resolve();
        if (worker.state === 'redundant') reject(new Error('The download helper could not start.'));
      });
    });
  }
  return worker;
}

function randomID() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// Feeds stream to the service worker chunk by chunk, as the download asks
// for it (so decryption runs no faster than the disk takes it), and starts
// the download in a hidden frame.
function serviceWorkerDownload(worker, stream, name, type, size) {
  return new Promise((resolve, reject) => {
    const id = randomID();
    const { port1, port2 } = new MessageChannel();
    const reader = stream.getReader();
    let frame = null;
    const finish = (err) => {
      port1.close();
      if (frame) setTimeout(() => frame.remove(), 1000);
      if (err) reject(err); else resolve();
    };
    port1.onmessage = async ({ data }) => {
      if (data.type === 'registered') {
        frame = document.createElement('iframe');
        frame.hidden = true;
        frame.src = new URL(`download/${id}`, SW_URL).pathname;
        document.body.append(frame);
      } else if (data.type === 'pull') {
        try {
          const { value, done } = await reader.read();
          if (done) {
            port1.postMessage({ done: true });
            finish();
            return;
          }
          // Send a buffer of its own: a view may share a larger buffer.
          const chunk = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice();
          port1.postMessage({ chunk: chunk.buffer }, [chunk.buffer]);
        } catch (err) {
          port1.postMessage({ error: String(err && err.message) });
          finish(err);
        }
      } else if (data.type === 'cancel') {
        reader.cancel().catch(() => {});
        // The person (or the browser's download policy) stopped it.
        finish(new DOMException('The download was cancelled.', 'AbortError'));
      }
    };
    worker.postMessage({ type: 'sealgate-download', id, name, contentType: type, size }, [port2]);
  });
}

/**
 * Fetches, decrypts and saves one file: url the OpenPGP message's URL,
 * file { name, content_type, size } from the manifest, target from
 * openSaveTarget, onProgress(done, total).
 */
export async function downloadAndSave(url, privateKey, file, target, onProgress) {
  const response = await fetch(url, { credentials: 'same-origin' });
  const plain = await decryptStream(response, privateKey, onProgress, file.size);
  await target.write(plain);
}

export { openpgp };
