// upload.js: the upload page's tus 1.0 client (creation, core, resume).
// Each file is created with POST (Upload-Length, Upload-Metadata), sent in
// PATCH chunks from the stored offset, and after an error resumed where
// HEAD says the server stopped, with growing pauses between tries. Texts
// come from the page (data-msg-*), so this script holds no words.

const CHUNK = 8 << 20;
const RETRIES = 8;
const TUS = { 'Tus-Resumable': '1.0.0' };

const root = document.getElementById('uploader');
if (root) {
  root.hidden = false;
  const input = document.getElementById('upload-input');
  const list = document.getElementById('upload-progress');
  const msg = (k) => root.dataset['msg' + k] || '';
  input.addEventListener('change', async () => {
    const files = [...input.files];
    input.value = '';
    const rows = files.map((f) => row(list, f.name));
    let allDone = true;
    for (let i = 0; i < files.length; i++) {
      if (!(await upload(root.dataset.files, files[i], rows[i], msg))) allDone = false;
    }
    if (allDone && files.length) {
      const p = document.createElement('li');
      p.textContent = msg('Reload');
      list.append(p);
    }
  });
}

// row adds a file's line with a progress bar and a status text.
function row(list, name) {
  const li = document.createElement('li');
  const n = document.createElement('span');
  n.className = 'name';
  n.textContent = name;
  const bar = document.createElement('progress');
  bar.max = 1;
  bar.value = 0;
  const state = document.createElement('span');
  state.setAttribute('role', 'status');
  li.append(n, ' ', bar, ' ', state);
  list.append(li);
  return { bar, state };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// upload sends one file and reports whether it arrived.
async function upload(base, file, ui, msg) {
  ui.state.textContent = msg('Uploading');
  const meta = 'filename ' + b64(file.name) + ',filetype ' + b64(file.type || 'application/octet-stream');
  let res = await fetch(base, {
    method: 'POST',
    headers: { ...TUS, 'Upload-Length': String(file.size), 'Upload-Metadata': meta },
  }).catch(() => null);
  if (!res || res.status !== 201) return fail(res, file, ui, msg);
  const url = new URL(res.headers.get('Location'), location.href).href;
  let offset = 0;
  let tries = 0;
  while (offset < file.size || file.size === 0) {
    const end = Math.min(offset + CHUNK, file.size);
    res = await fetch(url, {
      method: 'PATCH',
      headers: { ...TUS, 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
      body: file.slice(offset, end),
    }).catch(() => null);
    if (res && res.status === 204) {
      offset = Number(res.headers.get('Upload-Offset'));
      tries = 0;
      ui.bar.value = file.size ? offset / file.size : 1;
      ui.state.textContent = msg('Uploading');
      if (file.size === 0) break;
      continue;
    }
    if (res && res.status !== 409 && res.status < 500 && res.status !== 429) return fail(res, file, ui, msg);
    if (++tries > RETRIES) return fail(res, file, ui, msg);
    ui.state.textContent = msg('Retrying');
    await sleep(Math.min(30000, 500 * 2 ** tries));
    const head = await fetch(url, { method: 'HEAD', headers: TUS }).catch(() => null);
    if (head && head.ok) offset = Number(head.headers.get('Upload-Offset'));
  }
  ui.bar.value = 1;
  ui.state.textContent = msg('Done');
  return true;
}

// fail shows why a file was refused, from the server's JSON error.
async function fail(res, file, ui, msg) {
  let text = msg('Failed');
  if (res) {
    const e = await res.json().catch(() => ({}));
    if (e.error === 'limit') text = e.limit === 'uploads.max_files' ? msg('LimitFiles') : msg('LimitSize');
    else if (e.error === 'infected') text = msg('Infected');
    else if (e.error === 'gone') text = msg('Gone');
  }
  ui.state.textContent = text;
  return false;
}

// b64 encodes a string's UTF-8 bytes as base64 (tus metadata).
function b64(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
