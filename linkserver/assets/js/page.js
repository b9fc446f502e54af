// sealgate level-3/4 transfer page: the recipient's side of the journey.
//
// The server renders every step (templates/e2e.html) and every text in the
// page's language; this module shows the step that applies and does the
// cryptography through e2e.js:
//   no key yet:  choose a passphrase -> key made here -> recovery code shown
//                once, confirmed -> public key and locked copies uploaded;
//   a key:       unlock with the passphrase or the recovery code (or, with
//                neither, reset to a new key after a warning);
//   unlocked:    downloads decrypted as they arrive, with a progress bar;
//                level 4's message text; changing the passphrase.
//
// The passphrase and the recovery code are read from fields without a name
// and go nowhere but into OpenPGP.js here: no request carries them. The
// unlocked key lives in this module's memory until the page goes.

import {
  changePassphrase, decryptText, downloadAndSave, fetchKey, generateKey, openSaveTarget,
  passphraseStrength, unlock, unlockWithRecoveryCode, uploadKey, WrongSecretError,
} from './e2e.js';

// MIN_LENGTH is the shortest passphrase accepted; passphraseStrength's
// "weak" is refused too. The locked copy sits on the server, so the
// passphrase (with Argon2's cost) is all that stands between a stolen
// database and the key.
const MIN_LENGTH = 10;

const root = document.getElementById('e2e');
if (root && root.dataset.state !== 'byok') start(root);

function start(root) {
  const $ = (id) => document.getElementById(id);
  const text = Object.fromEntries(
    [...root.querySelectorAll('#e2e-text [data-key]')].map((li) => [li.dataset.key, li.textContent]));
  const steps = ['e2e-setup', 'e2e-recovery', 'e2e-unlock', 'e2e-open'];
  const st = {
    record: null,   // the key record as GET /api/v1/me/key gives it
    key: null,      // the unlocked private key
    pending: null,  // a key made here, until its upload
    reset: false,   // the key being made replaces another
    useCode: false, // unlock with the recovery code
  };

  function show(step, focus) {
    for (const s of steps) $(s).hidden = s !== step;
    if (focus) $(focus).focus();
  }

  function busy(msg, form) {
    const b = $('e2e-busy');
    b.textContent = msg || '';
    b.hidden = !msg;
    if (form) for (const el of form.querySelectorAll('button, input')) el.disabled = !!msg;
  }

  function problem(id, input, msg) {
    const p = $(id);
    p.textContent = msg;
    p.hidden = false;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }

  function clear(id, ...inputs) {
    const p = $(id);
    p.textContent = '';
    p.hidden = true;
    for (const i of inputs) i.removeAttribute('aria-invalid');
  }

  // messageFor words a failed download or decryption for the page.
  function messageFor(err) {
    if (err && err.status === 409) return text.key_needed;
    if (err && err.status === 410) return text.unreadable;
    if (err && err.name === 'AbortError') return text.cancelled;
    return text.failed;
  }

  // checkNew returns the text key of what is wrong with a new passphrase
  // and the field to fix, or null.
  function checkNew(pass, again) {
    if (!pass.value) return ['empty', pass];
    if (pass.value.length < MIN_LENGTH) return ['too_short', pass];
    if (passphraseStrength(pass.value).level === 'weak') return ['too_weak', pass];
    if (pass.value !== again.value) return ['mismatch', again];
    return null;
  }

  function strengthHint(input, out) {
    input.addEventListener('input', () => {
      out.textContent = input.value ? text['strength_' + passphraseStrength(input.value).level] : '';
    });
  }

  // ---- first key, or a new one after a reset ----
  const setupForm = $('setup-form');
  const setupPass = $('setup-pass');
  const setupAgain = $('setup-pass2');
  strengthHint(setupPass, $('setup-strength'));
  setupForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear('setup-error', setupPass, setupAgain);
    const bad = checkNew(setupPass, setupAgain);
    if (bad) return problem('setup-error', bad[1], text[bad[0]]);
    busy(text.making_key, setupForm);
    try {
      st.pending = await generateKey(setupPass.value, { email: root.dataset.email });
    } catch {
      return problem('setup-error', null, text.failed);
    } finally {
      busy('', setupForm);
    }
    setupPass.value = setupAgain.value = '';
    $('setup-strength').textContent = '';
    $('recovery-code').textContent = st.pending.recoveryCode;
    show('e2e-recovery', 'recovery-title');
  });

  $('recovery-print').addEventListener('click', () => window.print());
  const recoveryForm = $('recovery-form');
  const recoveryDone = $('recovery-done');
  recoveryForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear('recovery-error', recoveryDone);
    if (!recoveryDone.checked) return problem('recovery-error', recoveryDone, text.confirm_needed);
    busy(text.saving_key, recoveryForm);
    try {
      // Public key and the two locked copies only: the recovery code and
      // the unlocked key stay here.
      const { publicKey, passphraseLocked, recoveryLocked } = st.pending;
      st.record = await uploadKey({ publicKey, passphraseLocked, recoveryLocked }, { reset: st.reset });
    } catch (err) {
      return problem('recovery-error', null, err && err.status === 409 ? text.key_exists : text.failed);
    } finally {
      busy('', recoveryForm);
    }
    st.key = st.pending.privateKey;
    st.pending = null;
    $('recovery-code').textContent = '';
    opened();
  });

  // ---- unlocking ----
  const unlockForm = $('unlock-form');
  const secret = $('unlock-secret');
  let recordLoaded = null;
  function loadRecord() {
    recordLoaded = fetchKey().then((rec) => { st.record = rec; return rec; });
    recordLoaded.catch(() => {}); // reported when unlocking
    return recordLoaded;
  }
  $('unlock-switch').addEventListener('click', () => {
    st.useCode = !st.useCode;
    const which = st.useCode ? 'code' : 'passphrase';
    $('unlock-label').textContent = text['label_' + which];
    $('unlock-hint').textContent = text['hint_' + which];
    $('unlock-switch').textContent = text[st.useCode ? 'switch_to_passphrase' : 'switch_to_code'];
    secret.type = st.useCode ? 'text' : 'password';
    secret.autocomplete = st.useCode ? 'off' : 'current-password';
    secret.value = '';
    clear('unlock-error', secret);
    secret.focus();
  });
  unlockForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear('unlock-error', secret);
    if (!secret.value) return problem('unlock-error', secret, text.empty);
    busy(text.unlocking, unlockForm);
    try {
      const rec = await (recordLoaded || loadRecord());
      if (!rec) {
        // The key went meanwhile (reset elsewhere, account deleted).
        return show('e2e-setup', 'setup-title');
      }
      st.key = st.useCode
        ? await unlockWithRecoveryCode(rec.recovery_locked, secret.value)
        : await unlock(rec.passphrase_locked, secret.value);
    } catch (err) {
      busy('', unlockForm);
      if (err instanceof WrongSecretError) {
        return problem('unlock-error', secret, text[st.useCode ? 'wrong_code' : 'wrong_passphrase']);
      }
      recordLoaded = null; // try loading again next time
      return problem('unlock-error', null, text.failed);
    } finally {
      busy('', unlockForm);
    }
    secret.value = '';
    opened();
  });

  const resetForm = $('reset-form');
  const resetConfirm = $('reset-confirm');
  resetForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clear('reset-error', resetConfirm);
    if (!resetConfirm.checked) return problem('reset-error', resetConfirm, text.reset_confirm_needed);
    st.reset = true;
    $('setup-reset-intro').hidden = false;
    $('setup-own-key').hidden = true;
    show('e2e-setup', 'setup-title');
  });

  // ---- unlocked: files, message, passphrase change ----
  function opened() {
    show('e2e-open', 'open-status');
    loadMessage();
  }

  for (const li of root.querySelectorAll('.e2e-file')) {
    li.querySelector('button').addEventListener('click', () => download(li));
  }

  async function download(li) {
    const button = li.querySelector('button');
    const bar = li.querySelector('progress');
    const status = li.querySelector('.dl-status');
    const file = { name: li.dataset.name, size: Number(li.dataset.size), content_type: li.dataset.type };
    let target;
    try {
      // First, while the click still counts as the person's: the save
      // dialog needs that.
      target = await openSaveTarget({ name: file.name, type: file.content_type, size: file.size });
    } catch (err) {
      status.textContent = err && err.name === 'AbortError' ? text.cancelled : text.no_browser;
      return;
    }
    button.disabled = true;
    bar.value = 0;
    bar.hidden = false;
    status.textContent = text.downloading;
    try {
      await downloadAndSave(li.dataset.url, st.key, file, target, (done, total) => {
        if (total > 0) bar.value = Math.min(100, Math.floor((done * 100) / total));
      });
      bar.value = 100;
      status.textContent = text.saved;
    } catch (err) {
      bar.hidden = true;
      status.textContent = messageFor(err);
    } finally {
      button.disabled = false;
    }
  }

  let messageShown = false;
  async function loadMessage() {
    const box = $('message');
    if (!box || messageShown) return;
    const status = $('message-status');
    status.textContent = text.text_loading;
    try {
      const get = (url) => fetch(url, { credentials: 'same-origin' });
      const plain = await decryptText(await get(box.dataset.text), st.key);
      const pre = $('message-text');
      pre.textContent = plain; // text, never markup
      pre.hidden = false;
      if (box.dataset.html) {
        const frame = $('message-html');
        frame.srcdoc = frameDocument(await decryptText(await get(box.dataset.html), st.key));
        frame.hidden = false;
      }
      messageShown = true;
      status.textContent = '';
    } catch (err) {
      status.textContent = err && (err.status === 409 || err.status === 410) ? messageFor(err) : text.text_failed;
    }
  }

  const changeForm = $('change-form');
  const changePass = $('change-pass');
  const changeAgain = $('change-pass2');
  strengthHint(changePass, $('change-strength'));
  changeForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear('change-error', changePass, changeAgain);
    $('change-done').hidden = true;
    const bad = checkNew(changePass, changeAgain);
    if (bad) return problem('change-error', bad[1], text[bad[0]]);
    busy(text.changing, changeForm);
    try {
      const rec = st.record || await (recordLoaded || loadRecord());
      const passphraseLocked = await changePassphrase(st.key, changePass.value);
      // The same public key with a new passphrase copy: the server takes
      // it as a passphrase change, not as a new key.
      st.record = await uploadKey({
        publicKey: rec.public_key, passphraseLocked, recoveryLocked: rec.recovery_locked,
      });
    } catch {
      return problem('change-error', null, text.failed);
    } finally {
      busy('', changeForm);
    }
    changePass.value = changeAgain.value = '';
    $('change-strength').textContent = '';
    const done = $('change-done');
    done.textContent = text.changed;
    done.hidden = false;
  });

  if (root.dataset.state === 'browser') {
    loadRecord();
    show('e2e-unlock');
  } else {
    show('e2e-setup');
  }
}

// frameDocument wraps a decrypted HTML message for the sandboxed frame
// (no scripts: the sandbox has no allow-scripts). Its own policy comes
// first, before any of the message: nothing may load from anywhere, images
// only from data: URLs, styles only inline. Links open outside the frame,
// without a referrer.
function frameDocument(html) {
  return '<!DOCTYPE html><meta charset="utf-8">' +
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">' +
    '<meta name="referrer" content="no-referrer"><base target="_blank">' + html;
}
