// smtpcm designer page: plain JavaScript over the JSON API (see the README).
'use strict';

const $ = (sel) => document.querySelector(sel);
const main = () => $('#main');
let files = [];
let current = null; // { kind: 'cm'|'task'|'inbox', file, id }
let inboxTimer = null;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let data = null;
  const text = await r.text();
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { error: text }; }
  if (!r.ok) {
    const err = new Error((data && data.error) || r.statusText);
    err.status = r.status;
    err.field = data && data.field;
    throw err;
  }
  return data;
}

function status(text, cls) {
  const s = $('#status');
  s.textContent = text;
  s.className = cls || '';
}

// ---- explorer -------------------------------------------------------------------------------

async function refresh() {
  files = await api('GET', '/api/files');
  renderExplorer();
}

function execList(f, nodes) {
  if (!nodes.length) return null;
  return el('ul', {}, nodes.map((n) => el('li', {},
    n.kind === 'send_mail'
      ? el('button', { type: 'button', class: 'link', 'data-task': n.id, onclick: () => openTask(f.id, n.id) }, '✉ ' + n.name)
      : el('span', {}, (n.children.length ? '▸ ' : '• ') + n.name, el('span', { class: 'muted' }, ' (' + n.kind.replace('_', ' ') + ')'),
        ['sequence', 'for_loop', 'foreach_loop'].includes(n.kind) ? el('button', { type: 'button', class: 'link', 'aria-label': 'Add a Send Mail task to ' + n.name, onclick: () => addTask(f.id, n.id) }, '+ task') : null),
    execList(f, n.children),
    n.event_handlers.length ? el('ul', {}, n.event_handlers.map((h) => el('li', {}, el('span', { class: 'muted' }, 'on ' + h.event), execList(f, h.children)))) : null,
  )));
}

function renderExplorer() {
  const ex = $('#explorer');
  ex.replaceChildren();
  const list = el('ul', {});
  for (const f of files) {
    const item = el('li', { 'data-file': f.path },
      el('h2', {}, f.name, f.dirty ? el('span', { class: 'dirty', title: 'unsaved changes' }, ' ● unsaved') : null,
        f.changed_on_disk ? el('span', { class: 'warning' }, ' (changed on disk)') : null),
      f.format ? el('div', { class: 'muted' }, `format ${f.format}`) : null);
    if (f.error) item.append(el('div', { class: 'diag', role: 'alert' }, f.error.message));
    if (!f.error) {
      const actions = el('div', { class: 'toolbar' },
        el('button', { type: 'button', class: 'primary', 'data-save': f.id, onclick: () => save(f.id, false) }, 'Save'),
        el('button', { type: 'button', onclick: () => reload(f.id) }, 'Reload'),
        f.kind === 'package' ? el('button', { type: 'button', 'data-validate': f.id, onclick: () => validate(f.id) }, 'Validate') : null,
        f.kind === 'package' ? el('button', { type: 'button', onclick: () => addConnection(f.id) }, 'Add SMTP connection') : null,
        f.kind === 'package' ? el('button', { type: 'button', 'data-add-task': f.id, onclick: () => addTask(f.id, null) }, 'Add Send Mail task') : null);
      item.append(actions);
      item.append(el('h3', {}, 'Connection managers'));
      item.append(f.connections.length ? el('ul', {}, f.connections.map((c) => el('li', {},
        c.smtp && !(c.project && f.kind === 'package')
          ? el('button', { type: 'button', class: 'link', 'data-cm': c.id, onclick: () => openConnection(f.id, c.id) }, c.name)
          : el('span', {}, c.name),
        el('span', { class: 'muted' }, ` ${c.creation_name}${c.project ? ', project' : ''}`)))) : el('p', { class: 'muted' }, 'none'));
      if (f.kind === 'package') {
        item.append(el('h3', {}, 'Executables'));
        item.append(execList(f, f.executables) || el('p', { class: 'muted' }, 'none'));
        if (f.event_handlers.length) {
          item.append(el('h3', {}, 'Event handlers'));
          item.append(el('ul', {}, f.event_handlers.map((h) => el('li', {}, h.event, execList(f, h.children)))));
        }
        item.append(el('h3', {}, 'Variables and parameters'));
        const vars = f.variables.filter((v) => !v.name.startsWith('System::'));
        const rows = vars.map((v) => el('li', {}, v.name, el('span', { class: 'muted' }, ' = ' + (v.expression ? v.expression : v.value))))
          .concat(f.parameters.map((p) => el('li', {}, p.name, el('span', { class: 'muted' }, p.sensitive ? ' (sensitive)' : ' = ' + p.value))));
        item.append(rows.length ? el('ul', {}, rows) : el('p', { class: 'muted' }, 'none'));
      }
    }
    list.append(item);
  }
  ex.append(list);
}

async function afterEdit() {
  await refresh();
  const f = files.find((x) => current && x.id === current.file);
  status(f && f.dirty ? 'Unsaved changes' : '', f && f.dirty ? 'dirty' : '');
}

// ---- save / conflict ------------------------------------------------------------------------

async function save(id, force) {
  try {
    await api('POST', `/api/files/${id}/save`, { force });
    $('#conflict').hidden = true;
    status('Saved', 'ok');
    await refresh();
  } catch (e) {
    if (e.status === 409) {
      $('#conflict-text').textContent = e.message;
      const d = $('#conflict');
      d.hidden = false;
      d.dataset.file = id;
      $('#conflict-reload').focus();
      status('Not saved: the file changed on disk', 'error');
    } else {
      status('Not saved: ' + e.message, 'error');
    }
  }
}

async function reload(id) {
  await api('POST', `/api/files/${id}/reload`);
  $('#conflict').hidden = true;
  status('Reloaded from disk', 'ok');
  await refresh();
  if (current && current.file === id) {
    if (current.kind === 'cm') openConnection(id, current.id);
    if (current.kind === 'task') openTask(id, current.id);
  }
}

// ---- connection manager editor ------------------------------------------------------------

function keyControl(k, value, onchange) {
  const id = 'cm-key-' + k.name;
  const help = k.help + (k.kind.type === 'secret_source' ? ' (a name, never the secret itself)' : '');
  let input;
  if (k.kind.type === 'bool') {
    input = el('select', { id, 'aria-describedby': id + '-help' },
      el('option', { value: '' }, '(not set)'),
      el('option', { value: 'True' }, 'True'),
      el('option', { value: 'False' }, 'False'));
    input.value = value === undefined ? '' : (/^true$/i.test(value) ? 'True' : 'False');
  } else if (k.kind.type === 'choice') {
    input = el('select', { id, 'aria-describedby': id + '-help' }, el('option', { value: '' }, '(not set)'),
      k.kind.choices.map((c) => el('option', { value: c }, c)));
    input.value = value || '';
  } else {
    input = el('input', { id, type: k.kind.type === 'number' ? 'number' : 'text', value: value || '', 'aria-describedby': id + '-help' });
  }
  input.addEventListener('change', () => onchange(k.name, input.value));
  return [el('label', { for: id, title: help }, k.name), el('div', {}, input, el('div', { id: id + '-help', class: 'muted' }, help))];
}

async function openConnection(fileId, cmId) {
  stopInbox();
  current = { kind: 'cm', file: fileId, id: cmId };
  const cm = await api('GET', `/api/files/${fileId}/connections/${encodeURIComponent(cmId)}`);
  renderConnection(fileId, cm);
}

// Counts editor redraws, so that tests (and scripts driving the page) can wait for one.
function drawn() { document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1); }

function renderConnection(fileId, cm) {
  const m = main();
  const errBox = el('div', { id: 'cm-error', class: 'error', role: 'alert' }, cm.error || '');
  const put = async (body) => {
    try {
      const next = await api('PUT', `/api/files/${fileId}/connections/${encodeURIComponent(cm.id)}`, body);
      renderConnection(fileId, next);
      await afterEdit();
    } catch (e) {
      $('#cm-error').textContent = e.message;
      if (e.field) {
        const target = document.getElementById('cm-key-' + e.field) || document.getElementById('cm-' + e.field.replace('_', '-'));
        if (target) target.setAttribute('aria-invalid', 'true');
      }
    }
  };
  const setField = (k, v) => put({ fields: { [k]: v } });
  const form = el('form', { class: 'grid', onsubmit: (e) => e.preventDefault() },
    el('label', { for: 'cm-name' }, 'Name'),
    el('input', { id: 'cm-name', type: 'text', value: cm.name, onchange: (e) => put({ name: e.target.value }) }),
    el('label', { for: 'cm-description' }, 'Description'),
    el('input', { id: 'cm-description', type: 'text', value: cm.description, onchange: (e) => put({ description: e.target.value }) }));
  const ssis = el('form', { class: 'grid', onsubmit: (e) => e.preventDefault() });
  const ext = el('form', { class: 'grid', onsubmit: (e) => e.preventDefault() });
  for (const k of cm.keys) (k.ssis ? ssis : ext).append(...keyControl(k, cm.fields[k.name], setField));
  const cs = el('textarea', { id: 'cm-connection-string', rows: 3, onchange: (e) => put({ connection_string: e.target.value }) });
  cs.value = cm.connection_string;
  const testOut = el('div', { id: 'test-result', role: 'status', 'aria-live': 'polite' });
  // Expressions on the connection manager, shown so that a Validate finding can point at one.
  const exprs = cm.expressions.length ? el('fieldset', {}, el('legend', {}, 'Property expressions (read-only here)'),
    el('div', { class: 'grid' }, cm.expressions.map((x) => [
      el('label', { for: 'cm-expr-' + x.property }, x.property),
      el('input', { id: 'cm-expr-' + x.property, type: 'text', readonly: true, value: x.expression })]))) : null;
  m.replaceChildren(
    el('h2', {}, 'SMTP Connection Manager: ' + cm.name),
    form,
    el('fieldset', {}, el('legend', {}, 'SSIS settings'), ssis),
    el('fieldset', {}, el('legend', {}, 'Extensions'), ext),
    ...(exprs ? [exprs] : []),
    el('fieldset', {}, el('legend', {}, 'Connection string'),
      el('label', { for: 'cm-connection-string' }, 'Connection string (edit here or above)'), cs,
      cm.warnings.map((w) => el('div', { class: 'warning' }, 'warning: ' + w)), errBox),
    el('div', { class: 'toolbar' },
      el('button', { type: 'button', id: 'test-connection', onclick: async () => {
        testOut.replaceChildren(el('span', { class: 'muted' }, 'Testing…'));
        try {
          const r = await api('POST', '/api/test-connection', { connection_string: cs.value });
          testOut.replaceChildren(renderTest(r));
        } catch (e) { testOut.replaceChildren(el('div', { class: 'error' }, e.message)); }
      } }, 'Test connection'),
      el('button', { type: 'button', id: 'delete-connection', onclick: () => remove('connections', fileId, cm.id) }, 'Delete connection manager')),
    testOut);
  drawn();
}

function renderTest(r) {
  if (!r.ok) {
    return el('div', { class: 'error', id: 'test-error' },
      el('div', {}, 'Failed' + (r.stage ? ` at stage ${r.stage}` : '') + (r.code ? `, code ${r.code}` : '')),
      el('div', {}, r.error));
  }
  return el('div', { class: 'ok', id: 'test-ok' },
    el('div', {}, 'Connected: ' + r.greeting),
    el('div', {}, 'TLS: ' + (r.tls || 'none (plain text)')),
    el('div', {}, 'Authentication: ' + (r.mechanism ? `${r.mechanism} as ${r.identity}` : 'none (anonymous)')),
    el('div', {}, 'Capabilities:'), el('pre', {}, r.capabilities.join('\n')));
}

async function addConnection(fileId) {
  const name = prompt('Name of the new SMTP connection manager', 'SMTP Connection Manager');
  if (name === null) return;
  try {
    const cm = await api('POST', `/api/files/${fileId}/connections`, { name });
    await afterEdit();
    current = { kind: 'cm', file: fileId, id: cm.id };
    renderConnection(fileId, cm);
    return cm;
  } catch (e) { status(e.message, 'error'); }
}

async function addTask(fileId, container) {
  const name = prompt('Name of the new Send Mail task', 'Send Mail Task');
  if (name === null) return;
  try {
    const r = await api('POST', `/api/files/${fileId}/tasks`, { container, name });
    await afterEdit();
    openTask(fileId, r.id, 'mail');
  } catch (e) { status(e.message, 'error'); }
}

async function remove(kind, fileId, id) {
  if (!confirm('Delete it? (Nothing is written until you save.)')) return;
  try {
    await api('DELETE', `/api/files/${fileId}/${kind}/${encodeURIComponent(id)}`);
    main().replaceChildren(el('p', { class: 'muted' }, 'Deleted (unsaved).'));
    await afterEdit();
  } catch (e) { status(e.message, 'error'); }
}

// ---- Send Mail task editor ----------------------------------------------------------------

let taskTab = 'general';

async function openTask(fileId, taskId, tab) {
  stopInbox();
  if (tab) taskTab = tab;
  current = { kind: 'task', file: fileId, id: taskId };
  const t = await api('GET', `/api/files/${fileId}/tasks/${encodeURIComponent(taskId)}`);
  renderTask(fileId, t);
}

function renderTask(fileId, t) {
  const m = main();
  const put = async (body) => {
    try {
      const next = await api('PUT', `/api/files/${fileId}/tasks/${encodeURIComponent(t.id)}`, body);
      renderTask(fileId, next);
      await afterEdit();
    } catch (e) {
      const box = $('#task-error');
      if (box) box.textContent = e.message;
      const target = e.field && document.getElementById('task-prop-' + e.field);
      if (target) { target.setAttribute('aria-invalid', 'true'); target.focus(); }
    }
  };
  const prop = (name, value) => put({ properties: { [name]: value } });
  const text = (name, label, value, multi) => [
    el('label', { for: 'task-prop-' + name }, label),
    multi ? (() => { const a = el('textarea', { id: 'task-prop-' + name, onchange: (e) => prop(name, e.target.value) }); a.value = value; return a; })()
      : el('input', { id: 'task-prop-' + name, type: 'text', value, onchange: (e) => prop(name, e.target.value) })];
  const tabs = el('div', { class: 'tabs', role: 'tablist' }, ['general', 'mail', 'html', 'expressions'].map((n) =>
    el('button', { type: 'button', role: 'tab', id: 'tab-' + n, 'aria-controls': 'task-panel', 'aria-selected': taskTab === n ? 'true' : 'false', onclick: () => { taskTab = n; renderTask(fileId, t); } },
      n === 'html' ? 'HTML' : n[0].toUpperCase() + n.slice(1))));
  const panel = el('div', { role: 'tabpanel', id: 'task-panel', 'aria-labelledby': 'tab-' + taskTab });
  const p = t.properties;
  if (taskTab === 'general') {
    panel.append(el('form', { class: 'grid', onsubmit: (e) => e.preventDefault() },
      el('label', { for: 'task-name' }, 'Name'),
      el('input', { id: 'task-name', type: 'text', value: t.name, onchange: (e) => put({ name: e.target.value }) }),
      el('label', { for: 'task-description' }, 'Description'),
      el('input', { id: 'task-description', type: 'text', value: t.description, onchange: (e) => put({ description: e.target.value }) })));
  } else if (taskTab === 'mail') {
    const smtp = t.connections.filter((c) => c.smtp);
    const conn = el('select', { id: 'task-prop-SmtpConnection', onchange: (e) => prop('SmtpConnection', e.target.value) },
      el('option', { value: '' }, '(none)'), smtp.map((c) => el('option', { value: c.id }, c.name)));
    const sel = smtp.find((c) => c.id.toLowerCase() === p.SmtpConnection.toLowerCase() || c.name === p.SmtpConnection);
    conn.value = sel ? sel.id : '';
    const mst = el('select', { id: 'task-prop-MessageSourceType', onchange: (e) => prop('MessageSourceType', e.target.value) },
      ['DirectInput', 'FileConnection', 'Variable'].map((v) => el('option', { value: v }, v)));
    mst.value = p.MessageSourceType;
    let source;
    if (p.MessageSourceType === 'FileConnection') {
      source = el('select', { id: 'task-prop-MessageSource', onchange: (e) => prop('MessageSource', e.target.value) },
        el('option', { value: '' }, '(choose a File connection)'), t.connections.filter((c) => c.file).map((c) => el('option', { value: c.name }, c.name)));
      source.value = p.MessageSource;
    } else if (p.MessageSourceType === 'Variable') {
      const pick = el('select', { id: 'task-prop-MessageSource', onchange: (e) => prop('MessageSource', e.target.value) },
        el('option', { value: '' }, '(choose a variable)'), t.variables.map((v) => el('option', { value: v }, v)));
      pick.value = p.MessageSource;
      source = el('div', {}, pick, el('button', { type: 'button', id: 'new-variable', onclick: async () => {
        const name = prompt('Name of the new User:: string variable', 'MailBody');
        if (!name) return;
        try {
          const r = await api('POST', `/api/files/${fileId}/variables`, { name, value: '' });
          await prop('MessageSource', r.name);
        } catch (e) { $('#task-error').textContent = e.message; }
      } }, 'New variable…'));
    } else {
      source = el('textarea', { id: 'task-prop-MessageSource', rows: 5, onchange: (e) => prop('MessageSource', e.target.value) });
      source.value = p.MessageSource;
    }
    const pri = el('select', { id: 'task-prop-Priority', onchange: (e) => prop('Priority', e.target.value) },
      ['High', 'Normal', 'Low'].map((v) => el('option', { value: v }, v)));
    pri.value = p.Priority;
    const atts = p.FileAttachments ? p.FileAttachments.split('|') : [];
    const newAtt = el('input', { id: 'task-new-attachment', type: 'text' });
    panel.append(el('form', { class: 'grid', onsubmit: (e) => e.preventDefault() },
      el('label', { for: 'task-prop-SmtpConnection' }, 'SMTP connection'),
      el('div', {}, conn, el('button', { type: 'button', id: 'new-connection', onclick: async () => {
        const cm = await addConnection(current.file);
        if (cm) { await prop('SmtpConnection', cm.id); openTask(fileId, t.id, 'mail'); }
      } }, 'New connection…')),
      text('FromLine', 'From', p.FromLine), text('ToLine', 'To', p.ToLine), text('CCLine', 'Cc', p.CCLine), text('BCCLine', 'Bcc', p.BCCLine),
      text('Subject', 'Subject', p.Subject),
      el('label', { for: 'task-prop-MessageSourceType' }, 'Message source type'), mst,
      el('label', { for: 'task-prop-MessageSource' }, 'Message source'), source,
      el('label', { for: 'task-prop-Priority' }, 'Priority'), pri,
      el('span', { id: 'att-label', class: 'label' }, 'Attachments'),
      el('div', {},
        el('ul', { id: 'task-attachments', class: 'attachments', 'aria-labelledby': 'att-label' }, atts.map((a, i) => el('li', {}, a, ' ',
          el('button', { type: 'button', 'aria-label': 'Remove attachment ' + a, onclick: () => prop('FileAttachments', atts.filter((_, j) => j !== i).join('|')) }, 'Remove')))),
        el('label', { for: 'task-new-attachment' }, 'Add attachment path'), newAtt,
        el('button', { type: 'button', onclick: () => newAtt.value && prop('FileAttachments', atts.concat([newAtt.value]).join('|')) }, 'Add'))));
  } else if (taskTab === 'html') {
    // One row per setting of the library's table (task-scoped smtpcm:: variables).
    const choices = { BodyFormat: ['Text', 'Html'], Template: ['False', 'True'], InlineCss: ['False', 'True'] };
    const form = el('form', { class: 'grid', onsubmit: (e) => e.preventDefault() });
    for (const h of t.html_settings) {
      const id = 'task-prop-html:' + h.name;
      const set = (e) => put({ html: { [h.name]: e.target.value } });
      let input;
      if (choices[h.name]) {
        input = el('select', { id, onchange: set }, el('option', { value: '' }, '(not set)'), choices[h.name].map((v) => el('option', { value: v }, v)));
        input.value = h.value === null ? '' : (choices[h.name].find((v) => v.toLowerCase() === h.value.trim().toLowerCase()) || h.value);
      } else if (h.name === 'TextBody') {
        input = el('textarea', { id, rows: 4, onchange: set });
        input.value = h.value || '';
      } else {
        input = el('input', { id, type: 'text', value: h.value || '', onchange: set });
      }
      input.setAttribute('aria-describedby', id + '-help');
      form.append(el('label', { for: id }, 'smtpcm::' + h.name), el('div', {}, input,
        el('div', { id: id + '-help', class: 'muted' }, h.meaning + (h.expression ? ` (expression: ${h.expression})` : ''))));
    }
    panel.append(el('p', { class: 'muted' }, 'Stored as task-scoped variables in the namespace smtpcm; SSIS ignores them and sends the body as text.'), form);
  } else {
    const rows = t.expressions.map((x) => ({ ...x }));
    const table = el('table', { id: 'expressions' }, el('caption', { class: 'muted' }, 'Property expressions (evaluated when the task runs)'),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Property'), el('th', { scope: 'col' }, 'Expression'), el('th', { scope: 'col' }, 'Preview'), el('th', { scope: 'col' }, ''))));
    const body = el('tbody', {});
    const commit = () => put({ expressions: rows.filter((r) => r.property) });
    rows.forEach((r, i) => {
      const propSel = el('select', { id: `expr-prop-${i}`, 'aria-label': `Property of expression ${i + 1}`, onchange: (e) => { r.property = e.target.value; commit(); } },
        t.property_names.concat(['Description']).map((n) => el('option', { value: n }, n)));
      propSel.value = r.property;
      const input = el('input', { id: `expr-text-${i}`, type: 'text', value: r.expression, 'aria-label': `Expression for ${r.property}`, onchange: (e) => { r.expression = e.target.value; commit(); } });
      const out = el('td', { class: 'preview', id: `expr-preview-${i}`, 'aria-live': 'polite' });
      const doPreview = async () => {
        const pv = await api('POST', `/api/files/${fileId}/preview`, { expression: input.value });
        // The message wraps; the expression and its caret stay one unwrapped line each
        // (scrolling sideways in a narrow column), so the caret stays under its column.
        out.replaceChildren(pv.error ? el('div', { class: 'error' }, el('div', {}, pv.error),
          el('pre', { class: 'caret' }, `${input.value}\n${' '.repeat(Math.max(0, pv.column - 1))}^`)) : pv.value);
      };
      body.append(el('tr', {}, el('td', {}, propSel), el('td', {}, input), out,
        el('td', {}, el('button', { type: 'button', onclick: doPreview }, 'Preview'),
          el('button', { type: 'button', 'aria-label': 'Remove expression for ' + r.property, onclick: () => { rows.splice(i, 1); commit(); } }, 'Remove'))));
      doPreview();
    });
    table.append(body);
    panel.append(table, el('div', { class: 'toolbar' },
      el('button', { type: 'button', id: 'add-expression', onclick: () => {
        const used = new Set(rows.map((r) => r.property));
        const free = t.property_names.find((n) => !used.has(n));
        if (free) { rows.push({ property: free, expression: '""' }); commit(); }
      } }, 'Add expression')));
  }
  const sendOut = el('div', { id: 'send-result', role: 'status', 'aria-live': 'polite' });
  const real = el('input', { type: 'checkbox', id: 'send-real' });
  m.replaceChildren(el('h2', {}, 'Send Mail Task: ' + t.name), tabs, panel,
    el('div', { id: 'task-error', class: 'error', role: 'alert' }),
    el('div', { class: 'toolbar' },
      el('button', { type: 'button', id: 'send-test', onclick: async () => {
        sendOut.textContent = 'Sending…';
        try {
          const r = await api('POST', `/api/files/${fileId}/tasks/${encodeURIComponent(t.id)}/send-test`, { real: real.checked });
          const errs = r.executables.flatMap((x) => x.errors).concat(r.errors).map((e) => e.message);
          sendOut.replaceChildren(r.ok ? el('span', { class: 'ok' }, 'Sent' + (r.capture ? ' to the capture server (see Inbox)' : ' to the real server'))
            : el('span', { class: 'error' }, errs.join('\n') || 'failed'));
        } catch (e) { sendOut.replaceChildren(el('span', { class: 'error' }, e.message)); }
      } }, 'Send test message'),
      real, el('label', { for: 'send-real' }, 'to the real server (not the capture server)'),
      el('button', { type: 'button', id: 'delete-task', onclick: () => remove('tasks', fileId, t.id) }, 'Delete task')),
    sendOut);
  drawn();
}

// ---- validate -------------------------------------------------------------------------------

async function validate(fileId) {
  stopInbox();
  const r = await api('POST', `/api/files/${fileId}/validate`);
  const m = main();
  m.replaceChildren(el('h2', {}, 'Validation'),
    el('p', { class: r.exit_code === 0 ? 'ok' : 'error' }, r.exit_code === 0 ? 'No errors.' : `Exit code ${r.exit_code}`),
    el('ul', { id: 'findings' }, r.findings.map((f) => el('li', { class: f.severity === 'error' ? 'error' : 'warning' },
      (f.task || f.connection) && f.field
        ? el('button', { type: 'button', class: 'link', 'data-finding-field': f.field, onclick: () => goToFinding(fileId, f) }, fieldLabel(f.field) + ': ')
        : null,
      f.message))));
}

function fieldLabel(field) {
  if (field.startsWith('expr:')) return 'expression for ' + field.slice(5);
  if (field.startsWith('html:')) return 'smtpcm::' + field.slice(5);
  return field;
}

// The element of an open editor that shows `field` (the API's field names, see the README).
function fieldElement(kind, field) {
  if (kind === 'cm') {
    if (field.startsWith('expr:')) return document.getElementById('cm-expr-' + field.slice(5));
    return document.getElementById('cm-key-' + field) || document.getElementById('cm-' + field.toLowerCase().replace('_', '-'));
  }
  if (field === 'Name') return $('#task-name');
  if (field === 'Description') return $('#task-description');
  if (field === 'FileAttachments') return $('#task-new-attachment');
  if (field.startsWith('expr:')) {
    const prop = field.slice(5).toLowerCase();
    const sel = [...document.querySelectorAll('#expressions select')].find((s) => s.value.toLowerCase() === prop);
    return sel ? document.getElementById(sel.id.replace('expr-prop-', 'expr-text-')) : null;
  }
  return document.getElementById('task-prop-' + field);
}

function markField(target) {
  if (!target) return;
  document.querySelectorAll('.finding-target').forEach((x) => x.classList.remove('finding-target'));
  target.setAttribute('aria-invalid', 'true');
  target.classList.add('finding-target');
  target.focus();
}

// Opens the editor a Validate finding is about and focuses its field.
async function goToFinding(fileId, f) {
  if (f.connection) {
    // A project connection manager is edited in its own .conmgr file.
    const own = files.find((x) => x.id === fileId);
    const local = own && own.connections.find((c) => c.id === f.connection && !c.project);
    const holder = local ? own : files.find((x) => x.kind === 'conmgr' && x.connections.some((c) => c.id === f.connection));
    if (!holder) { status('The connection manager is not open here', 'error'); return; }
    await openConnection(holder.id, f.connection);
    $('#cm-error').textContent = f.message;
    markField(fieldElement('cm', f.field));
    return;
  }
  const field = f.field;
  const tab = field === 'Name' || field === 'Description' ? 'general'
    : field.startsWith('expr:') ? 'expressions' : field.startsWith('html:') ? 'html' : 'mail';
  await openTask(fileId, f.task, tab);
  $('#task-error').textContent = f.message;
  markField(fieldElement('task', field));
}

// ---- new package ----------------------------------------------------------------------------

function newPackage() {
  stopInbox();
  const m = main();
  const err = el('div', { class: 'error', role: 'alert' });
  m.replaceChildren(el('h2', {}, 'New package or project connection manager'),
    el('form', { class: 'grid', onsubmit: async (e) => {
      e.preventDefault();
      try {
        const p = $('#new-path').value;
        const r = await api('POST', /\.conmgr$/i.test(p) ? '/api/conmgr' : '/api/packages', { path: p, name: $('#new-name').value });
        await afterEdit();
        status('New package created (unsaved)', 'dirty');
        m.replaceChildren(el('p', {}, 'Created. Add a connection manager from the explorer, then save.'));
        return r;
      } catch (x) { err.textContent = x.message; }
    } },
    el('label', { for: 'new-path' }, 'File path (.dtsx, or .conmgr for a project connection manager)'), el('input', { id: 'new-path', type: 'text', required: true }),
    el('label', { for: 'new-name' }, 'Name'), el('input', { id: 'new-name', type: 'text' }),
    el('span', {}), el('div', {}, el('button', { type: 'submit', class: 'primary', id: 'create-package' }, 'Create'))), err);
}

// ---- inbox ----------------------------------------------------------------------------------

function stopInbox() { if (inboxTimer) { clearInterval(inboxTimer); inboxTimer = null; } }

async function openInbox() {
  stopInbox();
  current = { kind: 'inbox' };
  const m = main();
  const list = el('ul', { id: 'inbox-list', 'aria-label': 'Messages' });
  const view = el('div', { id: 'inbox-view' });
  const where = el('p', { class: 'muted' });
  m.replaceChildren(el('h2', {}, 'Inbox of the capture server'), where, el('div', { class: 'inbox' }, list, view));
  let seen = -1;
  const poll = async () => {
    const r = await api('GET', '/api/inbox');
    where.textContent = `Listening on ${r.capture}; messages sent with "Send test message" arrive here.`;
    if (r.messages.length === seen) return;
    seen = r.messages.length;
    list.replaceChildren(...(r.messages.length ? r.messages.slice().reverse().map((x) => el('li', {},
      el('button', { type: 'button', onclick: () => showMessage(x.id, view) }, el('strong', {}, x.subject || '(no subject)'), el('br'), el('span', { class: 'muted' }, 'from ' + x.from + ' to ' + x.to.join(', '))))) : [el('li', { class: 'muted' }, 'No messages yet.')]));
  };
  await poll();
  inboxTimer = setInterval(() => poll().catch(() => {}), 1000);
}

async function showMessage(id, view) {
  const msg = await api('GET', `/api/inbox/${id}`);
  const headers = msg.headers.map(([k, v]) => `${k}: ${v}`).join('\n');
  view.replaceChildren(
    el('h3', {}, 'Headers'), el('pre', { id: 'msg-headers' }, headers),
    el('h3', {}, 'Text body'), el('pre', { id: 'msg-text' }, msg.text || '(none)'),
    el('h3', {}, 'HTML body'),
    msg.html ? el('iframe', { id: 'msg-html', title: 'HTML body', sandbox: '', src: `/api/inbox/${id}/html` }) : el('p', { class: 'muted' }, '(none)'),
    el('h3', {}, 'Attachments'),
    msg.attachments.length ? el('ul', { class: 'attachments' }, msg.attachments.map((a) => el('li', {},
      el('a', { href: `/api/inbox/${id}/attachments/${a.index}`, download: a.name }, a.name), ` (${a.content_type}, ${a.size} bytes)`))) : el('p', { class: 'muted' }, '(none)'),
    el('p', {}, el('a', { href: `/api/inbox/${id}/raw`, target: '_blank', rel: 'noopener' }, 'Raw source')));
}

// ---- start ----------------------------------------------------------------------------------

$('#new-package').addEventListener('click', newPackage);
$('#open-inbox').addEventListener('click', openInbox);
$('#conflict-reload').addEventListener('click', () => reload(Number($('#conflict').dataset.file)));
$('#conflict-keep').addEventListener('click', () => save(Number($('#conflict').dataset.file), true));
$('#conflict-cancel').addEventListener('click', () => { $('#conflict').hidden = true; });
if (location.search.includes('token=')) history.replaceState(null, '', '/');
refresh().catch((e) => status(e.message, 'error'));
