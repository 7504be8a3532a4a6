/* redhive manager — single-page web UI.
 * Plain browser JavaScript, no build step, no dependencies. Sections:
 *   1. DOM helpers        2. formatting & validation   3. API client
 *   4. toasts & dialogs   5. router & page shell       6. setup wizard
 *   7. login              8. tenant card               9. dashboard
 *  10. tenant page       11. settings                 12. registry
 *  13. boot
 * Server data is only ever put into the page as text (textContent / text nodes), never as HTML.
 */
'use strict';
(() => {
  // ---------------------------------------------------------------- 1. DOM helpers

  const $ = (sel, root = document) => root.querySelector(sel);
  const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'type']);

  /** h('a', {href, class, onclick, 'data-x': 1}, 'text', child, [more]) — builds DOM safely. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (PROPS.has(k)) el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    return append(el, children);
  }

  function append(el, children) {
    for (const c of [children].flat(Infinity)) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  const clear = (el) => { el.replaceChildren(); return el; };
  const enc = encodeURIComponent;

  function setBusy(btn, busy) {
    if (!btn) return;
    btn.disabled = busy;
    btn.classList.toggle('busy', busy);
    if (busy) btn.setAttribute('aria-busy', 'true'); else btn.removeAttribute('aria-busy');
  }

  /** A labelled form field; the input gets `_error(msg)` to show/clear an inline message. */
  function field(label, input, hint) {
    const errId = input.id + '-error';
    const hintId = input.id + '-hint';
    const err = h('p', { class: 'field-error', id: errId, hidden: true, role: 'alert' });
    const hintEl = hint ? h('p', { class: 'hint', id: hintId }, hint) : null;
    input.setAttribute('aria-describedby', [hint ? hintId : '', errId].join(' ').trim());
    input._error = (msg) => {
      err.textContent = msg || '';
      err.hidden = !msg;
      if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
      return !msg;
    };
    input._hint = hintEl;
    const isCheck = input.type === 'checkbox';
    return h('div', { class: isCheck ? 'field field-check' : 'field' },
      isCheck ? h('label', { for: input.id }, input, h('span', null, label)) : h('label', { for: input.id }, label),
      isCheck ? null : input, hintEl, err);
  }

  const input = (id, attrs = {}) => h('input', { id, name: id, type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });

  function select(id, options, value) {
    return h('select', { id, name: id },
      options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
  }

  // ---------------------------------------------------------------- 2. formatting & validation

  const MiB = 1024 * 1024;
  const GiB = 1024 * MiB;
  const LABEL_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
  const MEMORY_RE = /^\d+(\.\d+)?\s*(b|k|m|g|t|kb|mb|gb|tb|kib|mib|gib|tib)?$/i;

  function fmtMiB(bytes) {
    if (bytes == null || !isFinite(bytes)) return '—';
    const v = bytes / MiB;
    return (v < 10 ? v.toFixed(1) : Math.round(v).toString()) + ' MiB';
  }

  /** Limits memory for a form: keeps strings, turns byte counts into "256M" / "1G". */
  function memoryText(v) {
    if (v == null || v === '') return '';
    if (typeof v === 'string') return v;
    if (v > 0 && v % GiB === 0) return v / GiB + 'G';
    if (v > 0 && v % MiB === 0) return v / MiB + 'M';
    return String(v);
  }

  const num = (v, d = 0) => (v == null || !isFinite(v) ? '—' : Number(v).toFixed(d));

  /** "just now", "5 min ago", "3 h ago", "2 days ago", then the date; '—' without a valid time. */
  function fmtAgo(iso) {
    const t = iso ? Date.parse(iso) : NaN;
    if (!isFinite(t)) return '—';
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 45) return 'just now';
    const m = Math.round(s / 60);
    if (m < 60) return `${m} min ago`;
    const hours = Math.round(m / 60);
    if (hours < 24) return `${hours} h ago`;
    const days = Math.round(hours / 24);
    if (days < 30) return days === 1 ? 'yesterday' : `${days} days ago`;
    return new Date(t).toLocaleDateString();
  }

  /** A <time> showing fmtAgo(iso); refreshTimes() brings it up to date later. */
  function timeAgo(iso, attrs = {}) {
    const el = h('time', attrs);
    setTimeAgo(el, iso);
    return el;
  }

  function setTimeAgo(el, iso) {
    const t = iso ? Date.parse(iso) : NaN;
    el.textContent = fmtAgo(iso);
    if (isFinite(t)) {
      el.setAttribute('datetime', new Date(t).toISOString());
      el.title = new Date(t).toLocaleString();
    } else {
      el.removeAttribute('datetime');
      el.removeAttribute('title');
    }
  }

  function refreshTimes(root) {
    root.querySelectorAll('time[datetime]').forEach((el) => { el.textContent = fmtAgo(el.getAttribute('datetime')); });
  }

  /** An http(s) URL from the server, or null (never a javascript: or other scheme in an href). */
  function safeUrl(u) {
    if (!u) return null;
    try {
      const url = new URL(String(u), location.href);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function dnsLabelProblem(s, what = 'The name') {
    if (!s) return `${what} is required.`;
    if (s.length > 63) return `${what} can be at most 63 characters long.`;
    if (/[A-Z]/.test(s)) return 'Use lowercase letters only.';
    if (/[^a-z0-9-]/.test(s)) return "Only lowercase letters, digits and '-' are allowed.";
    if (!LABEL_RE.test(s)) return "It cannot start or end with '-'.";
    return '';
  }

  function domainProblem(s) {
    if (!s) return 'The domain is required.';
    if (s.length > 253) return 'A domain can be at most 253 characters long.';
    for (const part of s.split('.')) {
      const p = dnsLabelProblem(part, 'Each part between dots');
      if (p) return p === 'Each part between dots is required.' ? 'Empty part between dots.' : p;
    }
    return '';
  }

  /** Validates {memory, cpus, pids} inputs; shows messages; returns the JSON limits or null. */
  function readLimits(memIn, cpuIn, pidIn, { required = true } = {}) {
    const mem = memIn.value.trim();
    const cpus = cpuIn.value.trim();
    const pids = pidIn.value.trim();
    const ok = [
      memIn._error(!mem ? (required ? 'Enter a memory limit, e.g. 256M.' : '')
        : MEMORY_RE.test(mem) ? '' : 'Use a size like 256M, 1G, 512MiB or a number of bytes.'),
      cpuIn._error(!cpus ? (required ? 'Enter a number of CPUs, e.g. 1 or 0.5.' : '')
        : isFinite(cpus) && Number(cpus) >= 0.01 ? '' : 'CPUs must be a number of at least 0.01 (e.g. 0.5).'),
      pidIn._error(!pids ? (required ? 'Enter a process limit, e.g. 256.' : '')
        : /^\d+$/.test(pids) && Number(pids) >= 16 ? '' : 'Processes must be a whole number of at least 16.'),
    ].every(Boolean);
    if (!ok) return null;
    const limits = {};
    if (mem) limits.memory = /^\d+$/.test(mem) ? Number(mem) : mem.replace(/\s+/g, '');
    if (cpus) limits.cpus = Number(cpus);
    if (pids) limits.pids = Number(pids);
    return limits;
  }

  function limitInputs(prefix, limits = {}) {
    return {
      memory: input(prefix + '-memory', { value: memoryText(limits.memory ?? limits.memory_bytes), placeholder: '256M', inputmode: 'text' }),
      cpus: input(prefix + '-cpus', { value: limits.cpus ?? '', placeholder: '1', inputmode: 'decimal' }),
      pids: input(prefix + '-pids', { value: limits.pids ?? '', placeholder: '256', inputmode: 'numeric' }),
    };
  }

  function limitFields(li) {
    return h('div', { class: 'row3' },
      field('Memory', li.memory, 'e.g. 256M, 1G'),
      field('CPUs', li.cpus, 'e.g. 1 or 0.5'),
      field('Processes', li.pids, 'at least 16'));
  }

  function passwordStrength(pw) {
    if (pw.length < 10) return 0;
    let s = 1;
    if (pw.length >= 14) s++;
    if (/[a-z]/.test(pw) && /[A-Z]/.test(pw)) s++;
    if (/\d/.test(pw)) s++;
    if (/[^A-Za-z0-9]/.test(pw)) s++;
    if (/^(.)\1*$/.test(pw) || /^(0123456789|password|qwerty)/i.test(pw)) s = 1;
    return Math.min(4, s);
  }

  // ---------------------------------------------------------------- 3. API client

  const state = {
    setupNeeded: false,
    setup: null,        // GET /api/setup body while setup is needed
    csrf: null,         // set once logged in
    username: null,
    settings: null,     // GET /api/settings, for the header
    returnTo: null,     // where to go after logging in
  };

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
      this.handled = false; // true when the UI already reacted (e.g. sent the user to the login page)
    }
  }

  /**
   * fetch wrapper: JSON in/out, CSRF header on state-changing calls, `{error}` → ApiError.
   * A 401 sends the user to the login page unless opts.allow401.
   */
  async function api(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      if (state.csrf) headers['X-CSRF-Token'] = state.csrf;
      if (body !== undefined || method !== 'DELETE') init.body = JSON.stringify(body ?? {});
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'Cannot reach the appliance (' + (e.message || 'network error') + ').');
    }
    const text = await res.text().catch(() => '');
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch { data = null; } }
    if (res.ok) return data;
    const message = (data && typeof data.error === 'string' && data.error) ||
      `The appliance answered ${res.status} ${res.statusText}`.trim();
    const err = new ApiError(res.status, message, parseInt(res.headers.get('Retry-After'), 10) || null);
    if (res.status === 401 && !opts.allow401) {
      sessionLost();
      err.handled = true;
    } else if (res.status === 403 && /csrf/i.test(message) && !opts.retried && state.csrf) {
      // The session's token may have been rotated: fetch it again and retry once.
      const s = await api('GET', '/api/session', undefined, { allow401: true }).catch(() => null);
      if (s && s.csrf) {
        state.csrf = s.csrf;
        return api(method, path, body, { ...opts, retried: true });
      }
    }
    throw err;
  }

  function sessionLost() {
    const wasIn = state.csrf != null;
    state.csrf = null;
    const hash = location.hash || '#/';
    if (!hash.startsWith('#/login') && !hash.startsWith('#/setup')) {
      state.returnTo = hash;
      if (wasIn) toast('Your session has ended — please log in again.');
      location.hash = '#/login';
    }
  }

  async function loadSettings() {
    try {
      state.settings = await api('GET', '/api/settings');
      const name = state.settings && state.settings.name;
      document.querySelectorAll('[data-appliance-name]').forEach((el) => { el.textContent = name || 'redhive'; });
    } catch (e) { /* the header keeps the generic name */ }
  }

  // ---------------------------------------------------------------- 4. toasts & dialogs

  function toast(message, kind = 'info', ms) {
    const box = $('#toasts');
    const remove = () => {
      el.remove();
      if (!box.children.length && box.hidePopover && box.matches(':popover-open')) box.hidePopover();
    };
    const el = h('div', { class: 'toast' + (kind === 'error' ? ' error' : kind === 'ok' ? ' ok' : ''), role: kind === 'error' ? 'alert' : 'status' },
      h('span', { class: 'toast-text' }, message),
      h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: remove }, '×'));
    box.append(el);
    while (box.children.length > 5) box.firstElementChild.remove();
    // As a popover the stack sits in the top layer, above an open dialog and its backdrop.
    if (box.showPopover) {
      try {
        if (!box.hasAttribute('popover')) box.setAttribute('popover', 'manual');
        if (box.matches(':popover-open')) box.hidePopover();
        box.showPopover();
      } catch (e) { /* shown in the page instead */ }
    }
    setTimeout(remove, ms || (kind === 'error' ? 9000 : 4000));
    return el;
  }

  function toastError(e) {
    if (e && e.handled) return;
    toast((e && e.message) || String(e), 'error');
  }

  /**
   * A modal dialog. `onOk` (async) runs with a spinner on the OK button; it may return false to keep
   * the dialog open, or throw to show the error in the dialog. Resolves true (done) or false (cancelled).
   * `requireText`: the user must type this exact text in #confirm-input to enable OK.
   */
  function openDialog({ title, body, okLabel = 'OK', okId = 'confirm-ok', danger = false, requireText = null, onOk }) {
    return new Promise((resolve) => {
      let running = false;
      const okBtn = h('button', { type: 'submit', id: okId, class: 'btn ' + (danger ? 'danger' : 'primary') }, okLabel);
      const cancelBtn = h('button', { type: 'button', class: 'btn ghost', onclick: () => close(false) }, 'Cancel');
      const error = h('p', { class: 'dialog-error', role: 'alert', hidden: true });
      let confirmIn = null;
      if (requireText != null) {
        confirmIn = input('confirm-input', { autocapitalize: 'off' });
        okBtn.disabled = true;
        confirmIn.addEventListener('input', () => { okBtn.disabled = confirmIn.value !== requireText; });
      }
      const form = h('form', { method: 'dialog', class: 'dialog-form', novalidate: true },
        h('h2', { class: 'dialog-title' }, title),
        h('div', { class: 'dialog-body' }, body,
          requireText != null ? h('div', { class: 'field' },
            h('label', { for: 'confirm-input' }, 'Type ', h('strong', { class: 'mono' }, requireText), ' to confirm'),
            confirmIn) : null),
        error,
        h('div', { class: 'dialog-actions' }, cancelBtn, okBtn));
      const dlg = h('dialog', { class: 'dialog', 'aria-label': title }, form);

      function close(result) {
        if (running) return;
        dlg.close();
        dlg.remove();
        resolve(result);
      }
      dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); close(false); });
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        if (running || okBtn.disabled) return;
        if (confirmIn && confirmIn.value !== requireText) return;
        error.hidden = true;
        if (!onOk) return close(true);
        running = true;
        setBusy(okBtn, true);
        cancelBtn.disabled = true;
        try {
          const r = await onOk();
          running = false;
          if (r === false) return;
          close(true);
        } catch (e) {
          running = false;
          if (e && e.handled) return close(false);
          error.textContent = (e && e.message) || String(e);
          error.hidden = false;
          toastError(e);
        } finally {
          setBusy(okBtn, false);
          cancelBtn.disabled = false;
          if (confirmIn) okBtn.disabled = confirmIn.value !== requireText;
        }
      });
      document.body.append(dlg);
      dlg.showModal();
      const first = confirmIn || form.querySelector('input, select, textarea');
      if (first) first.focus(); else okBtn.focus();
    });
  }

  // ---------------------------------------------------------------- 5. router & page shell

  const appEl = () => $('#app');
  let cleanups = [];
  let viewToken = 0;
  const onLeave = (fn) => cleanups.push(fn);

  function leave() {
    for (const fn of cleanups.splice(0)) { try { fn(); } catch (e) { /* ignore */ } }
    document.querySelectorAll('dialog.dialog').forEach((d) => d.remove());
  }

  /** Renders the page for location.hash, enforcing setup → login → app. */
  function route() {
    leave();
    const token = ++viewToken;
    const alive = () => token === viewToken;
    const path = (location.hash.replace(/^#/, '') || '/').split('?')[0];
    const go = (h2) => { location.replace(h2); };

    if (state.setupNeeded) return path === '/setup' ? renderSetup(alive) : go('#/setup');
    if (path === '/setup') return go(state.csrf ? '#/' : '#/login');
    if (path === '/login') return state.csrf ? go(state.returnTo || '#/') : renderLogin(alive);
    if (!state.csrf) { state.returnTo = '#' + path; return go('#/login'); }

    if (path === '/' || path === '') return renderDashboard(alive);
    if (path === '/settings') return renderSettings(alive);
    if (path === '/registry') return renderRegistry(alive);
    const m = path.match(/^\/tenants\/([^/]+)\/?$/);
    if (m) return renderTenant(alive, decodeURIComponent(m[1]));
    return renderNotFound();
  }

  function setTitle(text) {
    document.title = text ? `${text} · redhive` : 'redhive';
  }

  function pageHead(title, ...extra) {
    setTitle(title);
    return h('div', { class: 'page-head' }, h('h1', { id: 'page-title' }, title),
      extra.length ? h('div', { class: 'page-head-actions' }, extra) : null);
  }

  /** The logged-in layout: header with appliance name + nav, then the page. */
  function appShell(active, ...content) {
    const link = (id, href, label, key) => h('a', { id, href, class: 'nav-link', 'aria-current': active === key ? 'page' : null }, label);
    const logout = h('button', { type: 'button', id: 'nav-logout', class: 'nav-link nav-button', onclick: () => logOut(logout) }, 'Log out');
    const header = h('header', { class: 'topbar' },
      h('div', { class: 'topbar-inner' },
        h('a', { class: 'brand', href: '#/' },
          h('img', { src: 'favicon.svg', alt: '', width: 28, height: 28 }),
          h('span', { class: 'brand-text' },
            h('span', { class: 'brand-name', 'data-appliance-name': '' }, (state.settings && state.settings.name) || 'redhive'),
            h('span', { class: 'brand-sub' }, 'Node-RED appliance'))),
        h('nav', { class: 'nav', 'aria-label': 'Main' },
          link('nav-dashboard', '#/', 'Dashboard', 'dashboard'),
          link('nav-registry', '#/registry', 'Registry', 'registry'),
          link('nav-settings', '#/settings', 'Settings', 'settings'),
          logout)));
    const main = h('main', { id: 'main', class: 'main' }, content);
    clear(appEl()).append(header, main);
    if (!state.settings) loadSettings();
    return main;
  }

  /** The layout of the wizard and the login page: one centred panel. */
  function plainShell(...content) {
    const main = h('main', { id: 'main', class: 'plain' },
      h('div', { class: 'plain-brand' }, h('img', { src: 'favicon.svg', alt: '', width: 40, height: 40 }), h('span', null, 'redhive')),
      content);
    clear(appEl()).append(main);
    return main;
  }

  async function logOut(btn) {
    setBusy(btn, true);
    try { await api('DELETE', '/api/session', undefined, { allow401: true }); } catch (e) { /* gone anyway */ }
    state.csrf = null;
    state.username = null;
    state.settings = null;
    state.returnTo = null;
    location.hash = '#/login';
  }

  function renderNotFound() {
    appShell(null, pageHead('Page not found'),
      h('div', { class: 'card' }, h('p', null, 'There is nothing at this address. '), h('a', { href: '#/' }, 'Back to the dashboard')));
  }

  /** Repeats fn every `ms` while this page is shown and the document visible. */
  function poll(fn, ms, alive) {
    let timer = null;
    let running = false;
    let failing = false;
    async function tick() {
      timer = null;
      if (!alive() || document.hidden || running) return;
      running = true;
      try {
        await fn();
        if (failing) toast('Connection to the appliance restored.', 'ok');
        failing = false;
      } catch (e) {
        if (!failing && !e.handled) toastError(e);
        failing = true;
      }
      running = false;
      if (alive() && !document.hidden) timer = setTimeout(tick, ms);
    }
    const onVisible = () => { if (!document.hidden && !timer && !running) tick(); };
    document.addEventListener('visibilitychange', onVisible);
    onLeave(() => { clearTimeout(timer); document.removeEventListener('visibilitychange', onVisible); });
    tick();
    return { now() { clearTimeout(timer); timer = null; tick(); } };
  }

  // ---------------------------------------------------------------- 6. setup wizard

  function renderChecks(report, id) {
    const list = h('ul', { class: 'checks', id });
    if (!report || !Array.isArray(report.checks)) {
      list.append(h('li', { class: 'check warn' }, h('span', { class: 'mark', 'aria-hidden': 'true' }, '!'),
        h('div', null, h('strong', null, 'No report'), h('p', null, 'The appliance did not send a doctor report.'))));
      return list;
    }
    for (const c of report.checks) {
      // ok → green; still under way, or ok but "no …"/"not …" (works, with a caveat) → amber;
      // not ok → red.
      const detail = String(c.detail ?? c.fix ?? '');
      const level = c.level || (c.ok === false ? 'bad' : c.pending || /^(no|not)\b/i.test(detail) ? 'warn' : 'ok');
      const label = { ok: 'OK', warn: 'Note', bad: 'Needs a fix' }[level] || level;
      list.append(h('li', { class: 'check ' + level, 'data-check': c.name },
        h('span', { class: 'mark', 'aria-hidden': 'true' }, level === 'ok' ? '✓' : level === 'warn' ? '!' : '✕'),
        h('div', { class: 'check-body' },
          h('div', { class: 'check-name' }, h('strong', null, String(c.name)), h('span', { class: 'visually-hidden' }, ' — ' + label)),
          detail ? h('p', { class: 'check-detail' }, detail) : null)));
    }
    return list;
  }

  function doctorSummary(report) {
    if (!report || !Array.isArray(report.checks)) return '';
    const bad = report.checks.filter((c) => c.ok === false).length;
    const rt = report.runtime ? `Tenants will run as ${report.runtime === 'docker' ? 'Docker containers' : 'processes'}. ` : '';
    return rt + (bad ? `${bad} check${bad > 1 ? 's need' : ' needs'} attention: see the fix next to each.` : 'Everything redhive needs is in place.');
  }

  function renderSetup(alive) {
    setTitle('Set up');
    const setup = state.setup || {};
    const defaults = setup.defaults || {};
    const stepNames = ['Welcome', 'Admin account', 'Appliance', 'Summary'];
    let step = 0;

    const user = input('setup-username', { autocomplete: 'username', autocapitalize: 'off', value: 'admin' });
    const pw = input('setup-password', { type: 'password', autocomplete: 'new-password' });
    const pw2 = input('setup-password2', { type: 'password', autocomplete: 'new-password' });
    const name = input('setup-name', { value: defaults.name || 'redhive', autocapitalize: 'off' });
    const lim = limitInputs('setup', defaults.limits || {});
    const meter = h('div', { class: 'strength', 'data-level': 0, 'aria-hidden': 'true' }, h('span'), h('span'), h('span'), h('span'));
    const meterText = h('span', { class: 'strength-text' }, 'At least 10 characters.');
    const namePreview = h('code', null, '');
    const tenantPreview = h('code', null, '');

    const updateStrength = () => {
      const s = passwordStrength(pw.value);
      meter.dataset.level = s;
      meterText.textContent = pw.value.length < 10
        ? `At least 10 characters (${pw.value.length} so far).`
        : ['', 'Weak — longer, or mix in digits and symbols.', 'Fair.', 'Good.', 'Strong.'][s];
    };
    pw.addEventListener('input', () => { updateStrength(); if (pw.getAttribute('aria-invalid')) pw._error(''); });
    const updateName = () => {
      namePreview.textContent = (name.value || '<name>') + '.local';
      tenantPreview.textContent = `<tenant>-${name.value || '<name>'}.local`;
      name._error(name.value ? dnsLabelProblem(name.value) : '');
    };
    name.addEventListener('input', updateName);

    const summary = h('dl', { class: 'summary' });
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const doctorText = h('p', { class: 'muted', id: 'setup-doctor-summary' }, doctorSummary(setup.doctor));
    let doctorList = renderChecks(setup.doctor, 'setup-doctor');
    // First boot: checks still under way (the tenant image loading) are followed live.
    const pending = (report) => Boolean(report && Array.isArray(report.checks) && report.checks.some((c) => c.pending));
    let latest = setup.doctor;
    if (pending(latest)) {
      poll(async () => {
        const now = await api('GET', '/api/setup');
        if (!now.needed || !now.doctor) return;
        latest = now.doctor;
        doctorText.textContent = doctorSummary(latest);
        const fresh = renderChecks(latest, 'setup-doctor');
        doctorList.replaceWith(fresh);
        doctorList = fresh;
      }, 3000, () => alive() && pending(latest));
    }

    const panes = [
      h('section', { class: 'wizard-pane' },
        h('h2', null, 'Welcome to redhive'),
        h('p', { class: 'lead' }, 'redhive runs many isolated Node-RED instances — tenants — on this machine, each with its own editor, flows, limits and address. ' +
          "Let's set it up in three short steps."),
        h('h3', null, 'What redhive found on this machine'),
        doctorText,
        doctorList),
      h('section', { class: 'wizard-pane' },
        h('h2', null, 'Your admin account'),
        h('p', { class: 'muted' }, 'This account manages the appliance: tenants, their users and limits. Editor users of each tenant are separate.'),
        field('User name', user),
        field('Password', pw, h('span', { class: 'strength-wrap' }, meter, meterText)),
        field('Password again', pw2)),
      h('section', { class: 'wizard-pane' },
        h('h2', null, 'Name this appliance'),
        field('Appliance name', name, h('span', null,
          "Lowercase letters, digits and '-'. On the local network the appliance answers at ", namePreview,
          ' and each tenant at ', tenantPreview, '.')),
        h('h3', null, 'Default limits for new tenants'),
        h('p', { class: 'muted' }, 'Each tenant gets at most this much memory, CPU time and processes. You can change them per tenant later.'),
        limitFields(lim)),
      h('section', { class: 'wizard-pane' },
        h('h2', null, 'Ready to go'),
        h('p', { class: 'muted' }, 'Check the settings below, then create the appliance. You can change all of them later except the admin password, which you can reset with ',
          h('code', null, 'redhive factory-reset'), '.'),
        summary, error),
    ];

    const stepper = h('ol', { class: 'stepper' }, stepNames.map((s, i) => h('li', { 'data-step': i }, h('span', { class: 'step-num' }, String(i + 1)), h('span', { class: 'step-name' }, s))));
    const back = h('button', { type: 'button', id: 'setup-back', class: 'btn ghost', onclick: () => show(step - 1) }, 'Back');
    const next = h('button', { type: 'submit', id: 'setup-next', class: 'btn primary' }, 'Get started');
    const form = h('form', { class: 'wizard card', novalidate: true, onsubmit: onNext },
      stepper, panes, h('div', { class: 'wizard-actions' }, back, next));

    function show(i) {
      step = Math.max(0, Math.min(panes.length - 1, i));
      panes.forEach((p, j) => { p.hidden = j !== step; });
      stepper.querySelectorAll('li').forEach((li, j) => {
        li.className = j < step ? 'done' : j === step ? 'current' : '';
        if (j === step) li.setAttribute('aria-current', 'step'); else li.removeAttribute('aria-current');
      });
      back.hidden = step === 0;
      next.textContent = step === 0 ? 'Get started' : step === panes.length - 1 ? 'Create appliance' : 'Next';
      error.hidden = true;
      if (step === 3) fillSummary();
      const first = panes[step].querySelector('input');
      if (first) first.focus();
    }

    function validate(i) {
      if (i === 1) {
        const u = user.value.trim();
        return [
          user._error(!u ? 'Choose a user name.' : /\s/.test(u) ? 'A user name cannot contain spaces.' : ''),
          pw._error(pw.value.length < 10 ? `The password needs at least 10 characters (it has ${pw.value.length}).` : ''),
          pw2._error(pw2.value !== pw.value ? 'The two passwords differ.' : ''),
        ].every(Boolean);
      }
      if (i === 2) {
        const okName = name._error(dnsLabelProblem(name.value.trim(), 'The appliance name'));
        return !!readLimits(lim.memory, lim.cpus, lim.pids) && okName;
      }
      return true;
    }

    function fillSummary() {
      const l = readLimits(lim.memory, lim.cpus, lim.pids) || {};
      const row = (k, v) => [h('dt', null, k), h('dd', null, v)];
      clear(summary).append(...[
        row('Admin user', user.value.trim()),
        row('Password', '•'.repeat(Math.min(pw.value.length, 16))),
        row('Appliance name', name.value.trim()),
        row('Local address', name.value.trim() + '.local'),
        row('Tenant memory', String(l.memory ?? '')),
        row('Tenant CPUs', String(l.cpus ?? '')),
        row('Tenant processes', String(l.pids ?? '')),
      ].flat());
    }

    async function onNext(ev) {
      ev.preventDefault();
      if (!validate(step)) {
        const bad = panes[step].querySelector('[aria-invalid="true"]');
        if (bad) bad.focus();
        return;
      }
      if (step < panes.length - 1) return show(step + 1);
      setBusy(next, true);
      back.disabled = true;
      error.hidden = true;
      try {
        const res = await api('POST', '/api/setup', {
          username: user.value.trim(),
          password: pw.value,
          name: name.value.trim(),
          limits: readLimits(lim.memory, lim.cpus, lim.pids),
        }, { allow401: true });
        state.csrf = res && res.csrf;
        state.username = (res && res.username) || user.value.trim();
        state.setupNeeded = false;
        state.setup = null;
        state.settings = null;
        toast('redhive is ready. Create your first tenant.', 'ok');
        location.hash = '#/';
      } catch (e) {
        if (!alive()) return;
        error.textContent = e.message;
        error.hidden = false;
        if (e.status === 409) {
          state.setupNeeded = false;
          error.append(' ', h('a', { href: '#/login' }, 'Go to the login page'));
        }
      } finally {
        setBusy(next, false);
        back.disabled = false;
      }
    }

    plainShell(h('h1', { id: 'page-title', class: 'visually-hidden' }, 'Set up redhive'), form);
    updateStrength();
    updateName();
    name._error('');
    show(0);
    next.focus();
  }

  // ---------------------------------------------------------------- 7. login

  function renderLogin(alive) {
    setTitle('Log in');
    const user = input('login-username', { autocomplete: 'username', autocapitalize: 'off', required: true });
    const pw = input('login-password', { type: 'password', autocomplete: 'current-password', required: true });
    const error = h('p', { id: 'login-error', class: 'form-error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', id: 'login-submit', class: 'btn primary block' }, 'Log in');
    let countdown = null;
    onLeave(() => clearInterval(countdown));

    const showError = (msg) => { error.textContent = msg; error.hidden = !msg; };

    function lockFor(seconds) {
      clearInterval(countdown);
      let left = Math.max(1, seconds);
      submit.disabled = true;
      const tick = () => {
        if (left <= 0) { clearInterval(countdown); submit.disabled = false; showError(''); return; }
        showError(`Too many attempts, try again in ${left} s.`);
        left--;
      };
      tick();
      countdown = setInterval(tick, 1000);
    }

    async function onSubmit(ev) {
      ev.preventDefault();
      if (submit.disabled) return;
      if (!user.value.trim() || !pw.value) { showError('Enter your user name and password.'); (user.value.trim() ? pw : user).focus(); return; }
      showError('');
      setBusy(submit, true);
      let locked = false;
      try {
        const res = await api('POST', '/api/session', { username: user.value.trim(), password: pw.value }, { allow401: true });
        state.csrf = res && res.csrf;
        state.username = (res && res.username) || user.value.trim();
        state.settings = null;
        const to = state.returnTo && !/^#\/(login|setup)/.test(state.returnTo) ? state.returnTo : '#/';
        state.returnTo = null;
        location.hash = to;
      } catch (e) {
        if (!alive()) return;
        if (e.status === 429) { locked = true; lockFor(e.retryAfter || 60); } else if (e.status === 409) {
          // Not set up (e.g. after factory-reset): back to the wizard.
          const s = await api('GET', '/api/setup', undefined, { allow401: true }).catch(() => null);
          if (s && s.needed) { state.setupNeeded = true; state.setup = s; location.hash = '#/setup'; return; }
          showError(e.message);
        } else {
          showError(e.message);
          pw.select();
        }
      } finally {
        setBusy(submit, false);
        if (locked) submit.disabled = true;
      }
    }

    plainShell(h('form', { class: 'card auth-card', novalidate: true, onsubmit: onSubmit },
      h('h1', { id: 'page-title' }, 'Log in'),
      h('p', { class: 'muted' }, 'Manage the tenants of this appliance.'),
      field('User name', user), field('Password', pw), error, submit));
    user.focus();
  }

  // ---------------------------------------------------------------- 8. tenant card

  const STATE_CLASS = { running: 'ok', starting: 'busy', stopping: 'busy', stopped: 'idle', crashed: 'bad', 'safe-mode': 'bad' };
  const ACTION_DONE = { start: 'started', stop: 'stopped', restart: 'restarted' };

  function meterEl(label) {
    const fill = h('span', { class: 'meter-fill' });
    const value = h('span', { class: 'meter-value' });
    const bar = h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100 }, fill);
    const el = h('div', { class: 'meter-row' }, h('div', { class: 'meter-label' }, h('span', null, label), value), bar);
    el.set = (used, max, text) => {
      const pct = used != null && max > 0 ? Math.max(0, Math.min(100, (used / max) * 100)) : 0;
      fill.style.width = pct.toFixed(1) + '%';
      fill.dataset.level = pct >= 90 ? 'bad' : pct >= 70 ? 'warn' : 'ok';
      bar.setAttribute('aria-valuenow', Math.round(pct));
      bar.setAttribute('aria-valuetext', text);
      value.textContent = text;
    };
    return el;
  }

  /**
   * The API builds a tenant's name URLs as http:// with the HTTP port; on a page served over https
   * they get this page's scheme and port (empty = the default) instead.
   */
  function pageScheme(url) {
    if (!url || location.protocol !== 'https:') return url;
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:') return url;
      u.protocol = 'https:';
      u.port = location.port;
      return u.href;
    } catch (e) {
      return url;
    }
  }

  /**
   * One tenant as a card: state, usage, addresses, actions. `card.update(tenant)` refreshes it in
   * place (so polling keeps focus and spinners). opts.page: shown on the tenant page (no open link,
   * delete goes back to the dashboard). opts.onDeleted(name).
   */
  function tenantCard(t, opts = {}) {
    const name = t.name;
    const path = `/api/tenants/${enc(name)}`;
    let current = t;
    let busy = false;

    const badge = h('span', { class: 'badge', 'data-field': 'state' });
    const reason = h('p', { class: 'reason', 'data-field': 'reason', hidden: true });
    const mem = meterEl('Memory');
    const cpu = meterEl('CPU');
    const pids = h('span', { class: 'pids', 'data-field': 'pids' });
    const meta = h('p', { class: 'card-meta' });
    const local = h('a', { class: 'btn primary small', 'data-field': 'url-local', target: '_blank', rel: 'noopener' }, 'Open editor ', h('span', { 'aria-hidden': 'true' }, '↗'));
    const localText = h('a', { class: 'url', target: '_blank', rel: 'noopener' });
    const mdns = h('a', { class: 'url', 'data-field': 'url-mdns', target: '_blank', rel: 'noopener' });
    const mdnsRow = h('div', { class: 'url-row' }, h('span', { class: 'url-label' }, 'On the network'), mdns);
    const ipList = h('div', { class: 'url-list', 'data-field': 'url-ip' });
    const ipRow = h('div', { class: 'url-row' }, h('span', { class: 'url-label' }, 'by IP (for phones without .local)'), ipList);
    const buttons = {};
    for (const [action, label, cls] of [['start', 'Start', ''], ['stop', 'Stop', ''], ['restart', 'Restart', ''], ['delete', 'Delete', 'danger-ghost']]) {
      buttons[action] = h('button', { type: 'button', class: 'btn small ' + cls, 'data-action': action, onclick: () => run(action) }, label);
    }

    const title = opts.page
      ? h('h2', { class: 'card-title' }, 'Overview')
      : h('h2', { class: 'card-title' }, h('a', { href: '#/tenants/' + enc(name), 'data-field': 'open' }, name));
    const card = h('article', { class: 'card tenant-card', 'data-tenant': name },
      h('header', { class: 'card-head' }, title, badge),
      reason,
      h('div', { class: 'meters' }, mem, cpu, h('div', { class: 'meter-label' }, h('span', null, 'Processes'), pids)),
      h('div', { class: 'urls' },
        h('div', { class: 'url-row' }, h('span', { class: 'url-label' }, 'On this machine'), localText),
        mdnsRow, ipRow),
      meta,
      h('div', { class: 'card-actions' }, local, h('span', { class: 'spacer' }),
        h('div', { class: 'btn-group', role: 'group', 'aria-label': `Control ${name}` }, buttons.start, buttons.stop, buttons.restart, buttons.delete)));

    function update(nt) {
      current = nt = nt || current;
      const st = String(nt.state || 'unknown');
      badge.textContent = st;
      badge.className = 'badge state-' + (STATE_CLASS[st] || 'idle');
      reason.textContent = nt.reason || '';
      reason.hidden = !nt.reason;
      const u = nt.usage || null;
      const l = nt.limits || {};
      mem.set(u && u.memory_bytes, l.memory_bytes, u ? `${fmtMiB(u.memory_bytes)} / ${fmtMiB(l.memory_bytes)}` : `— / ${fmtMiB(l.memory_bytes)}`);
      const cpuMax = (l.cpus || 0) * 100;
      cpu.set(u && u.cpu_percent, cpuMax, u ? `${num(u.cpu_percent, 1)}% / ${num(cpuMax)}%` : `— / ${num(cpuMax)}%`);
      pids.textContent = `${u && u.pids != null ? u.pids : '—'} / ${l.pids ?? '—'}`;
      const raw = nt.urls || {};
      const urls = { ...raw, local: pageScheme(raw.local), mdns: pageScheme(raw.mdns) };
      local.href = urls.local || '#';
      localText.href = urls.local || '#';
      localText.textContent = urls.local || '—';
      mdnsRow.hidden = !urls.mdns;
      if (urls.mdns) { mdns.href = urls.mdns; mdns.textContent = urls.mdns; }
      const ips = Array.isArray(urls.ip) ? urls.ip : [];
      ipRow.hidden = ips.length === 0;
      const ipKey = ips.join(' ');
      if (ipList.dataset.key !== ipKey) {
        ipList.dataset.key = ipKey;
        clear(ipList).append(...ips.map((u2) => h('a', { class: 'url', href: u2, target: '_blank', rel: 'noopener' }, u2)));
      }
      const bits = [];
      bits.push(nt.on_demand ? `Starts on demand, sleeps after ${nt.idle_minutes ?? '?'} idle min` : 'Always on');
      if (nt.restarts) bits.push(`${nt.restarts} restart${nt.restarts > 1 ? 's' : ''}`);
      meta.textContent = bits.join(' · ');
      if (!busy) enableButtons(st);
    }

    function enableButtons(st) {
      buttons.start.disabled = st === 'running' || st === 'starting';
      buttons.stop.disabled = st === 'stopped' || st === 'stopping';
      buttons.restart.disabled = st === 'stopping';
      buttons.delete.disabled = false;
    }

    async function run(action) {
      if (busy) return;
      if (action === 'delete') return confirmDelete();
      busy = true;
      Object.values(buttons).forEach((b) => { b.disabled = true; });
      setBusy(buttons[action], true);
      try {
        const nt = await api('POST', `${path}/${action}`, {});
        busy = false;
        if (nt && nt.name) update(nt);
        toast(`${name} ${ACTION_DONE[action]}.`, 'ok');
        if (opts.onChange) opts.onChange(nt);
      } catch (e) {
        toastError(e);
      } finally {
        busy = false;
        setBusy(buttons[action], false);
        enableButtons(String(current.state));
      }
    }

    function confirmDelete() {
      return openDialog({
        title: `Delete ${name}?`,
        body: h('p', null, 'This stops the tenant and deletes its flows, credentials, database and files. It cannot be undone.'),
        okLabel: 'Delete tenant',
        danger: true,
        requireText: name,
        onOk: async () => {
          await api('DELETE', path);
          toast(`${name} deleted.`, 'ok');
          if (opts.onDeleted) opts.onDeleted(name);
        },
      });
    }

    card.update = update;
    update(t);
    return card;
  }

  // ---------------------------------------------------------------- 9. dashboard

  function renderDashboard(alive) {
    const grid = h('div', { class: 'tenant-grid', id: 'tenant-grid' });
    const empty = h('div', { class: 'card empty', hidden: true },
      h('h2', null, 'No tenants yet'),
      h('p', { class: 'muted' }, 'A tenant is a separate Node-RED with its own editor, flows and limits. Create one to get started.'),
      h('button', { type: 'button', class: 'btn primary', onclick: () => newTenant() }, 'Create a tenant'));
    const loading = h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Loading tenants…');
    const newBtn = h('button', { type: 'button', id: 'new-tenant', class: 'btn primary', onclick: newTenant }, '+ New tenant');
    appShell('dashboard', pageHead('Tenants', newBtn), loading, empty, grid);
    const cards = new Map();

    function sync(list) {
      loading.remove();
      const names = new Set(list.map((t) => t.name));
      for (const [n, card] of cards) if (!names.has(n)) { card.remove(); cards.delete(n); }
      const sorted = [...list].sort((a, b) => a.name.localeCompare(b.name));
      let prev = null;
      for (const t of sorted) {
        let card = cards.get(t.name);
        if (card) card.update(t);
        else {
          card = tenantCard(t, { onDeleted: (n) => { const c = cards.get(n); if (c) c.remove(); cards.delete(n); empty.hidden = cards.size > 0; } });
          cards.set(t.name, card);
        }
        if (prev ? prev.nextSibling !== card : grid.firstChild !== card) {
          if (prev) prev.after(card); else grid.prepend(card);
        }
        prev = card;
      }
      empty.hidden = list.length > 0;
    }

    const poller = poll(async () => {
      const data = await api('GET', '/api/tenants');
      if (alive()) sync((data && data.tenants) || []);
    }, 3000, alive);

    function newTenant() {
      const nameIn = input('tenant-name', { autocapitalize: 'off', placeholder: 'e.g. kitchen' });
      const userIn = input('tenant-editor-username', { autocapitalize: 'off', autocomplete: 'off' });
      const pwIn = input('tenant-editor-password', { type: 'password', autocomplete: 'new-password' });
      const odIn = h('input', { type: 'checkbox', id: 'tenant-on-demand', name: 'tenant-on-demand' });
      const domain = (state.settings && state.settings.domain) || 'localhost';
      const appName = (state.settings && state.settings.name) || 'redhive';
      const preview = h('span', null);
      const showPreview = () => {
        const n = nameIn.value.trim() || '<name>';
        preview.textContent = `Its editor will be at ${n}.${domain} and ${n}-${appName}.local.`;
      };
      nameIn.addEventListener('input', () => { showPreview(); nameIn._error(nameIn.value ? dnsLabelProblem(nameIn.value.trim()) : ''); });
      showPreview();
      openDialog({
        title: 'New tenant',
        okLabel: 'Create tenant',
        okId: 'tenant-create',
        body: [
          field('Name', nameIn, preview),
          h('fieldset', { class: 'fieldset' },
            h('legend', null, 'First editor user (optional)'),
            h('div', { class: 'row2' }, field('User name', userIn), field('Password', pwIn))),
          field('Start on demand, stop when idle', odIn, 'Saves memory: the tenant starts on the first visit and stops after some idle minutes.'),
        ],
        onOk: async () => {
          const n = nameIn.value.trim();
          const u = userIn.value.trim();
          const ok = [
            nameIn._error(dnsLabelProblem(n)),
            userIn._error(!u && pwIn.value ? 'Enter a user name for this password.' : /\s/.test(u) ? 'A user name cannot contain spaces.' : ''),
            pwIn._error(u && !pwIn.value ? 'Enter a password for this user.' : ''),
          ].every(Boolean);
          if (!ok) { const bad = document.querySelector('dialog [aria-invalid="true"]'); if (bad) bad.focus(); return false; }
          const body = { name: n, on_demand: odIn.checked };
          if (u) body.editor = { username: u, password: pwIn.value };
          const t = await api('POST', '/api/tenants', body);
          toast(`${(t && t.name) || n} created.`, 'ok');
          poller.now();
        },
      });
    }
  }

  // ---------------------------------------------------------------- 10. tenant page

  function renderTenant(alive, name) {
    const path = `/api/tenants/${enc(name)}`;
    const holder = h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Loading…');
    appShell(null, pageHead(name, h('a', { class: 'btn ghost', href: '#/' }, '← All tenants')), holder);
    let card = null;

    poll(async () => {
      let t;
      try {
        t = await api('GET', path);
      } catch (e) {
        if (e.status === 404 && alive() && card) {
          toast(e.message, 'error');
          location.hash = '#/';
          return;
        }
        if (e.status === 404 && alive()) {
          holder.replaceChildren(h('div', { class: 'card' }, h('p', null, e.message), h('a', { href: '#/' }, 'Back to the dashboard')));
          holder.className = '';
          return;
        }
        throw e;
      }
      if (!alive()) return;
      if (!card) {
        card = tenantCard(t, { page: true, onDeleted: () => { location.hash = '#/'; } });
        const forms = tenantForms(t, (nt) => card.update(nt));
        holder.replaceWith(h('div', { class: 'tenant-layout' },
          h('div', { class: 'tenant-side' }, card),
          h('section', { class: 'card logs-card', 'aria-labelledby': 'logs-title' }, logViewer(name, alive))),
        h('div', { class: 'tenant-sections' }, usersSection(name), forms));
      } else card.update(t);
    }, 3000, alive);
  }

  function logViewer(name, alive) {
    const MAX_LINES = 5000;
    const pane = h('div', { id: 'log-pane', class: 'log-pane', role: 'log', tabindex: 0, 'aria-label': `Log of ${name}` });
    const status = h('span', { class: 'conn', 'data-state': 'connecting' }, 'connecting…');
    const jump = h('button', { type: 'button', class: 'btn small jump', hidden: true, onclick: () => { stick = true; pane.scrollTop = pane.scrollHeight; jump.hidden = true; } }, '↓ Follow');
    const clearBtn = h('button', { type: 'button', class: 'btn small ghost', onclick: () => clear(pane) }, 'Clear');
    let ws = null;
    let retries = 0;
    let timer = null;
    let stick = true;
    let done = false;

    pane.addEventListener('scroll', () => {
      stick = pane.scrollTop + pane.clientHeight >= pane.scrollHeight - 12;
      jump.hidden = stick;
    });

    const setStatus = (st, text) => { status.dataset.state = st; status.textContent = text; };

    function add(line) {
      line = String(line).replace(/\r?\n$/, '');
      pane.append(h('div', { class: line.startsWith('[err]') ? 'line err' : 'line' }, line));
      while (pane.childElementCount > MAX_LINES) pane.firstElementChild.remove();
      if (stick) pane.scrollTop = pane.scrollHeight;
    }

    function connect() {
      if (done || !alive()) return;
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      setStatus('connecting', 'connecting…');
      let opened = false;
      try {
        ws = new WebSocket(`${proto}//${location.host}/api/tenants/${enc(name)}/logs?tail=200`);
      } catch (e) {
        return retry();
      }
      ws.onopen = () => {
        opened = true;
        retries = 0;
        clear(pane); // the server replays the last lines first
        setStatus('connected', 'connected');
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data === 'string') add(ev.data);
        else if (ev.data && ev.data.text) ev.data.text().then(add);
      };
      ws.onclose = () => {
        ws = null;
        if (done || !alive()) return;
        // A refused upgrade may mean the session ended: a plain call finds out (and goes to login).
        if (!opened) api('GET', '/api/session').catch(() => {});
        retry();
      };
      ws.onerror = () => { /* onclose follows */ };
    }

    function retry() {
      if (done || !alive()) return;
      const delay = Math.min(30000, 1000 * 2 ** retries);
      retries++;
      setStatus('disconnected', `disconnected — retrying in ${Math.round(delay / 1000)} s`);
      timer = setTimeout(connect, delay);
    }

    onLeave(() => { done = true; clearTimeout(timer); if (ws) ws.close(); });
    connect();
    return h('div', { class: 'logs' },
      h('div', { class: 'section-head' }, h('h2', { id: 'logs-title' }, 'Logs'), status, h('span', { class: 'spacer' }), clearBtn),
      h('div', { class: 'log-wrap' }, pane, jump));
  }

  function usersSection(name) {
    const base = `/api/tenants/${enc(name)}/users`;
    const tbody = h('tbody');
    const table = h('table', { id: 'users-table', class: 'table' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'User'), h('th', { scope: 'col' }, 'Permissions'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      tbody);
    const PERMS = [['*', 'Full (edit and deploy)'], ['read', 'Read-only']];
    const userIn = input('user-username', { autocapitalize: 'off' });
    const pwIn = input('user-password', { type: 'password', autocomplete: 'new-password' });
    const permIn = select('user-permissions', PERMS, '*');
    const addBtn = h('button', { type: 'submit', id: 'user-add', class: 'btn primary' }, 'Add user');

    function row(u) {
      const perm = select('perm-' + u.username.replace(/[^A-Za-z0-9_-]/g, '_'), PERMS, u.permissions);
      perm.setAttribute('aria-label', `Permissions of ${u.username}`);
      perm.addEventListener('change', async () => {
        const before = u.permissions;
        perm.disabled = true;
        try {
          const nu = await api('PATCH', `${base}/${enc(u.username)}`, { permissions: perm.value });
          u.permissions = (nu && nu.permissions) || perm.value;
          toast(`${u.username} is now ${u.permissions === '*' ? 'a full editor' : 'read-only'}.`, 'ok');
        } catch (e) { perm.value = before; toastError(e); } finally { perm.disabled = false; }
      });
      const reset = h('button', { type: 'button', class: 'btn small ghost', 'data-action': 'reset-password', onclick: () => resetPassword(u) }, 'Reset password');
      const remove = h('button', { type: 'button', class: 'btn small danger-ghost', 'data-action': 'remove-user', onclick: () => removeUser(u) }, 'Remove');
      return h('tr', { 'data-user': u.username },
        h('td', { class: 'mono' }, u.username), h('td', null, perm), h('td', { class: 'row-actions' }, reset, remove));
    }

    function resetPassword(u) {
      const p1 = input('reset-password', { type: 'password', autocomplete: 'new-password' });
      openDialog({
        title: `New password for ${u.username}`,
        body: field('New password', p1, 'They use it to log in to this tenant’s editor.'),
        okLabel: 'Set password',
        onOk: async () => {
          if (!p1._error(p1.value ? '' : 'Enter a password.')) return false;
          await api('PATCH', `${base}/${enc(u.username)}`, { password: p1.value });
          toast(`Password of ${u.username} changed.`, 'ok');
        },
      });
    }

    function removeUser(u) {
      openDialog({
        title: `Remove ${u.username}?`,
        body: h('p', null, `${u.username} will no longer be able to log in to the editor of ${name}.`),
        okLabel: 'Remove user',
        danger: true,
        onOk: async () => {
          await api('DELETE', `${base}/${enc(u.username)}`);
          toast(`${u.username} removed.`, 'ok');
          load();
        },
      });
    }

    async function load() {
      try {
        const data = await api('GET', base);
        const users = (data && data.users) || [];
        clear(tbody).append(...users.map(row));
        if (!users.length) tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: 3 }, 'No editor users yet.')));
      } catch (e) { toastError(e); }
    }

    async function onAdd(ev) {
      ev.preventDefault();
      const u = userIn.value.trim();
      const ok = [
        userIn._error(!u ? 'Enter a user name.' : /\s/.test(u) ? 'A user name cannot contain spaces.' : ''),
        pwIn._error(pwIn.value ? '' : 'Enter a password.'),
      ].every(Boolean);
      if (!ok) return;
      setBusy(addBtn, true);
      try {
        await api('POST', base, { username: u, password: pwIn.value, permissions: permIn.value });
        toast(`${u} added.`, 'ok');
        userIn.value = '';
        pwIn.value = '';
        await load();
        userIn.focus();
      } catch (e) { toastError(e); } finally { setBusy(addBtn, false); }
    }

    load();
    return h('section', { class: 'card', 'aria-labelledby': 'users-title' },
      h('h2', { id: 'users-title' }, 'Editor users'),
      h('p', { class: 'muted' }, 'People who log in to this tenant’s Node-RED editor.'),
      h('div', { class: 'table-wrap' }, table),
      h('form', { class: 'add-user', novalidate: true, onsubmit: onAdd },
        h('h3', null, 'Add a user'),
        h('div', { class: 'row3' }, field('User name', userIn), field('Password', pwIn), field('Permissions', permIn)),
        h('div', { class: 'form-actions' }, addBtn)));
  }

  /** Limits, on-demand and theme forms of a tenant; each saves on its own. */
  function tenantForms(t, onTenant) {
    const path = `/api/tenants/${enc(t.name)}`;
    let current = t;
    const saved = (nt, msg) => { if (nt && nt.name) { current = nt; onTenant(nt); } toast(msg, 'ok'); };

    // Limits
    const li = limitInputs('limits', t.limits || {});
    const limitsBtn = h('button', { type: 'submit', id: 'limits-save', class: 'btn primary' }, 'Save limits');
    const limitsForm = formCard('Limits', 'limits', [
      h('p', { class: 'muted' }, 'The most memory, CPU and processes this tenant may use. A running tenant restarts to apply new limits.'),
      limitFields(li),
    ], limitsBtn, async () => {
      const limits = readLimits(li.memory, li.cpus, li.pids);
      if (!limits) return;
      const wasRunning = current.state === 'running';
      const nt = await api('PUT', `${path}/limits`, limits);
      saved(nt, wasRunning ? `Limits saved; ${t.name} restarts to apply them.` : 'Limits saved.');
    });

    // On demand
    const od = h('input', { type: 'checkbox', id: 'od-enabled', name: 'od-enabled', checked: !!t.on_demand });
    const idle = input('od-idle', { type: 'number', min: 1, max: 1440, step: 1, inputmode: 'numeric', value: t.idle_minutes ?? 15 });
    const odBtn = h('button', { type: 'submit', id: 'od-save', class: 'btn primary' }, 'Save');
    const odForm = formCard('On demand', 'od', [
      h('p', { class: 'muted' }, 'An on-demand tenant starts when someone opens it and stops after the idle time without requests. The first visit waits while it starts.'),
      field('Start on demand, stop when idle', od),
      field('Idle minutes', idle, '1 to 1440'),
    ], odBtn, async () => {
      const m = idle.value.trim();
      if (!idle._error(/^\d+$/.test(m) && +m >= 1 && +m <= 1440 ? '' : 'Enter whole minutes from 1 to 1440.')) return;
      const nt = await api('PATCH', path, { on_demand: od.checked, idle_minutes: Number(m) });
      saved(nt, 'On-demand settings saved.');
    });

    // Theme
    const theme = t.theme || {};
    const tTitle = input('theme-title', { value: theme.title || '' });
    const tLogo = input('theme-logo', { type: 'url', value: theme.logo || '', placeholder: 'https://…/logo.png' });
    const tCss = input('theme-css', { type: 'url', value: theme.css || '', placeholder: 'https://…/theme.css' });
    const themeBtn = h('button', { type: 'submit', id: 'theme-save', class: 'btn primary' }, 'Save theme');
    const themeForm = formCard('Theme', 'theme', [
      h('p', { class: 'muted' }, 'How this tenant’s editor looks. Leave a field empty for the appliance default.'),
      field('Title', tTitle), field('Logo URL', tLogo), field('CSS URL', tCss, 'A stylesheet added to the editor.'),
    ], themeBtn, async () => {
      const nt = await api('PATCH', path, { theme: themeBody(tTitle, tLogo, tCss) });
      saved(nt, 'Theme saved.');
    });

    return [limitsForm, odForm, themeForm];
  }

  function themeBody(title, logo, css) {
    const v = (el) => el.value.trim() || null;
    return { title: v(title), logo: v(logo), css: v(css) };
  }

  /** A card holding one form whose submit runs `save` with a spinner; errors become toasts. */
  function formCard(title, id, content, button, save) {
    return h('section', { class: 'card', 'aria-labelledby': id + '-title' },
      h('h2', { id: id + '-title' }, title),
      h('form', {
        novalidate: true,
        onsubmit: async (ev) => {
          ev.preventDefault();
          if (button.disabled) return;
          setBusy(button, true);
          try { await save(); } catch (e) { toastError(e); } finally { setBusy(button, false); }
        },
      }, content, h('div', { class: 'form-actions' }, button)));
  }

  // ---------------------------------------------------------------- 11. settings

  function renderSettings(alive) {
    const holder = h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Loading settings…');
    appShell('settings', pageHead('Settings'), holder);
    api('GET', '/api/settings').then((s) => {
      if (!alive()) return;
      state.settings = s;
      holder.replaceWith(h('div', { class: 'settings-grid' }, settingsForms(s), addressesCard(s), tlsCard(), doctorCard()));
    }).catch((e) => {
      toastError(e);
      if (alive() && !e.handled) holder.replaceChildren(h('p', { class: 'form-error' }, e.message));
    });
  }

  function settingsForms(s) {
    const put = async (body, msg) => {
      const ns = await api('PUT', '/api/settings', body);
      if (ns) {
        state.settings = ns;
        document.querySelectorAll('[data-appliance-name]').forEach((el) => { el.textContent = ns.name || 'redhive'; });
      }
      toast(msg, 'ok');
      return ns;
    };

    const name = input('settings-name', { value: s.name || '', autocapitalize: 'off' });
    const domain = input('settings-domain', { value: s.domain || '', autocapitalize: 'off' });
    name.addEventListener('input', () => name._error(name.value ? dnsLabelProblem(name.value) : ''));
    const appliance = formCard('Appliance', 'appliance', [
      field('Appliance name', name, h('span', null, 'On the local network the appliance answers at ', h('code', null, '<name>.local'),
        ' and each tenant at ', h('code', null, '<tenant>-<name>.local'), '. Renaming it changes those addresses.')),
      field('Domain', domain, h('span', null, 'Tenants are at ', h('code', null, '<tenant>.<domain>'), '. ',
        h('code', null, 'localhost'), ' works on this machine without any DNS; for other machines use a domain whose wildcard ',
        h('code', null, '*.<domain>'), ' points to this appliance.')),
    ], h('button', { type: 'submit', id: 'settings-appliance-save', class: 'btn primary' }, 'Save'), async () => {
      const n = name.value.trim();
      const d = domain.value.trim().toLowerCase().replace(/\.$/, '');
      if (![name._error(dnsLabelProblem(n, 'The appliance name')), domain._error(domainProblem(d))].every(Boolean)) return;
      await put({ name: n, domain: d }, 'Appliance settings saved.');
    });

    const li = limitInputs('settings', s.limits || {});
    const idle = input('settings-idle', { type: 'number', min: 1, max: 1440, step: 1, inputmode: 'numeric', value: s.idle_minutes ?? 15 });
    const defaults = formCard('Defaults for new tenants', 'defaults', [
      h('p', { class: 'muted' }, 'New tenants start with these limits and idle time; each tenant can be changed on its own page.'),
      limitFields(li),
      field('Idle minutes (on-demand tenants)', idle, '1 to 1440'),
    ], h('button', { type: 'submit', id: 'settings-defaults-save', class: 'btn primary' }, 'Save'), async () => {
      const limits = readLimits(li.memory, li.cpus, li.pids);
      const m = idle.value.trim();
      const okIdle = idle._error(/^\d+$/.test(m) && +m >= 1 && +m <= 1440 ? '' : 'Enter whole minutes from 1 to 1440.');
      if (!limits || !okIdle) return;
      await put({ limits, idle_minutes: Number(m) }, 'Defaults saved.');
    });

    const theme = s.theme || {};
    const tTitle = input('settings-theme-title', { value: theme.title || '' });
    const tLogo = input('settings-theme-logo', { type: 'url', value: theme.logo || '', placeholder: 'https://…/logo.png' });
    const tCss = input('settings-theme-css', { type: 'url', value: theme.css || '', placeholder: 'https://…/theme.css' });
    const themeForm = formCard('Default editor theme', 'theme-defaults', [
      h('p', { class: 'muted' }, 'Used by every tenant that does not set its own.'),
      field('Title', tTitle), field('Logo URL', tLogo), field('CSS URL', tCss),
    ], h('button', { type: 'submit', id: 'settings-theme-save', class: 'btn primary' }, 'Save'), async () => {
      await put({ theme: themeBody(tTitle, tLogo, tCss) }, 'Default theme saved.');
    });

    return [appliance, defaults, themeForm];
  }

  function addressesCard(s) {
    const port = location.port ? ':' + location.port : '';
    const addrs = Array.isArray(s.addresses) ? s.addresses : [];
    const url = (a) => `${location.protocol}//${a.includes(':') ? '[' + a + ']' : a}${port}/`;
    return h('section', { class: 'card', 'aria-labelledby': 'addr-title' },
      h('h2', { id: 'addr-title' }, 'Addresses'),
      h('p', { class: 'muted' }, s.mdns
        ? ['The appliance announces itself on the local network as ', h('code', null, `${s.name}.local`), '.']
        : 'mDNS is off: use the IP addresses below from other devices.'),
      addrs.length
        ? h('ul', { class: 'addr-list', id: 'settings-addresses' }, addrs.map((a) => h('li', null, h('a', { class: 'url', href: url(a) }, url(a)))))
        : h('p', { class: 'muted' }, 'No network addresses found.'));
  }

  /** HTTPS: off (and how to turn it on), or where it listens and which certificates it serves. */
  function tlsCard() {
    const badge = h('span', { class: 'badge state-idle', id: 'tls-state' }, '…');
    const content = h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Loading…');

    async function load() {
      try {
        show(await api('GET', '/api/tls'));
      } catch (e) {
        toastError(e);
        if (!e.handled) { content.className = ''; clear(content).append(h('p', { class: 'form-error' }, e.message)); }
      }
    }

    function show(tls) {
      const on = !!(tls && tls.enabled);
      badge.textContent = on ? 'on' : 'off';
      badge.className = 'badge ' + (on ? 'state-ok' : 'state-idle');
      content.className = '';
      if (!on) {
        clear(content).append(h('p', { id: 'tls-hint' }, (tls && tls.hint) || 'HTTPS is off.'));
        return;
      }
      const uploaded = tls.source === 'uploaded';
      const row = (k, v) => [h('dt', null, k), h('dd', null, v)];
      const facts = h('dl', { class: 'summary', id: 'tls-status' },
        row('Listening on', h('code', null, tls.listen || '—')),
        row('Certificates', uploaded ? 'An uploaded certificate, for every name' : 'From the appliance CA, one for each name'));
      const port = (/:(\d+)$/.exec(tls.listen || '') || [])[1];
      const open = location.protocol !== 'https:' && port
        ? h('p', null, h('a', { id: 'tls-open', href: `https://${location.hostname}${port === '443' ? '' : ':' + port}/${location.hash}` }, 'Open this page over HTTPS'))
        : null;
      const source = uploaded
        ? h('div', { class: 'tls-source' },
          h('p', null, 'An uploaded certificate is in use for every name. Devices trust it when they trust the CA that issued it.'),
          h('button', { type: 'button', id: 'tls-use-ca', class: 'btn', onclick: useCa }, 'Use the appliance CA again'))
        : h('div', { class: 'tls-source' },
          h('p', null, 'The appliance signs a certificate for each of its names (', h('code', null, '<name>.local'), ', each tenant’s names) with its own certificate authority (CA). ',
            'Each device must trust the CA’s root once; then every name opens without a warning.'),
          h('a', { id: 'tls-ca-download', class: 'btn primary', href: '/api/tls/ca.pem', download: 'redhive-ca.pem' }, 'Download the CA root'),
          h('ul', { class: 'tls-install' },
            h('li', null, h('strong', null, 'Android: '), 'Settings → Security → Install certificate (CA certificate), then pick the downloaded file.'),
            h('li', null, h('strong', null, 'iPhone, iPad: '), 'open the file to install it, then turn it on in Settings → General → About → Certificate Trust Settings.'),
            h('li', null, h('strong', null, 'Desktop browsers: '), 'import it into the system’s trust store, or into the browser’s own (Firefox: Settings → Privacy & Security → Certificates).')));
      clear(content).append(h('div', { class: 'tls-grid' }, h('div', null, facts, open, source), uploadForm(uploaded)));
    }

    function uploadForm(uploaded) {
      const cert = pemField('tls-certificate', 'Certificate chain (PEM)', 'The certificate first, then any intermediates.', '-----BEGIN CERTIFICATE-----');
      const key = pemField('tls-key', 'Private key (PEM)', 'PKCS#8, PKCS#1 or EC, without a password.', '-----BEGIN PRIVATE KEY-----');
      const error = h('p', { id: 'tls-upload-error', class: 'form-error', role: 'alert', hidden: true });
      const btn = h('button', { type: 'submit', id: 'tls-upload', class: 'btn primary' }, 'Upload certificate');
      const form = h('form', { class: 'tls-upload', novalidate: true, onsubmit: onUpload },
        h('h3', null, uploaded ? 'Replace the uploaded certificate' : 'Use a certificate of your own'),
        h('p', { class: 'muted' }, 'It is served for every name, so it should cover them all (e.g. a wildcard certificate).'),
        cert.el, key.el, error, h('div', { class: 'form-actions' }, btn));

      async function onUpload(ev) {
        ev.preventDefault();
        if (btn.disabled) return;
        error.hidden = true;
        const ok = [
          cert.area._error(cert.area.value.trim() ? '' : 'Paste the certificate or load it from a file.'),
          key.area._error(key.area.value.trim() ? '' : 'Paste the private key or load it from a file.'),
        ].every(Boolean);
        if (!ok) { form.querySelector('[aria-invalid="true"]').focus(); return; }
        setBusy(btn, true);
        try {
          await api('PUT', '/api/tls', { certificate: cert.area.value, key: key.area.value });
          toast('HTTPS now uses the uploaded certificate.', 'ok');
          await load();
        } catch (e) {
          if (!e.handled) { error.textContent = e.message; error.hidden = false; }
          if (e.status !== 400) toastError(e); // a 400 (the PEM is wrong) shows only next to the form
        } finally { setBusy(btn, false); }
      }
      return form;
    }

    function useCa() {
      openDialog({
        title: 'Use the appliance CA again?',
        body: h('p', null, 'The uploaded certificate and key are deleted; each name gets a certificate from the appliance CA again, which devices must trust.'),
        okLabel: 'Use the appliance CA',
        danger: true,
        onOk: async () => {
          await api('DELETE', '/api/tls');
          toast('HTTPS uses certificates from the appliance CA again.', 'ok');
          await load();
        },
      });
    }

    load();
    return h('section', { class: 'card span-2', id: 'tls-card', 'aria-labelledby': 'tls-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'tls-title' }, 'HTTPS'), badge),
      content);
  }

  /** A PEM textarea with a file input that fills it. */
  function pemField(id, label, hint, placeholder) {
    const area = h('textarea', { id, name: id, class: 'pem', rows: 6, spellcheck: 'false', autocomplete: 'off', autocapitalize: 'off', placeholder });
    const file = h('input', { type: 'file', id: id + '-file', accept: '.pem,.crt,.cer,.key,.txt,application/x-pem-file,text/plain' });
    file.addEventListener('change', () => {
      const f = file.files && file.files[0];
      if (!f) return;
      if (f.size > MiB) { area._error('That file is too large to be a PEM file.'); return; }
      const reader = new FileReader();
      reader.onload = () => { area.value = String(reader.result || ''); area._error(''); };
      reader.onerror = () => { area._error('Cannot read that file.'); };
      reader.readAsText(f);
    });
    const el = h('div', { class: 'pem-field' }, field(label, area, hint),
      h('div', { class: 'pem-file' }, h('label', { for: file.id }, 'Or load it from a file: '), file));
    return { el, area };
  }

  function doctorCard() {
    const body = h('div', null);
    const rerun = h('button', { type: 'button', id: 'doctor-run', class: 'btn small ghost', onclick: run }, 'Run again');
    async function run() {
      setBusy(rerun, true);
      try {
        const report = await api('GET', '/api/doctor');
        clear(body).append(h('p', { class: 'muted' }, doctorSummary(report)), renderChecks(report, 'doctor-list'));
      } catch (e) { toastError(e); } finally { setBusy(rerun, false); }
    }
    run();
    return h('section', { class: 'card span-2', 'aria-labelledby': 'doctor-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'doctor-title' }, 'Doctor'), h('span', { class: 'spacer' }), rerun),
      body);
  }

  // ---------------------------------------------------------------- 12. registry

  const REGISTRY_STATE_CLASS = { running: 'ok', starting: 'busy', installing: 'busy', crashed: 'bad', off: 'idle' };
  const REGISTRY_NOTES = {
    installing: ['warn', 'Installing Verdaccio into the Node.js runtime — the first start takes about half a minute.'],
    crashed: ['bad', 'Verdaccio stopped unexpectedly; redhive restarts it automatically.'],
  };

  /** The private npm registry (Verdaccio) and the catalogue of nodes it gives the tenants' palettes. */
  function renderRegistry(alive) {
    const holder = h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' Loading the registry…');
    const content = h('div', { id: 'registry-page' }, holder);
    appShell('registry', pageHead('Registry'), content);
    let page = null; // {enabled, el, update(view)}

    /** Shows a GET/PUT/POST answer: builds the page on first use or when the registry was turned on/off. */
    function show(v) {
      if (!alive() || !v) return;
      const enabled = !!v.enabled;
      if (!page || page.enabled !== enabled) {
        page = enabled ? registryEnabledPage(show, () => poller.now()) : registryDisabledPage();
        clear(content).append(page.el);
      }
      page.update(v);
    }

    const poller = poll(async () => {
      let v;
      try {
        v = await api('GET', '/api/registry');
      } catch (e) {
        if (!page && alive() && !e.handled) clear(content).append(h('p', { class: 'form-error' }, e.message));
        throw e;
      }
      show(v);
    }, 5000, alive);
  }

  function registryDisabledPage() {
    const hint = h('p', { id: 'registry-hint' });
    const el = h('section', { class: 'card', id: 'registry-disabled', 'aria-labelledby': 'registry-off-title' },
      h('div', { class: 'section-head' },
        h('h2', { id: 'registry-off-title' }, 'The private registry is off'),
        h('span', { class: 'badge state-idle', id: 'registry-state' }, 'off')),
      hint);
    return {
      enabled: false,
      el,
      update(v) { hint.textContent = v.hint || 'The private npm registry is not enabled on this appliance.'; },
    };
  }

  function registryEnabledPage(show, refresh) {
    const cards = [registryStatusCard(show), registryPublishCard(refresh), registryCatalogueCard(show)];
    return {
      enabled: true,
      el: h('div', { class: 'registry-grid' }, cards.map((c) => c.el)),
      update(v) { cards.forEach((c) => c.update(v)); },
    };
  }

  /** State, address, scope and the online/offline switch. */
  function registryStatusCard(show) {
    let current = {};
    let saving = false;
    const badge = h('span', { class: 'badge state-idle', id: 'registry-state' }, '…');
    const meta = h('span', { class: 'card-meta', id: 'registry-restarts' });
    const note = h('p', { class: 'note', id: 'registry-note', hidden: true });
    const url = h('a', { class: 'url', id: 'registry-url', target: '_blank', rel: 'noopener' });
    const scope = h('code', { id: 'registry-scope' });
    const scopeNote = h('span', { class: 'muted' });
    const online = h('input', { type: 'checkbox', id: 'registry-online', name: 'registry-online', class: 'switch', role: 'switch' });
    const mode = h('strong', null);
    const explain = h('span', null);
    const hint = h('span', null, mode, ' ', explain, ' Tenants pick the change up at their next restart.');

    function showMode(on) {
      mode.textContent = on ? 'Online:' : 'Offline:';
      explain.textContent = on
        ? 'npm packages that are not in the registry come from the public npm registry, and the official Node-RED catalogue is listed in the palette.'
        : 'tenants install only what the registry has — published or cached — for air-gapped sites.';
    }

    online.addEventListener('change', async () => {
      const want = online.checked;
      const hadFocus = document.activeElement === online;
      saving = true;
      showMode(want);
      online.disabled = true;
      online.setAttribute('aria-busy', 'true');
      try {
        const v = await api('PUT', '/api/registry', { online: want });
        saving = false;
        show(v);
        toast(want ? 'The registry is online; tenants pick it up at their next restart.'
          : 'The registry is offline; tenants pick it up at their next restart.', 'ok');
      } catch (e) {
        online.checked = !!current.online;
        showMode(!!current.online);
        toastError(e);
      } finally {
        saving = false;
        online.disabled = false;
        online.removeAttribute('aria-busy');
        if (hadFocus && document.activeElement !== online) online.focus();
      }
    });

    function update(v) {
      current = v;
      const st = String(v.state || 'unknown');
      badge.textContent = st;
      badge.className = 'badge state-' + (REGISTRY_STATE_CLASS[st] || 'idle');
      const n = Number(v.restarts) || 0;
      meta.textContent = [v.pid ? `PID ${v.pid}` : null, `${n} restart${n === 1 ? '' : 's'}`].filter(Boolean).join(' · ');
      const [level, text] = REGISTRY_NOTES[st] || [];
      note.className = 'note ' + (level || '');
      note.textContent = text || '';
      note.hidden = !text;
      const href = safeUrl(v.url);
      url.textContent = v.url || '—';
      if (href) url.href = href; else url.removeAttribute('href');
      const sc = '@' + String(v.scope || 'private').replace(/^@/, '');
      scope.textContent = sc;
      scopeNote.textContent = ` — packages named ${sc}/… are published here and never fetched from the public registry.`;
      if (!saving) {
        online.checked = !!v.online;
        showMode(!!v.online);
      }
    }

    const row = (k, v) => [h('dt', null, k), h('dd', null, v)];
    const el = h('section', { class: 'card', id: 'registry-status', 'aria-labelledby': 'registry-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'registry-title' }, 'Private npm registry'), badge, meta),
      h('p', { class: 'muted' }, 'Publish your own Node-RED nodes here; every tenant can install them from its palette.'),
      note,
      h('dl', { class: 'summary' },
        row('Address', url),
        row('Scope', [scope, scopeNote])),
      field('Online', online, hint));
    return { el, update };
  }

  /** The publishing account and the npm commands to publish with it. */
  function registryPublishCard(refresh) {
    const account = h('span', { id: 'registry-account' });
    const user = input('registry-username', { autocapitalize: 'off', placeholder: 'publisher' });
    const pw = input('registry-password', { type: 'password', autocomplete: 'new-password' });
    const save = h('button', { type: 'submit', id: 'registry-account-save', class: 'btn primary' }, 'Save account');
    const formTitle = h('h3', { id: 'registry-account-title' }, 'Set the publishing account');
    const cmds = h('ol', { class: 'cmds', id: 'registry-publish', 'aria-label': 'Commands to publish a package' });
    let cmdKey = null;
    let prefilled = false;

    function showAccount(name) {
      clear(account).append(name ? h('code', null, name) : h('span', { class: 'muted' }, 'no publishing account yet'));
      formTitle.textContent = name ? 'Replace the publishing account' : 'Set the publishing account';
      if (!prefilled && name && !user.value) user.value = name;
      prefilled = true;
    }

    async function onSave(ev) {
      ev.preventDefault();
      if (save.disabled) return;
      const u = user.value.trim();
      const ok = [
        user._error(!u ? 'Enter a user name.' : /[\s:]/.test(u) ? 'A user name cannot contain spaces or ‘:’.' : ''),
        pw._error(pw.value.length < 10 ? `The password needs at least 10 characters (it has ${pw.value.length}).` : ''),
      ].every(Boolean);
      if (!ok) { (user.getAttribute('aria-invalid') ? user : pw).focus(); return; }
      setBusy(save, true);
      try {
        const r = await api('PUT', '/api/registry/account', { username: u, password: pw.value });
        const name = (r && r.account) || u;
        pw.value = '';
        showAccount(name);
        toast(`Publishing account ${name} saved. Use it with npm login.`, 'ok');
        refresh();
      } catch (e) { toastError(e); } finally { setBusy(save, false); }
    }

    function showCommands(list) {
      const key = JSON.stringify(list);
      if (key === cmdKey) return; // keeps a selection the user made
      cmdKey = key;
      clear(cmds).append(...list.map((c, i) => {
        const text = h('code', { class: 'cmd-text', id: `registry-cmd-${i}` }, String(c));
        const what = String(c).split(/\s+/).slice(0, 2).join(' ');
        const btn = h('button', { type: 'button', class: 'btn small', 'data-action': 'copy', 'aria-label': `Copy the ${what} command` }, 'Copy');
        btn.addEventListener('click', () => copyText(String(c), text, btn));
        return h('li', { class: 'cmd' }, text, btn);
      }));
      if (!list.length) cmds.append(h('li', { class: 'muted' }, 'The appliance sent no publishing commands.'));
    }

    function update(v) {
      showAccount(v.account || null);
      showCommands(Array.isArray(v.publish) ? v.publish : []);
    }

    const el = h('section', { class: 'card', id: 'registry-publishing', 'aria-labelledby': 'registry-publishing-title' },
      h('h2', { id: 'registry-publishing-title' }, 'Publishing'),
      h('p', null, 'Publishing account: ', account),
      h('p', { class: 'muted' }, 'Anyone on the network may install from the registry; publishing needs this account.'),
      h('form', { class: 'registry-account-form', novalidate: true, onsubmit: onSave, 'aria-labelledby': 'registry-account-title' },
        formTitle,
        h('div', { class: 'row2' }, field('User name', user), field('Password', pw, 'At least 10 characters. npm login asks for it.')),
        h('div', { class: 'form-actions' }, save)),
      h('div', { class: 'registry-commands' },
        h('h3', null, 'Publish a package'),
        h('p', null, 'In the package’s folder, log in once with this account, then publish:'),
        cmds,
        h('p', { class: 'hint' }, 'To appear in the palette the package needs the ', h('code', null, 'node-red'), ' keyword and a ',
          h('code', null, 'node-red.nodes'), ' section in its package.json.')));
    return { el, update };
  }

  /** Copies with the Clipboard API when the page may; otherwise selects the text for Ctrl+C. */
  async function copyText(text, el, btn) {
    const copied = () => {
      btn.textContent = 'Copied';
      toast('Copied to the clipboard.', 'ok');
      setTimeout(() => { btn.textContent = 'Copy'; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return copied();
      } catch (e) { /* select it instead */ }
    }
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    if (ok) copied();
    else toast('The command is selected: press Ctrl+C (⌘C on a Mac) to copy it.');
  }

  /** The modules the tenants' palettes list, the rebuild button and the packages left out. */
  function registryCatalogueCard(show) {
    const rebuild = h('button', { type: 'button', id: 'registry-rebuild', class: 'btn small', onclick: onRebuild }, 'Rebuild now');
    const catName = h('span', { id: 'registry-catalogue-name' });
    const updated = h('time', { id: 'registry-updated' });
    const count = h('span', { id: 'registry-module-count' });
    const tbody = h('tbody');
    const th = (label) => h('th', { scope: 'col' }, label);
    const table = h('table', { id: 'registry-modules', class: 'table modules-table' },
      h('thead', null, h('tr', null, th('Module'), th('Version'), th('Node types'), th('Updated'), th('Description'))),
      tbody);
    const problemsBox = h('div', { class: 'registry-problems' });
    let modKey = null;
    let probKey = null;

    function row(m) {
      const href = safeUrl(m.url);
      const types = Array.isArray(m.types) ? m.types : [];
      const id = String(m.id ?? '');
      return h('tr', { 'data-module': id },
        h('td', { class: 'mod-id mono' }, href ? h('a', { href, target: '_blank', rel: 'noopener' }, id) : id),
        h('td', { class: 'mod-version mono' }, m.version ? String(m.version) : '—'),
        h('td', { class: 'mod-types' + (types.length ? '' : ' is-empty') }, types.length
          ? h('ul', { class: 'chips', 'aria-label': `Node types of ${id}` }, types.map((t) => h('li', { class: 'chip' }, String(t))))
          : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'mod-updated' + (m.updated_at ? '' : ' is-empty') }, h('span', { class: 'mod-label' }, 'Updated '), timeAgo(m.updated_at)),
        h('td', { class: 'mod-desc' + (m.description ? '' : ' is-empty') }, m.description ? String(m.description) : h('span', { class: 'muted' }, '—')));
    }

    function problemList(problems) {
      return [
        h('h3', { id: 'registry-problems-title' }, 'Left out of the catalogue'),
        h('p', { class: 'muted' }, 'These packages are in the registry but cannot be listed in the palette:'),
        h('ul', { class: 'checks', id: 'registry-problems', 'aria-labelledby': 'registry-problems-title' },
          problems.map((p) => h('li', { class: 'check warn', 'data-package': String(p.package ?? '') },
            h('span', { class: 'mark', 'aria-hidden': 'true' }, '!'),
            h('div', { class: 'check-body' },
              h('div', { class: 'check-name' }, h('strong', { class: 'mono' }, String(p.package ?? ''))),
              h('p', { class: 'check-detail' }, String(p.problem ?? '')))))),
      ];
    }

    async function onRebuild() {
      if (rebuild.disabled) return;
      setBusy(rebuild, true);
      try {
        const v = await api('POST', '/api/registry/rebuild', {});
        show(v);
        const n = v && v.catalogue && Array.isArray(v.catalogue.modules) ? v.catalogue.modules.length : 0;
        toast(`Catalogue rebuilt: ${n} module${n === 1 ? '' : 's'}.`, 'ok');
      } catch (e) { toastError(e); } finally { setBusy(rebuild, false); }
    }

    function update(v) {
      const cat = v.catalogue || {};
      const modules = Array.isArray(cat.modules) ? cat.modules : [];
      catName.textContent = cat.name || 'Private nodes';
      setTimeAgo(updated, cat.updated_at);
      if (!cat.updated_at) updated.textContent = 'not built yet';
      count.textContent = `${modules.length} module${modules.length === 1 ? '' : 's'}`;
      const key = JSON.stringify(modules);
      if (key !== modKey) {
        modKey = key;
        const sorted = [...modules].sort((a, b) => String(a.id).localeCompare(String(b.id)));
        clear(tbody).append(...sorted.map(row));
        if (!modules.length) {
          tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: 5 },
            'No nodes published yet. Publish a package with the node-red keyword and it is listed here.')));
        }
      } else refreshTimes(tbody);
      const problems = Array.isArray(v.problems) ? v.problems : [];
      const pk = JSON.stringify(problems);
      if (pk !== probKey) {
        probKey = pk;
        append(clear(problemsBox), problems.length ? problemList(problems) : null);
      }
    }

    const el = h('section', { class: 'card span-2', id: 'registry-catalogue', 'aria-labelledby': 'registry-catalogue-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'registry-catalogue-title' }, 'Catalogue'), h('span', { class: 'spacer' }), rebuild),
      h('p', { class: 'catalogue-meta' }, catName, ' · updated ', updated, ' · ', count, ' · ',
        h('a', { href: '/catalogue.json', target: '_blank', rel: 'noopener' }, 'catalogue.json')),
      h('p', { class: 'muted' }, 'The tenants’ palettes list these modules. It is rebuilt on every publish.'),
      h('div', { class: 'table-wrap' }, table),
      problemsBox);
    return { el, update };
  }

  // ---------------------------------------------------------------- 13. boot

  function fatal(message) {
    clear(appEl()).append(h('main', { class: 'plain' },
      h('div', { class: 'card auth-card' },
        h('h1', { id: 'page-title' }, 'Cannot reach redhive'),
        h('p', { class: 'form-error' }, message),
        h('button', { type: 'button', class: 'btn primary', onclick: boot }, 'Try again'))));
  }

  async function boot() {
    try {
      const setup = await api('GET', '/api/setup', undefined, { allow401: true });
      state.setupNeeded = !!(setup && setup.needed);
      state.setup = state.setupNeeded ? setup : null;
      if (!state.setupNeeded) {
        try {
          const s = await api('GET', '/api/session', undefined, { allow401: true });
          state.csrf = s && s.csrf;
          state.username = s && s.username;
        } catch (e) {
          if (e.status !== 401) throw e;
          state.csrf = null;
        }
      }
    } catch (e) {
      return fatal(e.message);
    }
    route();
  }

  window.addEventListener('hashchange', route);
  boot();
})();
