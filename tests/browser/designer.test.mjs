// Browser tests of `smtpcm designer`: Playwright (playwright-core, which downloads no browser)
// driving Debian's /usr/bin/chromium, headless.
//
// Run by crates/smtpcm-cli/tests/designer_browser.rs, which passes:
//   SMTPCM_BIN        the smtpcm binary under test
//   SMTPCM_CORPUS     ../shared/corpus/dtsx (real packages, copied to a temporary folder)
//   SMTPCM_ARTIFACTS  where screenshots go
//   SMTPCM_TEST_ENV   the test servers' env file (Postfix STARTTLS port, CA), when running
//   CI                "true": a missing Postfix is a failure, not a skip
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const BIN = process.env.SMTPCM_BIN;
const CORPUS = process.env.SMTPCM_CORPUS;
const ARTIFACTS = process.env.SMTPCM_ARTIFACTS || fs.mkdtempSync(path.join(os.tmpdir(), 'designer-shots-'));
const CI = process.env.CI === 'true';
assert.ok(BIN && fs.existsSync(BIN), 'SMTPCM_BIN must name the smtpcm binary');
fs.mkdirSync(ARTIFACTS, { recursive: true });

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const running = [];
const browsers = [];
after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  for (const p of running) p.kill('SIGTERM');
});

function readEnvFile(file) {
  const out = {};
  if (!file || !fs.existsSync(file)) return null;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function tmpCopy(corpusName, as) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'designer-'));
  const dst = path.join(dir, as || corpusName);
  if (corpusName) fs.copyFileSync(path.join(CORPUS, corpusName), dst);
  return { dir, file: dst };
}

/** Starts the designer on a free loopback port; resolves with its printed URL. */
function startDesigner(args) {
  const child = spawn(BIN, ['designer', ...args, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => {
      const m = /^designer: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9a-f]+))$/.exec(line);
      if (!m) reject(new Error(`unexpected first line ${JSON.stringify(line)}; stderr: ${stderr}`));
      else resolve({ url: m[1], base: `http://127.0.0.1:${m[2]}`, token: m[3], child });
    });
    child.once('exit', (code) => reject(new Error(`designer exited ${code}: ${stderr}`)));
  });
}

async function openPage(url) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
  browsers.push(browser);
  const page = await browser.newPage({ viewport: { width: 1024, height: 900 } });
  page.on('dialog', (d) => d.accept(d.defaultValue()));
  await page.goto(url);
  await page.waitForSelector('#explorer > ul', { state: 'attached' });
  return page;
}

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  // No horizontal scrolling at 1024 px.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than the 1024px window`);
  console.log(`screenshot: ${file}`);
}

/** Types into a field and commits it (the editors save a field on `change`). */
async function commit(page, selector, value) {
  const loc = page.locator(selector);
  await loc.fill(value);
  const before = await renders(page);
  const [put] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'PUT'),
    loc.dispatchEvent('change'),
  ]);
  if (put.ok()) await page.waitForFunction((n) => Number(document.body.dataset.renders || 0) > n, before);
  await page.waitForFunction(([s, v]) => document.querySelector(s) && document.querySelector(s).value === v, [selector, value]);
}

/** How many times the page has drawn an editor (it counts them in body[data-renders]). */
const renders = (page) => page.evaluate(() => Number(document.body.dataset.renders || 0));

async function choose(page, selector, value) {
  const before = await renders(page);
  const [put] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'PUT'),
    page.selectOption(selector, value),
  ]);
  // A successful edit redraws the editor once its answer is read: wait for that redraw.
  if (put.ok()) await page.waitForFunction((n) => Number(document.body.dataset.renders || 0) > n, before);
}

async function clickSave(page, id, expectStatus) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/files/${id}/save`)),
    page.click(`[data-save="${id}"]`),
  ]);
  assert.equal(resp.status(), expectStatus, await resp.text());
}

const AT = 'atorres16__SSIS-read-error-console-app-mail__SSIS__Package.dtsx';

test('a request without the token gets 401', async () => {
  const { file } = tmpCopy(AT, 'p.dtsx');
  const d = await startDesigner([file]);
  for (const [what, url, headers] of [
    ['no token', `${d.base}/api/files`, {}],
    ['page without token', `${d.base}/`, {}],
    ['wrong header', `${d.base}/api/files`, { 'X-Smtpcm-Token': 'f'.repeat(64) }],
    ['wrong query', `${d.base}/api/files?token=${'0'.repeat(64)}`, {}],
    ['wrong cookie', `${d.base}/api/files`, { Cookie: 'smtpcm_designer=abc' }],
    ['save without token', `${d.base}/api/files/0/save`, {}],
  ]) {
    const r = await fetch(url, { headers, method: what.startsWith('save') ? 'POST' : 'GET' });
    assert.equal(r.status, 401, what);
  }
  assert.equal((await fetch(`${d.base}/api/files`, { headers: { 'X-Smtpcm-Token': d.token } })).status, 200);
  assert.equal((await fetch(`${d.base}/api/files`, { headers: { Authorization: `Bearer ${d.token}` } })).status, 200);
  const first = await fetch(d.url);
  assert.equal(first.status, 200);
  assert.match(first.headers.get('set-cookie'), /HttpOnly; SameSite=Strict/);
});

test('edit a corpus package in the browser; only the edited bytes change', async () => {
  const { file } = tmpCopy(AT, 'Package.dtsx');
  const original = fs.readFileSync(file);
  const d = await startDesigner([file]);
  const page = await openPage(d.url);
  await shot(page, '01-explorer');

  await page.click('[data-cm]');
  await page.waitForSelector('#cm-key-SmtpServer');
  await commit(page, '#cm-key-SmtpServer', 'relay.example.com');
  await choose(page, '#cm-key-EnableSsl', 'True');
  const wantCs = 'SmtpServer=relay.example.com;UseWindowsAuthentication=True;EnableSsl=True;';
  assert.equal(await page.inputValue('#cm-connection-string'), wantCs);
  // A bad value is refused with the parser's message and changes nothing.
  await page.fill('#cm-key-Timeout', '0');
  await page.locator('#cm-key-Timeout').dispatchEvent('change');
  await page.waitForFunction(() => document.querySelector('#cm-error').textContent.includes('Timeout'));
  await shot(page, '02-connection-manager');
  assert.match(await page.textContent('#explorer .dirty'), /unsaved/);

  await page.click('[data-task]');
  await page.click('#tab-general');
  await page.waitForSelector('#task-name');
  await shot(page, '03-task-general');
  await page.click('#tab-mail');
  await page.waitForSelector('#task-prop-ToLine');
  await commit(page, '#task-prop-ToLine', 'ops@example.com');
  await commit(page, '#task-prop-Subject', 'Nightly load failed');
  await shot(page, '04-task-mail');
  await page.click('#tab-expressions');
  await page.waitForSelector('#expr-text-0');
  // An expression error points at its column.
  await page.fill('#expr-text-0', '"a" + @[User::Nope]');
  await page.locator('#expr-text-0 >> xpath=../..').locator('button', { hasText: 'Preview' }).click();
  await page.waitForFunction(() => /column 7/.test(document.querySelector('#expr-preview-0').textContent));
  const newExpr = '"Return Code: " + (DT_WSTR, 4)@[User::ReturnCode]';
  await commit(page, '#expr-text-0', newExpr);
  await page.waitForFunction(() => /Return Code: \d/.test(document.querySelector('#expr-preview-0').textContent));
  await shot(page, '05-task-expressions');

  await clickSave(page, 0, 200);
  await page.waitForFunction(() => !document.querySelector('#explorer .dirty'));

  const saved = fs.readFileSync(file, 'latin1');
  let expected = original.toString('latin1')
    .replace('SmtpServer=Your_Email_Host.linamar.com;UseWindowsAuthentication=True;EnableSsl=False;',
      'SmtpServer=relay.example.com;UseWindowsAuthentication=True;EnableSsl=True;')
    .replace('SendMailTask:To="atorres@linamar.com"', 'SendMailTask:To="ops@example.com"')
    .replace('SendMailTask:Subject="Package Error"', 'SendMailTask:Subject="Nightly load failed"');
  const oldExpr = '"Return Code:" + (DT_WSTR, 4)@[User::ReturnCode] + "\\r\\n" + "Error:" + @[User::StdError] + "\\r\\n" + "Output:" +  @[User::StdOutput]';
  assert.ok(expected.includes(oldExpr));
  expected = expected.replace(oldExpr, newExpr);
  assert.equal(saved, expected, 'only the edited values changed');

  // The library reloads it.
  const report = JSON.parse(execFileSync(BIN, ['inspect', file, '--json'], { encoding: 'utf8' }))[0].report;
  assert.equal(report.connections[0].smtp_server, 'relay.example.com');
  assert.equal(report.connections[0].enable_ssl, true);
  assert.equal(report.tasks[0].to, 'ops@example.com');
  assert.equal(report.tasks[0].subject, 'Nightly load failed');
});

test('a file changed on disk while open is not overwritten', async () => {
  const { file } = tmpCopy(AT, 'Package.dtsx');
  const d = await startDesigner([file]);
  const page = await openPage(d.url);
  await page.click('[data-task]');
  await page.click('#tab-mail');
  await commit(page, '#task-prop-Subject', 'Mine');
  // Someone else edits the file.
  const theirs = fs.readFileSync(file, 'utf8').replace('Package Error', 'Theirs');
  fs.writeFileSync(file, theirs);
  await clickSave(page, 0, 409);
  await page.waitForSelector('#conflict:not([hidden])');
  await shot(page, '06-conflict');
  assert.equal(fs.readFileSync(file, 'utf8'), theirs, 'not overwritten');
  // Reload shows their version.
  await page.click('#conflict-reload');
  await page.waitForSelector('#conflict', { state: 'hidden' });
  await page.waitForFunction(() => document.querySelector('#task-prop-Subject') && document.querySelector('#task-prop-Subject').value === 'Theirs');
  // Keep: an explicit overwrite after a new conflict.
  await commit(page, '#task-prop-Subject', 'Mine again');
  fs.writeFileSync(file, theirs.replace('Theirs', 'Theirs 2'));
  await clickSave(page, 0, 409);
  await page.waitForSelector('#conflict:not([hidden])');
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/api/files/0/save') && r.status() === 200),
    page.click('#conflict-keep'),
  ]);
  assert.match(fs.readFileSync(file, 'utf8'), /SendMailTask:Subject="Mine again"/);
});

test('new package with a connection manager and a Send Mail task: run delivers it, the inbox shows it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'designer-new-'));
  const file = path.join(dir, 'Nightly.dtsx');
  const d = await startDesigner([dir]);
  const page = await openPage(d.url);
  const inbox = await (await fetch(`${d.base}/api/inbox`, { headers: { 'X-Smtpcm-Token': d.token } })).json();
  const [host, port] = inbox.capture.split(':');

  await page.click('#new-package');
  await page.fill('#new-path', file);
  await page.fill('#new-name', 'Nightly');
  await shot(page, '07-new-package');
  await page.click('#create-package');
  await page.waitForSelector('[data-add-task]');
  await page.click('text=Add SMTP connection');
  await page.waitForSelector('#cm-key-SmtpServer');
  await commit(page, '#cm-key-SmtpServer', host);
  await commit(page, '#cm-key-Port', port);
  await page.click('[data-add-task]');
  await page.waitForSelector('#task-prop-ToLine');
  await commit(page, '#task-prop-FromLine', 'etl@example.com');
  await commit(page, '#task-prop-ToLine', 'ops@example.com');
  await commit(page, '#task-prop-Subject', 'Made in the designer');
  await commit(page, '#task-prop-MessageSource', 'Hello from a new package.');
  await shot(page, '08-new-task-mail');
  await clickSave(page, 0, 200);
  assert.ok(fs.existsSync(file));

  const run = spawn(BIN, ['run', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  run.stdout.on('data', (x) => { out += x; });
  run.stderr.on('data', (x) => { out += x; });
  const code = await new Promise((r) => run.on('exit', r));
  assert.equal(code, 0, out);

  await page.click('#open-inbox');
  const item = page.locator('#inbox-list button', { hasText: 'Made in the designer' });
  await item.waitFor();
  await item.click();
  await page.waitForSelector('#msg-text');
  assert.match(await page.textContent('#msg-text'), /Hello from a new package\./);
  assert.match(await page.textContent('#msg-headers'), /Subject: Made in the designer/);
  await shot(page, '09-inbox');
});

test('Test connection: Postfix STARTTLS succeeds; a refusing server shows stage and code', async (t) => {
  // A server that refuses every session in its greeting.
  const refuser = net.createServer((s) => { s.end('554 5.3.2 No SMTP service here\r\n'); });
  await new Promise((r) => refuser.listen(0, '127.0.0.1', r));
  after(() => refuser.close());
  const env = readEnvFile(process.env.SMTPCM_TEST_ENV);
  const { file } = tmpCopy(AT, 'Package.dtsx');
  const d = await startDesigner(env ? [file, '--ca-file', env.TLS_CA_FILE] : [file]);
  const page = await openPage(d.url);
  await page.click('[data-cm]');
  await page.waitForSelector('#cm-connection-string');

  await commit(page, '#cm-connection-string', `SmtpServer=127.0.0.1:${refuser.address().port};UseWindowsAuthentication=False;EnableSsl=False;`);
  await page.click('#test-connection');
  await page.waitForSelector('#test-error');
  const err = await page.textContent('#test-error');
  assert.match(err, /stage greeting/i);
  assert.match(err, /code 554/);
  await shot(page, '10-test-connection-refused');

  if (!env) {
    if (CI) assert.fail('SMTPCM_TEST_ENV is not set: Postfix is required when CI=true');
    t.diagnostic('skipped the Postfix half: no test servers (run scripts/test-servers.sh start)');
    return;
  }
  await commit(page, '#cm-connection-string', `SmtpServer=${env.TLS_SERVER_NAME}:${env.SMTP_STARTTLS_PORT};UseWindowsAuthentication=False;EnableSsl=True;`);
  await page.click('#test-connection');
  await page.waitForSelector('#test-ok');
  const ok = await page.textContent('#test-ok');
  assert.match(ok, /TLS: (?!none)/);
  assert.match(ok, /STARTTLS|PIPELINING/);
  await shot(page, '11-test-connection-ok');
});

test('the HTML page edits the smtpcm:: settings as task-scoped variables', async () => {
  const { file } = tmpCopy(AT, 'Html.dtsx');
  const d = await startDesigner([file]);
  const page = await openPage(d.url);
  await page.click('[data-task]');
  await page.click('#tab-html');
  await page.waitForSelector('#task-prop-html\\:BodyFormat');
  await choose(page, '#task-prop-html\\:BodyFormat', 'Html');
  await choose(page, '#task-prop-html\\:Template', 'True');
  // A bad value is refused with run's message.
  await page.fill('#task-prop-html\\:MaxHtmlBytes', 'lots');
  await page.locator('#task-prop-html\\:MaxHtmlBytes').dispatchEvent('change');
  await page.waitForFunction(() => document.querySelector('#task-error').textContent.includes('smtpcm::MaxHtmlBytes: "lots" is not a positive number of bytes'));
  await shot(page, '12-task-html');
  await clickSave(page, 0, 200);
  const saved = fs.readFileSync(file, 'utf8');
  assert.match(saved, /DTS:Namespace="smtpcm"\s+DTS:ObjectName="BodyFormat">\s*<DTS:VariableValue\s+DTS:DataType="8"\s+xml:space="preserve">Html</);
  assert.doesNotMatch(saved, /MaxHtmlBytes/);
});

/** A JSON API call with the token header, as a script would make it. */
async function call(d, method, p, body) {
  const r = await fetch(d.base + p, {
    method,
    headers: { 'X-Smtpcm-Token': d.token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const v = await r.json();
  assert.ok(r.ok, `${method} ${p}: ${JSON.stringify(v)}`);
  return v;
}

async function validateAndFollow(page, fileId, field) {
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/api/files/${fileId}/validate`)),
    page.click(`[data-validate="${fileId}"]`),
  ]);
  await page.click(`#findings [data-finding-field="${field}"]`);
}

test('a Validate finding opens its editor and focuses the field it concerns', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'designer-validate-'));
  const d = await startDesigner([dir]);
  const { id } = await call(d, 'POST', '/api/packages', { path: path.join(dir, 'V.dtsx'), name: 'V' });
  const cm = await call(d, 'POST', `/api/files/${id}/connections`, { name: 'Mail' });
  const t = await call(d, 'POST', `/api/files/${id}/tasks`, { name: 'Notify' });
  const taskPath = `/api/files/${id}/tasks/${encodeURIComponent(t.id)}`;
  const cmPath = `/api/files/${id}/connections/${encodeURIComponent(cm.id)}`;
  await call(d, 'PUT', cmPath, { fields: { SmtpServer: 'relay.example' } });
  await call(d, 'PUT', taskPath, { properties: { FromLine: 'a@example.com', ToLine: 'ops@@example.com', Subject: 'Hi', MessageSource: 'Body' } });
  const page = await openPage(d.url);

  // A bad To recipient: the Mail page's To field.
  await validateAndFollow(page, id, 'ToLine');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'task-prop-ToLine');
  assert.equal(await page.getAttribute('#task-prop-ToLine', 'aria-invalid'), 'true');
  await shot(page, '13-validate-finding-task');

  // A connection manager without SmtpServer: its editor's SmtpServer field.
  await call(d, 'PUT', taskPath, { properties: { ToLine: 'ops@example.com' } });
  await call(d, 'PUT', cmPath, { connection_string: 'UseWindowsAuthentication=False;EnableSsl=False;' });
  await validateAndFollow(page, id, 'SmtpServer');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'cm-key-SmtpServer');

  // An expression that fails: the expression's text box on the Expressions page.
  await call(d, 'PUT', cmPath, { fields: { SmtpServer: 'relay.example' } });
  await call(d, 'PUT', taskPath, { expressions: [{ property: 'Priority', expression: '"High"' }, { property: 'Subject', expression: '"Load " + @[User::Missing]' }] });
  await validateAndFollow(page, id, 'expr:Subject');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'expr-text-1');
  assert.equal(await page.inputValue('#expr-prop-1'), 'Subject');
  await shot(page, '14-validate-finding-expression');
});

/** What has the focus now: an id for it, whether it is labelled, and whether focus shows. */
async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    if (!el.dataset.kbd) el.dataset.kbd = String((window.__kbd = (window.__kbd || 0) + 1));
    const text = (n) => (n && n.textContent || '').trim();
    const byIds = (ids) => (ids || '').split(/\s+/).map((i) => text(document.getElementById(i))).join(' ').trim();
    const name = (el.labels && [...el.labels].map(text).join(' ').trim())
      || el.getAttribute('aria-label') || byIds(el.getAttribute('aria-labelledby'))
      || (['BUTTON', 'A'].includes(el.tagName) ? text(el) : '');
    const cs = getComputedStyle(el);
    const ring = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2) || cs.boxShadow !== 'none';
    return { kbd: el.dataset.kbd, tag: el.tagName, id: el.id, name, ring, cm: el.dataset.cm || null, task: el.dataset.task || null };
  });
}

/** Presses Tab until `want(info)` holds; checks every stop on the way is labelled and shows focus. */
async function tabTo(page, want, what, max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (!f) continue;
    assert.ok(f.name, `focus stop ${f.tag}#${f.id} has no label`);
    assert.ok(f.ring, `focus on ${f.tag}#${f.id} (${f.name}) is not visible`);
    if (want(f)) return f;
  }
  assert.fail(`Tab never reached ${what}`);
}

/** Every control of the editor in #main can be reached with Tab, and each is labelled. */
async function tabThroughEditor(page, label) {
  const controls = await page.evaluate(() => [...document.querySelectorAll('#main input, #main select, #main textarea, #main button, #main a[href], #main iframe')]
    .filter((e) => !e.disabled && e.offsetParent !== null)
    .map((e, i) => { e.dataset.kbdWant = String(i); return `${e.tagName}#${e.id || e.textContent.trim().slice(0, 30)}`; }));
  assert.ok(controls.length > 3, `${label}: editor has controls`);
  const seen = new Set();
  await page.focus('#main');
  for (let i = 0; i < controls.length + 40 && seen.size < controls.length; i++) {
    await page.keyboard.press('Tab');
    const want = await page.evaluate(() => document.activeElement && document.activeElement.dataset.kbdWant);
    const f = await focused(page);
    if (want === undefined || want === null) continue;
    assert.ok(f.name, `${label}: ${f.tag}#${f.id} has no label`);
    assert.ok(f.ring, `${label}: focus on ${f.tag}#${f.id} (${f.name}) is not visible`);
    seen.add(Number(want));
  }
  const missed = controls.filter((_, i) => !seen.has(i));
  assert.deepEqual(missed, [], `${label}: not reachable with Tab`);
}

test('keyboard: Tab reaches every explorer item and editor field, Enter and Space open items', async () => {
  const { file } = tmpCopy(AT, 'Package.dtsx');
  const d = await startDesigner([file]);
  const page = await openPage(d.url);
  await page.locator('body').click({ position: { x: 5, y: 5 } });

  // The explorer: Tab to the connection manager, Enter opens its editor.
  await tabTo(page, (f) => f.cm, 'the connection manager in the explorer');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#cm-key-SmtpServer');
  await tabThroughEditor(page, 'connection manager editor');
  assert.doesNotMatch(await page.textContent('#main'), /\bnull\b|undefined/, 'no stray null or undefined in the editor');
  await shot(page, '15-keyboard-connection-manager');

  // Back in the explorer (Shift+Tab out of the editor), Space opens the task.
  await page.focus('[data-cm]');
  await tabTo(page, (f) => f.task, 'the Send Mail task in the explorer');
  await page.keyboard.press('Space');
  await page.waitForSelector('#tab-general');
  for (const tab of ['general', 'mail', 'html', 'expressions']) {
    await page.focus('#tab-general');
    if (tab !== 'general') await tabTo(page, (f) => f.id === `tab-${tab}`, `the ${tab} tab`, 10);
    await page.keyboard.press('Enter');
    await page.waitForFunction((t) => document.querySelector(`#tab-${t}`).getAttribute('aria-selected') === 'true', tab);
    await tabThroughEditor(page, `task editor, ${tab} page`);
  }
  await shot(page, '16-keyboard-task');

  // The header's actions are reachable too, and the inbox opens with Enter.
  await page.focus('#new-package');
  await tabTo(page, (f) => f.id === 'open-inbox', 'the Inbox button', 3);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#inbox-list');
});

test('Send test message from the task editor: the message shows in the Inbox page', async () => {
  const { file } = tmpCopy(AT, 'Package.dtsx');
  const original = fs.readFileSync(file);
  const d = await startDesigner([file]);
  const page = await openPage(d.url);
  await page.click('[data-task]');
  await page.click('#tab-mail');
  await page.waitForSelector('#task-prop-ToLine');
  await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/send-test')),
    page.click('#send-test'),
  ]);
  await page.waitForFunction(() => /Sent to the capture server/.test(document.querySelector('#send-result').textContent));
  await shot(page, '17-send-test-sent');

  await page.click('#open-inbox');
  const item = page.locator('#inbox-list button', { hasText: 'Package Error' });
  await item.waitFor();
  assert.match(await item.textContent(), /to atorres@linamar\.com/);
  await item.click();
  await page.waitForSelector('#msg-headers');
  assert.match(await page.textContent('#msg-headers'), /^Subject: Package Error$/m);
  assert.match(await page.textContent('#msg-headers'), /^To: .*atorres@linamar\.com/m);
  // The MessageSource expression was resolved against the package's variables.
  assert.match(await page.textContent('#msg-text'), /Return Code:0\s+Error:\s+Output:/);
  await shot(page, '18-send-test-inbox');
  // Trying a task writes nothing.
  assert.deepEqual(fs.readFileSync(file), original);
});
