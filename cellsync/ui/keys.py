"""The timeline for keyboards and for a page that stays open: a small script beside the table.

Tabulator's rows and section headers are plain `div`s: a mouse can click them, a keyboard
cannot reach them, and Panel offers no hook into the table's own script. So this invisible
component finds the timeline's Tabulator in the page (through the shadow roots Bokeh nests
it in) and:

- makes the table one tab stop: Up/Down (and Home/End) walk rows and section headers, Enter
  or Space opens a row's cell (what a click does) or opens/closes a section;
- says what each section header is (a button, expanded or not) and names the table;
- reports the window's height, so the table fills the window and scrolls (Bokeh sizes a
  table in pixels; a stylesheet on it loses to Bokeh's inline size);
- keeps a reader who is at the newest cells there as cells arrive, and leaves one who
  scrolled up where they are (so no server-side `follow`, which would pull everyone down);
  the page opens on the newest cells.
"""

from __future__ import annotations

import panel as pn
import param


# every shadow root of the page, the document first (Bokeh nests each component in its own)
ROOTS = """
    function* roots(root) {
      yield root;
      for (const el of root.querySelectorAll('*')) { if (el.shadowRoot) { yield* roots(el.shadowRoot); } }
    }
"""


# custom: Panel's Tabulator has no keyboard walk through rows and no hook for one
class TimelineKeys(pn.custom.JSComponent):
    """Invisible; works on the Tabulator whose columns include 'What happened'.

    It is long because the class is its script: walking rows by keyboard, following the newest
    cells, fitting the window and healing Tabulator's virtual renderer share the table's
    state (the reader's place, whether they follow) and are read together."""

    label = param.String(default="Timeline of cells", doc="The table's accessible name.")
    window_height = param.Integer(default=0, doc="The browser window's inner height (px), as the browser reports it.")
    opened = param.Boolean(default=False, doc="The browser has drawn the table and shown its newest cells once.")

    _esm = ROOTS + """
    function findTable() {
      for (const r of roots(document)) {
        for (const t of r.querySelectorAll('.tabulator')) {
          if (t.querySelector('[tabulator-field="What happened"]')) { return t; }
        }
      }
      return null;
    }
    const ITEMS = '.tabulator-table > .tabulator-row, .tabulator-table > .tabulator-group';

    export function render({ model }) {
      let table = null, holder = null, observer = null, resizer = null;
      const items = () => [...table.querySelectorAll(ITEMS)];
      const focused = () => table.getRootNode().activeElement;

      function decorate() {
        table.setAttribute('aria-label', model.label);
        const groups = table.querySelectorAll('.tabulator-group').length > 0;
        // a grid's rows cannot say "expanded"; a treegrid's can (ARIA 1.2)
        table.setAttribute('role', groups ? 'treegrid' : 'grid');
        for (const el of items()) {
          if (el.classList.contains('tabulator-group')) {
            el.tabIndex = -1;
            el.setAttribute('role', 'row');
            el.setAttribute('aria-level', '1');
            el.setAttribute('aria-expanded', el.classList.contains('tabulator-group-visible') ? 'true' : 'false');
            const toggle = el.querySelector('.tabulator-group-toggle');
            if (toggle) { toggle.setAttribute('role', 'gridcell'); toggle.setAttribute('aria-label', 'open or close section'); }
          } else if (!el.hasAttribute('tabindex')) {
            el.tabIndex = -1;
          }
        }
        // Tabulator makes every cell a tab stop (for editing); this table is read, a row at a time
        for (const c of table.querySelectorAll('.tabulator-cell[tabindex="0"]')) { c.tabIndex = -1; }
      }
      function activate(el) {
        if (el.classList.contains('tabulator-group')) {
          (el.querySelector('.tabulator-group-toggle') || el).click();
        } else {
          const cell = [...el.querySelectorAll('.tabulator-cell')].find(c => c.offsetParent !== null);
          (cell || el).click();
        }
        setTimeout(decorate, 50);
      }
      // Tabulator draws the rows for a new scroll position in its scroll handler: after two
      // frames they are there to be focused
      const afterDraw = (fn) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(fn, 30)));
      function move(delta) {
        const list = items();
        if (!list.length) { return; }
        const at = list.indexOf(focused());
        let next = at < 0 ? (delta > 0 ? 0 : list.length - 1) : at + delta;
        if (next >= list.length || next < 0) {
          // past the rows Tabulator has drawn: scroll a row further, then look again
          holder.scrollTop += delta * (list[0].offsetHeight || 30);
          afterDraw(() => move(0));
          return;
        }
        list[Math.max(0, next)].focus();
      }
      function onKey(ev) {
        const el = focused();
        if (ev.key === 'ArrowDown') { move(1); }
        else if (ev.key === 'ArrowUp') { move(-1); }
        else if (ev.key === 'Home') { follow = false; scrollOurselves(0); afterDraw(() => items()[0]?.focus()); }
        else if (ev.key === 'End') { follow = true; toNewest(); afterDraw(() => items().at(-1)?.focus()); }
        else if ((ev.key === 'Enter' || ev.key === ' ') && el && el.matches && el.matches(ITEMS)) { activate(el); }
        else { return; }
        ev.preventDefault();
      }
      // The table's Tabulator (the global `Tabulator` Panel loads) says how many rows it holds
      // and which is last; the reader follows the newest only while at them
      let tab = null, follow = true, count = 0, ourTop = -1, ourUntil = 0, redrawUntil = 0;
      // until the page has once shown the newest cells, every scroll is the page's own (a first
      // draw, a heal, a resize), unless the reader has used the table (wheel, keys, pointer)
      let opened = false, touched = false, inputAt = 0;
      // the page has settled on the newest cells: the attribute tells tests, `opened` the server
      // (from now on new rows can be streamed to the table: it is drawn)
      const markOpened = () => { opened = true; table.setAttribute('data-cs-opened', ''); if (!model.opened) { model.opened = true; } };
      function lastRow() {
        const rows = tab.rowManager.getDisplayRows();
        for (let i = rows.length - 1; i >= 0; i--) { if (rows[i].type === 'row') { return rows[i]; } }
        return null;
      }
      function atNewest() {
        const last = lastRow();
        if (!last) { return true; }
        const el = last.getElement();
        if (!el || !el.isConnected || el.offsetParent === null) { return false; }
        // drawn and in view; or drawn with the view at the end of the scroll range (Tabulator's
        // last row can sit a few pixels lower than its scroll range reaches)
        return el.getBoundingClientRect().bottom <= holder.getBoundingClientRect().bottom + 8
          || holder.scrollTop + holder.clientHeight >= holder.scrollHeight - 2;
      }
      function scrollOurselves(top) {
        holder.scrollTop = top;
        ourTop = holder.scrollTop;  // a scroll event at this place is ours, not the reader's
        ourUntil = Date.now() + 600;
      }
      function toNewest(attempt = 0) {
        // first to the end of the scroll range, which makes Tabulator draw the last rows
        // (scrollToRow(…, 'bottom') on a row not drawn yet computes a negative offset and
        // leaves the table at the top); then, the last row drawn, by the distance between its
        // bottom and the view's: section headers are not as tall as rows, so the range's end is
        // only near the newest row. (scrollToRow on a drawn row settled a few hundred pixels
        // short on 1 load in 8 of 1,000 cells, and it scrolls later than it returns.)
        const last = tab ? lastRow() : null;
        const el = last && last.getElement();
        if (el && el.isConnected && el.offsetParent !== null) {
          const view = holder.getBoundingClientRect().top + holder.clientHeight;
          scrollOurselves(holder.scrollTop + Math.ceil(el.getBoundingClientRect().bottom - view));
        } else if (holder.scrollTop + holder.clientHeight >= holder.scrollHeight - 2) {
          // at the range's end with the last row not drawn (the renderer drew elsewhere while we
          // were here): a scroll to where we are is no scroll event; step back and come again
          scrollOurselves(Math.max(0, holder.scrollTop - holder.clientHeight));
          afterDraw(() => scrollOurselves(holder.scrollHeight));
        } else {
          scrollOurselves(holder.scrollHeight);
        }
        // a redraw in flight (new rows, a new size) can undo it: look again, a few times
        afterDraw(() => {
          if (follow && tab && !atNewest() && attempt < 8) { toNewest(attempt + 1); }
          else if (tab && atNewest()) { markOpened(); }
        });
      }
      function onScroll() {
        const now = Date.now();
        // a scroll within a second of the reader's wheel, key, pointer or touch is theirs, even
        // while the page redraws; any other is the page's own while it opens or redraws
        if (now - inputAt > 1000) {
          if (now < ourUntil && Math.abs(holder.scrollTop - ourTop) <= 2) { return; }  // ours
          if (now < redrawUntil) { return; }  // Tabulator redrawing new data or a new size
          if (!opened && !touched) { return; }
        }
        follow = atNewest();  // the reader's: follow the newest cells only from there
      }
      function attach(t) {
        table = t;
        holder = t.querySelector('.tabulator-tableholder');
        holder.tabIndex = 0;
        holder.addEventListener('keydown', onKey);
        for (const kind of ['wheel', 'pointerdown', 'keydown', 'touchstart']) {
          holder.addEventListener(kind, () => { touched = true; inputAt = Date.now(); }, { passive: true });
        }
        follow = true;
        opened = false;
        touched = false;
        count = 0;
        // a reader at the newest cells follows new ones; one who scrolled away stays
        holder.addEventListener('scroll', () => setTimeout(() => { if (tab) { onScroll(); } }, 0));
        hook();
        // Bokeh resizes the table's box when the server sets its height (window_height,
        // below), but Tabulator keeps drawing for the old size: it draws rows out of view and
        // the table looks empty. Tell it the new size, then follow the newest again.
        const host = t.getRootNode().host;
        resizer = new ResizeObserver(() => {
          const h = Math.round(host.getBoundingClientRect().height);
          if (tab && h > 0 && Math.abs(h - t.offsetHeight) > 2) {
            redrawUntil = Date.now() + 300;  // the redraw scrolls; the reader did not
            tab.setHeight(h);
            if (follow) { setTimeout(toNewest, 30); }
          }
        });
        resizer.observe(host);
        // a table built while its tab was hidden (the dashboard opens on the overview) drew for
        // a size of nothing: no scroll range, the last rows at the top. Draw it again once shown.
        const redraw = () => {
          if (!tab || !table.isConnected) { return; }
          if (holder.clientHeight === 0) { setTimeout(redraw, 100); return; }
          if (broken()) { heal(); return; }
          redrawUntil = Date.now() + 300;
          tab.redraw(true);
          if (follow) { afterDraw(() => toNewest()); }
        };
        afterDraw(redraw);
        observer = new MutationObserver(decorate);
        observer.observe(t, { childList: true, subtree: true });
        decorate();
      }
      // Rows measured while the table was hidden keep a height of 0 or none, and Tabulator's
      // virtual renderer then computes its row height and paddings as NaN: no scroll range,
      // the newest rows drawn at the top, scrolling draws nothing new (seen on 1 load in 4 of a
      // 1,000-cell timeline opened from the overview). `redraw(true)` re-measures only the rows
      // it draws and keeps the NaN; what heals it is forgetting every row's height, giving the
      // renderer the (fixed, configured) row height, and drawing from the top again.
      function broken() {
        const r = tab.rowManager.renderer;
        if (!r || holder.clientHeight === 0) { return false; }
        const nan = [r.vDomRowHeight, r.vDomTopPad, r.vDomBottomPad].some(v => v !== undefined && !Number.isFinite(v));
        const rowH = tab.options.rowHeight || 30;
        const short = tab.getDataCount() * rowH > 2 * holder.clientHeight && holder.scrollHeight <= holder.clientHeight + 2;
        return nan || short;
      }
      function heal() {
        const r = tab.rowManager.renderer;
        redrawUntil = Date.now() + 300;
        if (r && r.renderRows && r.vDomRowHeight !== undefined) {
          // every row is one configured height (timeline.ROW_HEIGHT, plus its border): give each
          // row not measured in view that height, so no sum over rows is 0 or NaN again
          const drawn = table.querySelector('.tabulator-table > .tabulator-row');
          const h = (drawn && drawn.offsetHeight) || (tab.options.rowHeight || 30) + 1;
          const measured = () => {
            for (const row of tab.rowManager.getDisplayRows()) {
              if (row.type === 'row' && !(row.outerHeight > 0)) {  // heightStyled: what its cells are drawn with
                Object.assign(row, { height: h - 1, heightStyled: (h - 1) + 'px', outerHeight: h, heightInitialized: true });
              }
            }
            r.vDomRowHeight = h;
          };
          // drawn again where the reader is (rerenderRows forgets the heights, then calls back)
          if (r.rerenderRows) { r.rerenderRows(measured); } else { measured(); r.renderRows(); }
        } else {
          tab.redraw(true);
        }
        if (follow) { afterDraw(() => toNewest()); }
      }
      function hook() {
        // the table's Tabulator; Panel makes a new one when some settings change
        const found = (typeof Tabulator !== 'undefined' && Tabulator.findTable) ? (Tabulator.findTable(table) || [])[0] : null;
        if (!found || found === tab) { return; }
        tab = found;
        // Panel sends a new or patched row (a summary arriving, a new comment) by setting the
        // whole data again; Tabulator then draws again from the top, and the rows it draws and
        // the scrollbar disagree (an empty-looking table, or rows of another place), however
        // the scroll is restored afterwards. Rows are labelled by position (`_index`), so data
        // that is not shorter can update the rows in place and add the new ones at the end:
        // nothing is redrawn, and the reader stays where they are. Shorter data (a filter
        // switched) is set afresh.
        const setData = tab.setData.bind(tab);
        tab.setData = (data, ...rest) => {
          const n = tab.getDataCount();
          if (Array.isArray(data) && n > 0 && data.length >= n) { return tab.updateOrAddData(data); }
          return setData(data, ...rest);
        };
        tab.on('dataProcessed', () => { redrawUntil = Date.now() + 300; setTimeout(newCells, 0); });
        tab.on('rowAdded', () => setTimeout(newCells, 0));
      }
      function newCells() {
        if (!tab) { return; }
        const n = tab.getDataCount();
        if (n > count && follow) { setTimeout(toNewest, 30); }  // the page opens on the newest too
        count = n;
      }
      const measure = () => { model.window_height = window.innerHeight; };
      window.addEventListener('resize', measure);
      measure();
      const timer = setInterval(() => {
        if (table && table.isConnected) {
          hook();
          if (tab && follow && atNewest()) { markOpened(); }
          if (tab && broken()) { heal(); }
          // a following reader whom a late redraw left short of the newest cells is taken there
          // (a scroll range that grows as rows are measured outlasts toNewest's own retries)
          else if (tab && follow && holder.clientHeight > 0 && Date.now() > Math.max(ourUntil, redrawUntil) && !atNewest()) { toNewest(); }
          newCells();
          return;
        }
        if (observer) { observer.disconnect(); observer = null; }
        if (resizer) { resizer.disconnect(); resizer = null; }
        table = null;
        tab = null;
        const t = findTable();
        if (t) { attach(t); }
      }, 300);
      model.on('remove', () => { clearInterval(timer); window.removeEventListener('resize', measure); if (observer) { observer.disconnect(); } if (resizer) { resizer.disconnect(); } });
      const span = document.createElement('span');
      span.hidden = true;
      return span;
    }
    """


# custom: no Panel hook sets the roles of Tabulator's own elements or the keys of Bokeh's tabs
class PageKeys(pn.custom.JSComponent):
    """Invisible, once per page (outside the tabs, which remove what they hide):

    - gives every Tabulator's scrolling body a role a grid may hold. Tabulator makes it a tab
      stop (so a keyboard can scroll it) with no role, which axe reports as critical
      (aria-required-children) on every table of the dashboard;
    - takes the cells of every table out of the Tab order: Tabulator makes each cell a tab
      stop (for editing), and reaching one dropped the focus to the page, so the keyboard
      could never get past a table;
    - makes Bokeh's tabs work from the keyboard: they are tab stops already, but only a click
      opens one. Enter or Space opens the focused tab, Left/Right move between tabs (the ARIA
      tabs pattern), and each says it is a tab and whether it is the one shown."""

    _esm = ROOTS + """
    export function render({ model }) {
      function holders() {
        for (const r of roots(document)) {
          for (const h of r.querySelectorAll('.tabulator-tableholder:not([role])')) {
            // the scrolling body (a tab stop, so keyboards can scroll it) becomes the rows'
            // group, and the div Tabulator calls the group inside it steps aside (no nesting)
            h.setAttribute('role', 'rowgroup');
            const inner = h.querySelector(':scope > .tabulator-table');
            if (inner) { inner.setAttribute('role', 'none'); }
          }
          // a scrolling box of CellSync's own HTML that a keyboard cannot reach (WCAG 2.1.1;
          // html.table makes its own reachable, this catches any other that does not)
          for (const box of r.querySelectorAll('.cs-scroll:not([tabindex])')) {
            const inner = box.querySelector('[data-testid]');
            box.tabIndex = 0;
            box.setAttribute('role', 'region');
            box.setAttribute('aria-label', inner ? inner.dataset.testid.replace(/-/g, ' ') : 'table');
          }
          // every cell of a read-only table is a tab stop that drops the focus to the page when
          // reached (Tabulator's editing gives it up): Tab goes past the table instead
          for (const c of r.querySelectorAll('.tabulator-cell[tabindex="0"]')) { c.tabIndex = -1; }
        }
      }
      function tabs() {
        for (const r of roots(document)) {
          for (const list of r.querySelectorAll('.bk-headers-wrapper')) {
            list.setAttribute('role', 'tablist');
            const all = [...list.querySelectorAll(':scope > .bk-tab')];
            for (const tab of all) {
              tab.setAttribute('role', 'tab');
              tab.setAttribute('aria-selected', tab.classList.contains('bk-active') ? 'true' : 'false');
              if (tab.dataset.csKeys) { continue; }
              tab.dataset.csKeys = '1';
              tab.addEventListener('keydown', (ev) => {
                const at = all.indexOf(tab);
                if (ev.key === 'Enter' || ev.key === ' ') {
                  const root = tab.getRootNode();
                  tab.click();
                  // Bokeh draws the headers again when the server confirms the change (a few
                  // hundred ms later), and the focus falls to the page: put it back on the tab
                  // (only until it is back, or the reader has moved on to something else)
                  let tries = 0;
                  const keep = setInterval(() => {
                    const active = root.querySelector('.bk-headers-wrapper > .bk-tab.bk-active');
                    const onTab = root.activeElement && root.activeElement.classList.contains('bk-tab');
                    if (document.activeElement === document.body && active) { active.focus(); clearInterval(keep); }
                    else if (!onTab || ++tries > 20) { clearInterval(keep); }
                  }, 100);
                }
                else if (ev.key === 'ArrowRight') { all[(at + 1) % all.length].focus(); }
                else if (ev.key === 'ArrowLeft') { all[(at - 1 + all.length) % all.length].focus(); }
                else { return; }
                ev.preventDefault();
                setTimeout(tabs, 100);
              });
            }
          }
        }
      }
      // tables of a tab appear when it is opened; the tabs say which one is shown
      const timer = setInterval(() => { holders(); tabs(); }, 500);
      model.on('remove', () => clearInterval(timer));
      const span = document.createElement('span');
      span.hidden = true;
      return span;
    }
    """
