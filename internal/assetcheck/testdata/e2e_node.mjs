// Drives linkserver/assets/js/e2e.js under Node for e2ejs_test.go:
//   node e2e_node.mjs gen EMAIL PASSPHRASE    -> JSON key pair on stdout
//   node e2e_node.mjs decrypt KEYFILE PASSPHRASE MESSAGEFILE...
//                                             -> JSON list of the plaintexts'
//                                                SHA-256 and progress counts
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

// The browser build expects a browser's navigator (Node 21+ has one).
globalThis.navigator ??= { hardwareConcurrency: 2, userAgent: 'node' };

const e2e = await import(new URL('../../../linkserver/assets/js/e2e.js', import.meta.url));
const [mode, ...args] = process.argv.slice(2);

if (mode === 'gen') {
  const [email, passphrase] = args;
  const k = await e2e.generateKey(passphrase, { email });
  // The copies must open with what the person knows, and only with that.
  await e2e.unlock(k.passphraseLocked, passphrase);
  await e2e.unlockWithRecoveryCode(k.recoveryLocked, k.recoveryCode.toLowerCase().replaceAll('-', ' '));
  let wrong = null;
  try { await e2e.unlock(k.passphraseLocked, passphrase + 'x'); } catch (err) { wrong = err; }
  if (!(wrong instanceof e2e.WrongSecretError)) throw new Error('a wrong passphrase did not give WrongSecretError: ' + wrong);
  const changed = await e2e.changePassphrase(k.privateKey, 'another passphrase');
  await e2e.unlock(changed, 'another passphrase');
  process.stdout.write(JSON.stringify({
    publicKey: k.publicKey,
    passphraseLocked: k.passphraseLocked,
    recoveryLocked: k.recoveryLocked,
    recoveryCode: k.recoveryCode,
    fingerprint: k.fingerprint,
  }));
} else if (mode === 'decrypt') {
  const [keyFile, passphrase, ...messageFiles] = args;
  const key = await e2e.unlock(await readFile(keyFile, 'utf8'), passphrase);
  const out = [];
  for (const f of messageFiles) {
    const response = new Response(Readable.toWeb(createReadStream(f, { highWaterMark: 64 << 10 })));
    let progress = 0;
    const plain = await e2e.decryptStream(response, key, (done) => { progress = done; });
    const h = createHash('sha256');
    for await (const chunk of plain) h.update(chunk);
    out.push({ sha256: h.digest('hex'), progress });
  }
  process.stdout.write(JSON.stringify(out));
} else {
  throw new Error('usage: gen|decrypt');
}
