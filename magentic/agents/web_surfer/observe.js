// One call that gathers everything an observation needs: title, URL, scroll position,
// the visible text of the viewport and the interactive elements (with stable ids).
// It runs through Playwright's evaluate (not subject to the page's CSP) and touches the
// DOM only to read it: element ids live in a WeakMap on window, not in attributes.
(args) => {
  const MAX_TEXT = args.maxText, MAX_NAME = args.maxName;
  const MARKS = '__magentic_marks';
  const mg = window.__magentic || (window.__magentic = {ids: new WeakMap(), byId: new Map(), next: 1});
  const vw = window.innerWidth, vh = window.innerHeight;

  const ROLE_OF_INPUT = {
    checkbox: 'checkbox', radio: 'radio', range: 'slider', number: 'spinbutton',
    search: 'searchbox', button: 'button', submit: 'button', reset: 'button', image: 'button',
    file: 'file upload', color: 'button', email: 'textbox', tel: 'textbox', url: 'textbox',
    text: 'textbox', password: 'textbox', date: 'date', 'datetime-local': 'date', month: 'date',
    week: 'date', time: 'time',
  };
  const WIDGET = 'a[href],area[href],button,input:not([type=hidden]),select,textarea,summary,' +
    '[role=button],[role=link],[role=checkbox],[role=radio],[role=tab],[role=menuitem],' +
    '[role=menuitemcheckbox],[role=menuitemradio],[role=option],[role=switch],[role=combobox],' +
    '[role=textbox],[role=searchbox],[role=slider],[role=spinbutton],[role=treeitem],' +
    '[contenteditable=""],[contenteditable=true],[onclick],[tabindex]:not([tabindex="-1"])';

  const clean = (s, n) => {
    s = (s || '').replace(/\s+/g, ' ').trim();
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  };
  const idOf = (el) => {
    let id = mg.ids.get(el);
    if (!id) { id = mg.next++; mg.ids.set(el, id); }
    mg.byId.set(id, new WeakRef(el));
    return id;
  };
  const roots = [document];
  for (const el of document.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);

  const roleOf = (el) => {
    const explicit = (el.getAttribute('role') || '').trim().split(/\s+/)[0];
    if (explicit) return explicit;
    const tag = el.tagName.toLowerCase();
    if (tag === 'a' || tag === 'area') return 'link';
    if (tag === 'button' || tag === 'summary') return 'button';
    if (tag === 'select') return el.multiple ? 'listbox' : 'combobox';
    if (tag === 'textarea') return 'textbox';
    if (tag === 'input') return ROLE_OF_INPUT[(el.type || 'text').toLowerCase()] || 'textbox';
    if (el.isContentEditable) return 'textbox';
    return 'clickable';
  };
  const textOfIds = (ids) => ids.split(/\s+/).map((i) => {
    const t = document.getElementById(i); return t ? t.innerText || t.textContent : '';
  }).join(' ');
  // A label's own words, without the text of controls inside it (a select's options).
  const labelText = (label) => {
    let out = '';
    const walk = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.parentElement.closest('select,textarea,button,option,datalist')) out += ' ' + n.nodeValue;
    }
    return out;
  };
  const nameOf = (el, role) => {
    let name = el.getAttribute('aria-label') || '';
    const by = el.getAttribute('aria-labelledby');
    if (!name && by) name = textOfIds(by);
    const tag = el.tagName.toLowerCase();
    if (!name && el.labels && el.labels.length) name = Array.from(el.labels).map((l) => labelText(l)).join(' ');
    if (!name && (tag === 'input' || tag === 'textarea')) {
      if (['button', 'submit', 'reset'].includes(el.type)) name = el.value || (el.type === 'submit' ? 'Submit' : '');
      else name = el.placeholder || el.title || el.name || '';
    }
    if (!name && tag === 'select') name = el.title || el.name || '';
    if (!name && role !== 'textbox') {
      name = el.childElementCount > 40 ? (el.textContent || '') : (el.innerText || '');
      if (!name.trim()) {
        const img = el.querySelector('img[alt],svg[aria-label]');
        if (img) name = img.getAttribute('alt') || img.getAttribute('aria-label') || '';
      }
    }
    if (!name) name = el.title || el.getAttribute('alt') || '';
    return clean(name, MAX_NAME);
  };
  const stateOf = (el, role) => {
    const s = {};
    const tag = el.tagName.toLowerCase();
    if (tag === 'select') {
      const picked = Array.from(el.selectedOptions || []).map((o) => o.text.trim());
      s.value = clean(picked.join(', '), 60);
      s.options = Array.from(el.options).slice(0, 12).map((o) => clean(o.text, 30));
      if (el.options.length > 12) s.options.push(`… ${el.options.length - 12} more`);
    } else if (tag === 'input' && ['checkbox', 'radio'].includes(el.type)) {
      s.checked = el.checked;
    } else if (tag === 'input' && el.type === 'file') {
      s.value = Array.from(el.files || []).map((f) => f.name).join(', ');
    } else if (tag === 'input' || tag === 'textarea') {
      s.value = el.type === 'password' ? '•'.repeat(Math.min(el.value.length, 8)) : clean(el.value, 60);
    } else if (el.isContentEditable && role === 'textbox') {
      s.value = clean(el.innerText, 60);
    }
    for (const a of ['checked', 'expanded', 'selected', 'pressed']) {
      const v = el.getAttribute('aria-' + a);
      if (v === 'true' || v === 'false') s[a] = v === 'true';
    }
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') s.disabled = true;
    if (el === document.activeElement || (el.shadowRoot && el.shadowRoot.activeElement)) s.focused = true;
    return s;
  };
  const visible = (el, r) => {
    if (r.width < 1 || r.height < 1) return false;
    if (el.checkVisibility) return el.checkVisibility({opacityProperty: true, visibilityProperty: true});
    const cs = getComputedStyle(el);
    return cs.visibility !== 'hidden' && cs.display !== 'none' && cs.opacity !== '0';
  };
  const inView = (r) => r.right > 0 && r.bottom > 0 && r.left < vw && r.top < vh;
  const deepHit = (x, y) => {
    let hit = document.elementFromPoint(x, y);
    while (hit && hit.shadowRoot) {
      const inner = hit.shadowRoot.elementFromPoint(x, y);
      if (!inner || inner === hit) break;
      hit = inner;
    }
    return hit;
  };
  const related = (el, hit) => {
    if (!hit) return false;
    if (el === hit || el.contains(hit) || hit.contains(el)) return true;
    if (el.labels && Array.from(el.labels).some((l) => l.contains(hit))) return true;
    const host = hit.getRootNode && hit.getRootNode().host;
    return !!host && (el === host || el.contains(host));
  };
  const covered = (el, r) => {
    const x0 = Math.max(r.left, 0), x1 = Math.min(r.right, vw), y0 = Math.max(r.top, 0), y1 = Math.min(r.bottom, vh);
    const points = [[(x0 + x1) / 2, (y0 + y1) / 2], [x0 + 2, y0 + 2], [x1 - 2, y1 - 2]];
    return points.every(([x, y]) => !related(el, deepHit(x, y)));
  };

  const seen = new Set();
  const elements = [];
  const add = (el, target) => {
    // `target` is what an action should use (a label standing in for a hidden input).
    if (seen.has(target)) return;
    seen.add(target); seen.add(el);
    const r = target.getBoundingClientRect();
    const role = roleOf(el);
    const item = {
      id: idOf(target), role, name: nameOf(el, role), state: stateOf(el, role),
      x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width), h: Math.round(r.height),
      inView: inView(r),
    };
    if (item.inView && covered(target, r)) { item.inView = false; item.covered = true; }
    if (target !== el) (mg.control || (mg.control = new Map())).set(item.id, new WeakRef(el));
    elements.push(item);
  };
  for (const root of roots) {
    for (const el of root.querySelectorAll(WIDGET)) {
      if (el.closest('#' + MARKS) || seen.has(el)) continue;
      const r = el.getBoundingClientRect();
      if (visible(el, r)) { add(el, el); continue; }
      // A styled checkbox or file input hides the control and shows its label.
      if (el.tagName === 'INPUT' && el.labels && el.labels.length) {
        const label = Array.from(el.labels).find((l) => visible(l, l.getBoundingClientRect()));
        if (label) add(el, label);
      }
    }
  }
  // Scrollable areas inside the page (not the page itself), so the model can scroll them.
  for (const root of roots) {
    for (const el of root.querySelectorAll('div,section,ul,ol,main,aside,nav,article,pre,table,tbody')) {
      if (seen.has(el) || el.scrollHeight <= el.clientHeight + 8 || el.clientHeight < 40) continue;
      const oy = getComputedStyle(el).overflowY;
      if (oy !== 'auto' && oy !== 'scroll') continue;
      const r = el.getBoundingClientRect();
      if (!visible(el, r)) continue;
      seen.add(el);
      const pct = Math.round(100 * el.scrollTop / Math.max(1, el.scrollHeight - el.clientHeight));
      elements.push({
        id: idOf(el), role: 'scrollable area', name: clean(el.getAttribute('aria-label') || el.innerText, 40),
        state: {scrolled: pct + '%'}, x: Math.round(r.left), y: Math.round(r.top),
        w: Math.round(r.width), h: Math.round(r.height), inView: inView(r),
      });
    }
  }

  // The text a person would see in the viewport, in reading order, lines kept apart.
  const parts = [];
  let total = 0, lastBottom = -1e9, lastTop = -1e9, truncated = false;
  const range = document.createRange();
  const visibleParent = new Map();
  const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      const p = node.parentElement;
      if (!p || !node.nodeValue.trim()) return NodeFilter.FILTER_REJECT;
      const tag = p.tagName;
      if (tag === 'SCRIPT' || tag === 'STYLE' || tag === 'NOSCRIPT' || tag === 'TEMPLATE') return NodeFilter.FILTER_REJECT;
      return NodeFilter.FILTER_ACCEPT;
    },
  });
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const p = node.parentElement;
    let ok = visibleParent.get(p);
    if (ok === undefined) {
      const pr = p.getBoundingClientRect();
      ok = inView(pr) && visible(p, pr) && !p.closest('#' + MARKS);
      visibleParent.set(p, ok);
    }
    if (!ok) continue;
    range.selectNodeContents(node);
    const r = range.getBoundingClientRect();
    if (!inView(r) || r.width < 1) continue;
    const text = node.nodeValue.replace(/\s+/g, ' ').trim();
    const newLine = r.top >= lastBottom - 2 || r.top < lastTop - 2;
    const piece = parts.length ? (newLine ? '\n' : ' ') + text : text;
    if (total + piece.length > MAX_TEXT) {
      parts.push(piece.slice(0, Math.max(0, MAX_TEXT - total)));
      truncated = true;
      break;
    }
    parts.push(piece); total += piece.length;
    lastBottom = r.bottom; lastTop = r.top;
  }

  const se = document.scrollingElement || document.documentElement;
  return {
    title: document.title || '', url: location.href,
    scroll: {x: Math.round(se.scrollLeft), y: Math.round(se.scrollTop), height: Math.round(se.scrollHeight), viewport: vh, width: vw},
    text: parts.join(''), textTruncated: truncated, elements,
  };
}
