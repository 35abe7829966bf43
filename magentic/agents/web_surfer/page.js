// The WebSurfer's one page-side module, loaded into every frame (an init script, and
// injected into a frame found without it). It installs `window.__magentic`; Python calls
// only the methods listed in the contract below, through page_module.py.
//
// Contract of window.__magentic (version 2):
//   observe({maxText, maxName, clip})  -> {title, url, scroll, text, textTruncated,
//        elements: [{id, role, name, state, x, y, w, h, inView, covered, clipped}], notes}
//        ids are local to this document (Python makes them unique across frames); boxes
//        are in this frame's viewport coordinates; `clip` ({x0, y0, x1, y1}, this frame's
//        coordinates) is the part of the frame a person can see, null for a top frame.
//   resolve(id, control)   -> the element with that id (or its form control), or null
//   frameBox(iframe, clip) -> where the iframe's content sits, and what of it is seen
//   point(el), framePoint(iframe, x, y), focusText(el), scroll(el | null, direction)
//        helpers of the actions
//   html()                 -> the document as HTML, open shadow roots inlined (read_page)
//   find(text, k)          -> {n, line, box} of the k-th match (0-based), scrolled to
//   quiet(quietMs, maxMs, sinceMs, actionMs) -> resolved once the DOM has been quiet and
//        the short timers set since the action began have fired
//   showMarks(boxes), clearMarks()   the set-of-marks overlay of headed mode
//   actionInfo(el), actionInfoOf(id, control), focusInfo()  what acting on an element (by
//        handle, by id, or the focused one) would do,
//        for the approval gate: {tag, type, href, download, password, card, file, submits,
//        enterSubmits, form: {method, action, password, card, name} | null}
// It only reads the page, with three exceptions made at document start: it notes closed
// shadow roots and hover listeners as the page creates them, and keeps a clock of the last
// content change (a MutationObserver). Element ids live in a WeakMap, not in attributes.
(() => {
  if (window.__magentic && window.__magentic.version === 2) return;
  const MARKS = '__magentic_marks';
  const mg = {
    version: 2, ids: new WeakMap(), byId: new Map(), control: new Map(), next: 1,
    closedHosts: [], hoverTargets: [], hoverSeen: new WeakSet(), mutatedAt: performance.now(),
    styleCache: new WeakMap(),
  };
  Object.defineProperty(window, '__magentic', {value: mg, configurable: true});

  // Noted as the page builds itself --------------------------------------------------------
  try {
    const attach = Element.prototype.attachShadow;
    Element.prototype.attachShadow = function (init) {
      const root = attach.call(this, init);
      if (init && init.mode === 'closed' && mg.closedHosts.length < 200) mg.closedHosts.push(new WeakRef(this));
      return root;
    };
    const listen = EventTarget.prototype.addEventListener;
    const HOVER = new Set(['mouseenter', 'mouseover', 'pointerenter', 'pointerover']);
    EventTarget.prototype.addEventListener = function (type, ...rest) {
      if (HOVER.has(type) && this instanceof Element && !mg.hoverSeen.has(this) && mg.hoverTargets.length < 500) {
        mg.hoverSeen.add(this);
        mg.hoverTargets.push(new WeakRef(this));
      }
      return listen.call(this, type, ...rest);
    };
  } catch (e) { /* a locked-down page: without the notes, fewer hover targets are found */ }

  // Short timers the page sets (a debounce before a fetch, say): the settle wait lets those
  // an action set fire before it calls the page quiet. Long ones are not waited for.
  const timers = new Map();
  try {
    const setT = window.setTimeout, clearT = window.clearTimeout;
    window.setTimeout = function (fn, delay, ...rest) {
      if (typeof fn !== 'function' || !(Number(delay) <= 1500)) return setT.call(this, fn, delay, ...rest);
      const id = setT.call(this, function (...a) { timers.delete(id); return fn.apply(this, a); }, delay, ...rest);
      if (timers.size < 500) timers.set(id, performance.now());
      return id;
    };
    window.clearTimeout = function (id) { timers.delete(id); return clearT.call(this, id); };
  } catch (e) { /* without it, only requests and mutations are waited for */ }
  const timersSince = (t) => { let n = 0; for (const made of timers.values()) if (made >= t) n++; return n; };

  // The clock of content changes (style and class churn and our overlay are ignored).
  const ours = (records) => records.every((r) => {
    const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
    return (t && t.closest && t.closest('#' + MARKS)) ||
      Array.from(r.addedNodes).concat(Array.from(r.removedNodes)).some((n) => n.id === MARKS);
  });
  new MutationObserver((records) => {
    if (document.getElementById(MARKS) && ours(records)) return;
    mg.mutatedAt = performance.now();
  }).observe(document, {subtree: true, childList: true, characterData: true,
    attributes: true, attributeFilter: ['hidden', 'open', 'disabled', 'value', 'checked',
      'src', 'href', 'aria-hidden', 'aria-expanded', 'aria-busy', 'aria-selected']});

  mg.quiet = (quietMs, maxMs, sinceMs, actionMs) => new Promise((resolve) => {
    // Quiet counts from the last change, never from before the action ended, and waits for
    // the short timers set since the action began.
    const start = performance.now();
    const floor = start - sinceMs;
    const began = start - (actionMs === undefined ? sinceMs : actionMs);
    const tick = () => {
      const now = performance.now();
      const quietFor = now - Math.max(mg.mutatedAt, floor);
      const waiting = timersSince(began);
      if ((quietFor >= quietMs && !waiting) || now - start >= maxMs) {
        resolve({ms: Math.round(now - start), timers: waiting});
      } else {
        const next = waiting ? 15 : quietMs - quietFor;
        setTimeout(tick, Math.max(1, Math.min(next, maxMs - (now - start))));
      }
    };
    tick();
  });

  // Reading the page -----------------------------------------------------------------------
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
  const POPUP = '[aria-haspopup]:not([aria-haspopup=false]),[aria-expanded=false],[onmouseover],[onmouseenter]';
  const SKIP_TEXT = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'IFRAME', 'FRAME', 'OBJECT']);
  const MAX_DEPTH = 40;

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
  mg.resolve = (id, control) => {
    const ref = (control && mg.control.get(id)) || mg.byId.get(id);
    const el = ref && ref.deref();
    return el && el.isConnected ? el : null;
  };
  const parentOf = (n) => n.assignedSlot || n.parentElement || (n.parentNode && n.parentNode.host) || null;
  const composedContains = (a, b) => {
    for (let n = b, i = 0; n && i < 200; n = parentOf(n), i++) if (n === a) return true;
    return false;
  };
  // Open shadow roots, nested; closed ones as the page made them.
  const shadowRoots = (notes, over) => {
    const roots = [document];
    let deep = false;
    const walk = (root, depth) => {
      for (const el of root.querySelectorAll('*')) {
        if (over()) return;
        if (!el.shadowRoot) continue;
        if (depth >= MAX_DEPTH) { deep = true; continue; }
        roots.push(el.shadowRoot);
        walk(el.shadowRoot, depth + 1);
      }
    };
    walk(document, 0);
    if (deep) notes.push(`elements of shadow roots nested deeper than ${MAX_DEPTH} are not listed`);
    const closed = mg.closedHosts.map((r) => r.deref()).filter((h) => h && h.isConnected);
    if (closed.length) {
      const names = Array.from(new Set(closed.map((h) => h.tagName.toLowerCase()))).slice(0, 5).join(', ');
      notes.push(`${closed.length} closed shadow root${closed.length > 1 ? 's' : ''} (${names}): ` +
        'closed by the page, its content cannot be read');
    }
    return roots;
  };

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
  const textOfIds = (el, ids) => ids.split(/\s+/).map((i) => {
    const root = el.getRootNode();
    const t = (root.getElementById ? root.getElementById(i) : null) || document.getElementById(i);
    return t ? t.innerText || t.textContent : '';
  }).join(' ');
  const labelText = (label) => {
    let out = '';
    const walk = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!n.parentElement.closest('select,textarea,button,option,datalist')) out += ' ' + n.nodeValue;
    }
    return out;
  };
  const nameOf = (el, role, maxName) => {
    let name = el.getAttribute('aria-label') || '';
    const by = el.getAttribute('aria-labelledby');
    if (!name && by) name = textOfIds(el, by);
    const tag = el.tagName.toLowerCase();
    if (!name && el.labels && el.labels.length) name = Array.from(el.labels).map((l) => labelText(l)).join(' ');
    if (!name && (tag === 'input' || tag === 'textarea')) {
      if (['button', 'submit', 'reset'].includes(el.type)) name = el.value || (el.type === 'submit' ? 'Submit' : '');
      else name = el.placeholder || el.title || el.name || '';
    }
    if (!name && tag === 'select') name = el.title || el.name || '';
    if (!name && role !== 'textbox') {
      name = el.childElementCount > 40 ? (el.textContent || '') : (el.innerText || '');
      if (!name.trim() && el.shadowRoot) name = el.shadowRoot.textContent || '';
      if (!name.trim()) {
        const img = el.querySelector('img[alt],svg[aria-label]');
        if (img) name = img.getAttribute('alt') || img.getAttribute('aria-label') || '';
      }
    }
    if (!name) name = el.title || el.getAttribute('alt') || '';
    return clean(name, maxName);
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
    const active = el.getRootNode().activeElement;
    if (el === active || (el.shadowRoot && el.shadowRoot.activeElement)) s.focused = true;
    return s;
  };
  const shown = (el, r) => {
    if (r.width < 1 || r.height < 1) return false;
    if (el.checkVisibility) return el.checkVisibility({opacityProperty: true, visibilityProperty: true});
    const cs = getComputedStyle(el);
    return cs.visibility !== 'hidden' && cs.display !== 'none' && cs.opacity !== '0';
  };
  const meet = (a, b) => {
    const r = {l: Math.max(a.l, b.l), t: Math.max(a.t, b.t), r: Math.min(a.r, b.r), b: Math.min(a.b, b.b)};
    return r.r - r.l >= 1 && r.b - r.t >= 1 ? r : null;
  };
  const box = (r) => ({l: r.left, t: r.top, r: r.right, b: r.bottom});

  // What a person can see: the frame's visible part, less what ancestors clip away
  // (overflow), less what something else covers (sampled with elementFromPoint).
  const makeSight = (clip) => {
    const vw = innerWidth, vh = innerHeight;
    const view = clip
      ? {l: Math.max(0, clip.x0), t: Math.max(0, clip.y0), r: Math.min(vw, clip.x1), b: Math.min(vh, clip.y1)}
      : {l: 0, t: 0, r: vw, b: vh};
    const kids = new Map();
    const styles = new Map();
    const style = (el) => {
      let cs = styles.get(el);
      if (!cs) { cs = getComputedStyle(el); styles.set(el, cs); }
      return cs;
    };
    // The part of the frame in which `el` can show, given its ancestors' overflow.
    const clipOf = (el) => {
      if (style(el).position === 'fixed') return view;
      const p = parentOf(el);
      return p ? kidsClip(p) : view;
    };
    const kidsClip = (el) => {
      if (kids.has(el)) return kids.get(el);
      let c = clipOf(el);
      const cs = style(el);
      if (c && el !== document.documentElement && el !== document.body &&
          (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') && cs.display !== 'contents') {
        c = meet(c, box(el.getBoundingClientRect()));
      }
      kids.set(el, c);
      return c;
    };
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
      if (composedContains(el, hit) || composedContains(hit, el)) return true;
      return !!(el.labels && Array.from(el.labels).some((l) => composedContains(l, hit)));
    };
    // Seen: the visible rectangle of `r` for `el`, or why not ('clipped', 'covered').
    const seen = (el, r, points = 3) => {
      const c = clipOf(el);
      const full = meet(box(r), view);
      const vis = c && meet(box(r), c);
      if (!vis) return {why: full ? 'clipped' : 'out'};
      const cx = (vis.l + vis.r) / 2, cy = (vis.t + vis.b) / 2;
      const samples = points === 1 ? [[cx, cy]] : [[cx, cy], [vis.l + 2, vis.t + 2], [vis.r - 2, vis.b - 2]];
      if (samples.every(([x, y]) => !related(el, deepHit(x, y)))) return {why: 'covered'};
      return {vis};
    };
    return {view, seen, clipOf, style, deepHit};
  };

  // Triggers of hover menus: CSS `:hover` rules that show another element, hover
  // listeners the page added, and ARIA popups.
  const hoverSelectors = (root) => {
    const sheets = Array.from(root.styleSheets || []).concat(Array.from(root.adoptedStyleSheets || []));
    let key = sheets.length;
    for (const s of sheets) { try { key = key * 31 + s.cssRules.length; } catch (e) { key += 7; } }
    const cached = mg.styleCache.get(root);
    if (cached && cached.key === key) return cached.selectors;
    const selectors = new Set();
    const scan = (rules, depth) => {
      for (const rule of rules) {
        if (rule.cssRules && depth < 4 && !rule.selectorText) { scan(rule.cssRules, depth + 1); continue; }
        const text = rule.selectorText;
        if (!text || !text.includes(':hover')) continue;
        const st = rule.style;
        if (!st || !(st.display || st.visibility || st.opacity || st.maxHeight || st.height || st.transform)) continue;
        for (const sel of text.split(',')) {
          const at = sel.indexOf(':hover');
          if (at < 0) continue;
          const rest = sel.slice(at + 6).trim();
          if (!rest || rest.startsWith(':')) continue;  // a rule about the hovered element itself
          const trigger = sel.slice(0, at).trim().replace(/[>+~]\s*$/, '');
          if (trigger) selectors.add(JSON.stringify([trigger, rest]));
        }
        if (selectors.size > 60) return;
      }
    };
    for (const s of sheets) { try { scan(s.cssRules, 0); } catch (e) { /* a cross-origin sheet */ } }
    const out = Array.from(selectors).map((pair) => JSON.parse(pair));
    mg.styleCache.set(root, {key, selectors: out});
    return out;
  };
  // Whether `el` has what its `:hover` rule shows: a generic `li:hover > ul` then marks only
  // the items that do have a sub-list, not every item of every list.
  const reveals = (el, rest) => {
    const r = rest.trim();
    try {
      if (r.startsWith('+')) { const n = el.nextElementSibling; return !!n && n.matches(r.slice(1).trim()); }
      if (r.startsWith('~')) {
        const want = r.slice(1).trim();
        return Array.from(el.parentElement ? el.parentElement.children : []).some((n) => n !== el && n.matches(want));
      }
      if (r.startsWith('>')) return !!el.querySelector(':scope > ' + r.slice(1).trim());
      return !!el.querySelector(r);
    } catch (e) {
      return true;  // a selector we cannot test: trust the rule
    }
  };
  const hoverCandidates = (roots) => {
    const out = [];
    for (const root of roots) {
      for (const [sel, rest] of hoverSelectors(root)) {
        try {
          for (const el of root.querySelectorAll(sel)) if (reveals(el, rest)) out.push(el);
        } catch (e) { /* a selector this browser does not take */ }
        if (out.length > 200) break;
      }
      for (const el of root.querySelectorAll(POPUP)) out.push(el);
    }
    for (const ref of mg.hoverTargets) {
      const el = ref.deref();
      if (el && el.isConnected) out.push(el);
    }
    return out;
  };

  mg.observe = (args) => {
    const MAX_TEXT = args.maxText, MAX_NAME = args.maxName;
    const notes = [];
    // The walk is bounded in time: a page of millions of nodes gives what was read by then,
    // with a note, instead of holding the renderer (and the step) for minutes.
    const started = performance.now(), workMs = args.workMs || 1500;
    let cut = false, checks = 0;
    const over = () => {
      if (!cut && (++checks & 63) === 0 && performance.now() - started > workMs) cut = true;
      return cut;
    };
    const sight = makeSight(args.clip || null);
    const roots = shadowRoots(notes, over);
    const taken = new Set();
    const elements = [];
    const vw = innerWidth, vh = innerHeight;
    const area = vw * vh;
    const add = (el, target, role) => {
      // `target` is what an action should use (a label standing in for a hidden input).
      if (taken.has(target)) return;
      taken.add(target); taken.add(el);
      const r = target.getBoundingClientRect();
      role = role || roleOf(el);
      const item = {
        id: idOf(target), role, name: nameOf(el, role, MAX_NAME), state: stateOf(el, role),
        x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width), h: Math.round(r.height),
        inView: false,
      };
      const s = sight.seen(target, r);
      if (s.vis) item.inView = true;
      else if (s.why === 'covered') item.covered = true;
      else if (s.why === 'clipped') item.clipped = true;
      if (target !== el) mg.control.set(item.id, new WeakRef(el));
      elements.push(item);
    };
    for (const root of roots) {
      for (const el of root.querySelectorAll(WIDGET)) {
        if (over()) break;
        if (taken.has(el) || el.closest('#' + MARKS)) continue;
        const r = el.getBoundingClientRect();
        if (shown(el, r)) { add(el, el); continue; }
        // A styled checkbox or file input hides the control and shows its label.
        if (el.tagName === 'INPUT' && el.labels && el.labels.length) {
          const label = Array.from(el.labels).find((l) => shown(l, l.getBoundingClientRect()));
          if (label) add(el, label);
        }
      }
    }
    let hovers = 0;
    for (const el of hoverCandidates(roots)) {
      if (taken.has(el) || el === document.body || el === document.documentElement || hovers >= 40) continue;
      const r = el.getBoundingClientRect();
      if (!shown(el, r) || r.width * r.height > area / 2) continue;
      const explicit = el.getAttribute('role');
      add(el, el, explicit ? roleOf(el) : 'hover menu');
      hovers++;
    }
    // Scrollable areas inside the page (not the page itself), with where they are scrolled.
    for (const root of roots) {
      for (const el of root.querySelectorAll('div,section,ul,ol,main,aside,nav,article,pre,table,tbody,dl,form,fieldset')) {
        if (over()) break;
        if (taken.has(el) || el.scrollHeight <= el.clientHeight + 8 || el.clientHeight < 40) continue;
        const oy = sight.style(el).overflowY;
        if (oy !== 'auto' && oy !== 'scroll') continue;
        const r = el.getBoundingClientRect();
        if (!shown(el, r)) continue;
        taken.add(el);
        const pct = Math.round(100 * el.scrollTop / Math.max(1, el.scrollHeight - el.clientHeight));
        const s = sight.seen(el, r, 1);
        elements.push({
          id: idOf(el), role: 'scrollable area', name: clean(el.getAttribute('aria-label') || el.innerText, 40),
          state: {scrolled: pct + '%'}, x: Math.round(r.left), y: Math.round(r.top),
          w: Math.round(r.width), h: Math.round(r.height), inView: !!s.vis,
          clipped: s.why === 'clipped', covered: s.why === 'covered',
        });
      }
    }

    // The text a person would see, in reading order through open shadow roots and slots.
    const parts = [];
    let total = 0, lastBottom = -1e9, lastTop = -1e9, truncated = false;
    const range = document.createRange();
    const parentOk = new Map();
    const children = (node) => {
      if (node.shadowRoot) return node.shadowRoot.childNodes;
      if (node.tagName === 'SLOT') {
        const assigned = node.assignedNodes();
        return assigned.length ? assigned : node.childNodes;
      }
      return node.childNodes;
    };
    const textOf = (node) => {
      const p = node.parentElement;
      if (!p || !node.nodeValue.trim()) return;
      let ok = parentOk.get(p);
      if (ok === undefined) {
        const pr = p.getBoundingClientRect();
        ok = shown(p, pr) && !p.closest('#' + MARKS) && !!meet(box(pr), sight.view);
        parentOk.set(p, ok);
      }
      if (!ok) return;
      range.selectNodeContents(node);
      const r = range.getBoundingClientRect();
      if (r.width < 1) return;
      const s = sight.seen(p, r, 1);
      if (!s.vis) return;
      const text = node.nodeValue.replace(/\s+/g, ' ').trim();
      const newLine = r.top >= lastBottom - 2 || r.top < lastTop - 2;
      const piece = parts.length ? (newLine ? '\n' : ' ') + text : text;
      if (total + piece.length > MAX_TEXT) {
        parts.push(piece.slice(0, Math.max(0, MAX_TEXT - total)));
        truncated = true;
        return;
      }
      parts.push(piece); total += piece.length;
      lastBottom = r.bottom; lastTop = r.top;
    };
    const walk = (node, depth) => {
      for (const child of children(node)) {
        if (truncated || over()) return;
        if (child.nodeType === 3) textOf(child);
        else if (child.nodeType === 1 && !SKIP_TEXT.has(child.tagName) && depth < 400) walk(child, depth + 1);
      }
    };
    walk(document.body || document.documentElement, 0);
    if (cut) {
      notes.push(`the page is too large to read in full: this shows what ${workMs} ms of ` +
        'reading found (use find_on_page, or read_page, for the rest)');
    }

    const se = document.scrollingElement || document.documentElement;
    return {
      title: document.title || '', url: location.href,
      scroll: {x: Math.round(se.scrollLeft), y: Math.round(se.scrollTop), height: Math.round(se.scrollHeight), viewport: vh, width: vw},
      text: parts.join(''), textTruncated: truncated, elements, notes,
    };
  };

  // Where an iframe's content sits in this frame, and which part of it a person sees.
  mg.frameBox = (el, clip) => {
    const sight = makeSight(clip || null);
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    const x = r.left + el.clientLeft + parseFloat(cs.paddingLeft || '0');
    const y = r.top + el.clientTop + parseFloat(cs.paddingTop || '0');
    const inner = {left: x, top: y, right: x + el.clientWidth - parseFloat(cs.paddingLeft || '0') - parseFloat(cs.paddingRight || '0'),
      bottom: y + el.clientHeight - parseFloat(cs.paddingTop || '0') - parseFloat(cs.paddingBottom || '0')};
    const out = {x, y, name: clean(el.getAttribute('title') || el.getAttribute('name') || el.id || '', 40),
      src: el.src || '', seen: null, why: null};
    if (!shown(el, r)) { out.why = 'hidden'; return out; }
    const s = sight.seen(el, {left: inner.left, top: inner.top, right: inner.right, bottom: inner.bottom,
      width: inner.right - inner.left, height: inner.bottom - inner.top});
    if (s.vis) out.seen = {x0: s.vis.l, y0: s.vis.t, x1: s.vis.r, y1: s.vis.b};
    else out.why = s.why;
    return out;
  };

  // Actions' helpers -----------------------------------------------------------------------
  // Where to click: the element's center, scrolled into view, if nothing covers it there.
  mg.point = (el) => {
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') return {disabled: true};
    let r = el.getBoundingClientRect();
    if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) {
      el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
      r = el.getBoundingClientRect();
    }
    if (r.width < 1 || r.height < 1) return null;
    const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
    const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
    const hit = makeSight(null).deepHit(x, y);
    const labels = el.labels ? Array.from(el.labels) : [];
    const ok = hit && (composedContains(el, hit) || labels.some((l) => composedContains(l, hit)));
    return ok ? {x, y} : null;
  };
  // A point inside the iframe `el` (its content's coordinates) in this frame's coordinates,
  // scrolled into view, and whether the iframe is what a click there would reach.
  mg.framePoint = (el, x, y) => {
    const at = () => {
      const r = el.getBoundingClientRect();
      const cs = getComputedStyle(el);
      return [r.left + el.clientLeft + parseFloat(cs.paddingLeft || '0') + x,
        r.top + el.clientTop + parseFloat(cs.paddingTop || '0') + y];
    };
    let [px, py] = at();
    if (px < 0 || py < 0 || px >= innerWidth || py >= innerHeight) {
      el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
      [px, py] = at();
    }
    return {x: px, y: py, ok: makeSight(null).deepHit(px, py) === el};
  };
  // Focus a text field and select its content, so typed text replaces it.
  mg.focusText = (el) => {
    const typed = ['text', 'search', 'email', 'url', 'tel', 'password', 'number', ''];
    const tag = el.tagName;
    const field = (tag === 'INPUT' && typed.includes((el.getAttribute('type') || '').toLowerCase())) || tag === 'TEXTAREA';
    if (!(field || el.isContentEditable) || el.disabled || el.readOnly) return false;
    const r = el.getBoundingClientRect();
    if (r.top < 0 || r.bottom > innerHeight) el.scrollIntoView({block: 'center', behavior: 'instant'});
    el.focus();
    if (field) {
      el.select();
    } else {
      const range = document.createRange();
      range.selectNodeContents(el);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
    }
    const active = el.getRootNode().activeElement || document.activeElement;
    return active === el || el.contains(active);
  };
  mg.scroll = (target, direction) => {
    const el = target || document.scrollingElement || document.documentElement;
    const before = el.scrollTop;
    const step = (target ? el.clientHeight : innerHeight) * 0.8;
    el.scrollBy({top: direction * step, behavior: 'instant'});
    return Math.round(el.scrollTop - before);
  };

  // The whole document as HTML, with open shadow roots in place of their hosts' children.
  mg.html = () => {
    const out = [];
    const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const attr = (s) => esc(s).replace(/"/g, '&quot;');
    const VOID = new Set(['AREA', 'BASE', 'BR', 'COL', 'EMBED', 'HR', 'IMG', 'INPUT', 'LINK', 'META', 'SOURCE', 'TRACK', 'WBR']);
    const emit = (node, depth) => {
      if (node.nodeType === 3) { out.push(esc(node.nodeValue)); return; }
      if (node.nodeType !== 1 || depth > 400) return;
      const tag = node.tagName;
      if (tag === 'SCRIPT' || tag === 'STYLE' || tag === 'NOSCRIPT' || tag === 'TEMPLATE' || node.id === MARKS) return;
      const name = tag.toLowerCase();
      if (name === 'slot') {
        const assigned = node.assignedNodes();
        for (const c of (assigned.length ? assigned : node.childNodes)) emit(c, depth + 1);
        return;
      }
      let open = '<' + name;
      for (const a of node.attributes) open += ` ${a.name}="${attr(a.value)}"`;
      out.push(open + '>');
      if (VOID.has(tag)) return;
      for (const c of (node.shadowRoot ? node.shadowRoot.childNodes : node.childNodes)) emit(c, depth + 1);
      out.push(`</${name}>`);
    };
    out.push(`<!doctype html><html><head><title>${esc(document.title || '')}</title></head>`);
    emit(document.body || document.documentElement, 0);
    out.push('</html>');
    return out.join('');
  };

  // Find on page: the rendered text, through open shadow roots; the k-th match shown.
  const BLOCKS = 'p,li,td,th,h1,h2,h3,h4,h5,h6,div,section,article,blockquote,pre,dd,dt,caption,label,figcaption';
  mg.find = (query, k) => {
    const nodes = [];
    let all = '', lastBlock = null;
    const visit = (node, depth) => {
      const kids = node.shadowRoot ? node.shadowRoot.childNodes
        : node.tagName === 'SLOT' && node.assignedNodes().length ? node.assignedNodes() : node.childNodes;
      for (const c of kids) {
        if (c.nodeType === 3) {
          const p = c.parentElement;
          if (!p || !c.nodeValue.trim() || (p.checkVisibility && !p.checkVisibility({visibilityProperty: true}))) continue;
          const block = p.closest(BLOCKS);
          if (all && block !== lastBlock) all += '\n';
          lastBlock = block;
          nodes.push([c, all.length]);
          all += c.nodeValue.replace(/\s/g, ' ') + ' ';
        } else if (c.nodeType === 1 && !SKIP_TEXT.has(c.tagName) && c.id !== MARKS && depth < 400) visit(c, depth + 1);
      }
    };
    visit(document.body || document.documentElement, 0);
    const hay = all.toLowerCase(), needle = query.toLowerCase().replace(/\s+/g, ' ').trim();
    const starts = [];
    if (needle) for (let i = hay.indexOf(needle); i >= 0 && starts.length < 1000; i = hay.indexOf(needle, i + 1)) starts.push(i);
    if (!starts.length || k === null || k === undefined) return {n: starts.length};
    const at = starts[((k % starts.length) + starts.length) % starts.length];
    const locate = (pos) => {
      let lo = 0, hi = nodes.length - 1;
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (nodes[mid][1] <= pos) lo = mid; else hi = mid - 1; }
      return nodes[lo];
    };
    const [startNode, startAt] = locate(at);
    const [endNode, endAt] = locate(at + needle.length - 1);
    const range = document.createRange();
    range.setStart(startNode, Math.min(at - startAt, startNode.nodeValue.length));
    range.setEnd(endNode, Math.min(at + needle.length - endAt, endNode.nodeValue.length));
    const host = startNode.parentElement;
    host.scrollIntoView({block: 'center', inline: 'nearest', behavior: 'instant'});
    try { const sel = getSelection(); sel.removeAllRanges(); sel.addRange(range); } catch (e) { /* across roots */ }
    const r = range.getBoundingClientRect();
    // The line (block) of the match, with up to 100 characters either side in it.
    const lineStart = all.lastIndexOf('\n', at) + 1;
    const lineEnd = all.indexOf('\n', at + needle.length) < 0 ? all.length : all.indexOf('\n', at + needle.length);
    const from = Math.max(lineStart, at - 100), to = Math.min(lineEnd, at + needle.length + 100);
    const line = all.slice(from, to).replace(/\s+/g, ' ').trim();
    return {n: starts.length, line, box: {x: r.left, y: r.top, w: r.width, h: r.height},
      before: from > lineStart, after: to < lineEnd};
  };

  // For the approval gate (approval.py): where a link leads, which form a click or an Enter
  // would submit and how, and whether a field takes a password or a payment card's details.
  const CARD_WORDS = /card.?(number|num|no\b)|\bcc.?(num|number)|\bcvc|\bcvv|\bcsc\b|security.?code|card.?expir/i;
  const sensitive = (f) => {
    const tag = f.tagName, type = (f.getAttribute('type') || '').toLowerCase();
    const field = tag === 'INPUT' || tag === 'SELECT';
    const auto = (f.getAttribute('autocomplete') || '').toLowerCase().split(/\s+/);
    const words = ['name', 'id', 'placeholder', 'aria-label'].map((a) => f.getAttribute(a) || '').join(' ');
    return {
      password: tag === 'INPUT' && type === 'password',
      card: field && (auto.some((t) => t.startsWith('cc-')) || CARD_WORDS.test(words)),
    };
  };
  const NOT_TEXT = ['button', 'checkbox', 'radio', 'file', 'submit', 'reset', 'image', 'hidden', 'range', 'color'];
  mg.actionInfo = (el) => {
    const tag = el.tagName.toLowerCase(), type = (el.getAttribute('type') || '').toLowerCase();
    const link = el.closest('a[href], area[href]');
    const own = sensitive(el);
    const button = el.closest('button') || el;
    const btype = (button.getAttribute('type') || '').toLowerCase();
    const submits = (button.tagName === 'BUTTON' && (btype === 'submit' || btype === '')) ||
      (button.tagName === 'INPUT' && (btype === 'submit' || btype === 'image'));
    const info = {
      tag, type, href: link ? link.href : '', download: !!(link && link.hasAttribute('download')),
      password: own.password, card: own.card, file: tag === 'input' && type === 'file',
      submits: false, enterSubmits: false, form: null,
    };
    const form = button.form || el.form || el.closest('form');
    if (!form) return info;
    const fields = Array.from(form.elements).map(sensitive);
    const custom = submits && button.hasAttribute('formmethod');
    info.form = {
      method: (custom ? button.formMethod : form.method) || 'get',
      action: (submits && button.hasAttribute('formaction') ? button.formAction : form.action) || location.href,
      password: fields.some((f) => f.password), card: fields.some((f) => f.card),
      name: form.getAttribute('name') || form.getAttribute('aria-label') || form.id || '',
    };
    info.submits = submits;
    info.enterSubmits = tag === 'input' && !NOT_TEXT.includes(type);
    return info;
  };
  mg.actionInfoOf = (id, control) => {
    const el = mg.resolve(id, control);
    return el ? mg.actionInfo(el) : null;
  };
  mg.focusInfo = () => {
    let el = document.activeElement;
    while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
    return el && el !== document.body && el !== document.documentElement ? mg.actionInfo(el) : null;
  };

  // Headed mode: the marks drawn in the page for the person watching; they take no clicks.
  mg.showMarks = (boxes) => {
    mg.clearMarks();
    const host = document.createElement('div');
    host.id = MARKS;
    host.style.cssText = 'position:fixed;inset:0;pointer-events:none;z-index:2147483647;';
    const root = host.attachShadow({mode: 'open'});
    for (const b of boxes) {
      const d = document.createElement('div');
      d.style.cssText = `position:absolute;left:${b.x}px;top:${b.y}px;width:${b.w}px;` +
        `height:${b.h}px;border:2px solid ${b.color};box-sizing:border-box;`;
      const l = document.createElement('span');
      l.textContent = b.id;
      l.style.cssText = `position:absolute;left:-2px;top:${b.y >= 16 ? -16 : 0}px;` +
        `background:${b.color};color:#fff;font:bold 11px/14px sans-serif;padding:0 3px;`;
      d.appendChild(l);
      root.appendChild(d);
    }
    (document.body || document.documentElement).appendChild(host);
  };
  mg.clearMarks = () => {
    const host = document.getElementById(MARKS);
    if (host) host.remove();
  };
})();
