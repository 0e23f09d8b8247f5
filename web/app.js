/*
 * Harmony dashboard: live over Server-Sent Events (/api/v1/events), with a
 * fallback to polling the REST API. No framework, no build step.
 *
 * Rows are keyed (services by name, targets by id, persistence entries by
 * client) and updated in place, so a weight being typed is never
 * overwritten by a refresh, and an event costs only the cells that changed.
 * Every text from the server goes in through textContent, never as HTML.
 *
 * Services: with one, the page is what it always was. With several, a
 * table of services (listeners, algorithm, targets up, sessions, rate)
 * comes first and picks the service whose targets and persistence table
 * are shown below (#service=NAME keeps the choice); only that service's
 * rows exist in the page. The list comes with the snapshot ("services");
 * from a harmonyd whose snapshot has none, from GET /api/v1/services. A
 * service the snapshot's targets or persistence do not cover is read from
 * /api/v1/services/{name}/targets and /persistence.
 */
'use strict';

(function () {
	var API = '/api/v1';
	var TOKEN_KEY = 'harmony.token';
	var PREV_CONC_KEY = 'harmony.prevConcurrency';
	var POLL_MS = 2000;
	var SSE_GRACE_MS = 5000;	/* no event for this long: poll meanwhile */
	var SPARK_POINTS = 60;
	var SERVICES_MS = 2000;		/* GET /api/v1/services, when the snapshot has no list */
	var SERVICES_RETRY_MS = 30000;	/* ... and when harmonyd had no such route */
	var DETAIL_MS = 1500;		/* a service read from its own routes */

	var state = {
		snap: null,		/* the last snapshot: status, config, targets, persistence */
		receivedAt: 0,		/* Date.now() when it came */
		mode: 'connecting',
		lastEvent: 0,
		pollTimer: null,
		rates: [],		/* new sessions per second, oldest first */
		counters: {},		/* rate key -> { acc, at, rate } */
		services: null,		/* the services, or null: not known (yet) */
		servicesAt: 0,		/* Date.now() when they came */
		servicesLive: false,	/* they came with the snapshot */
		servicesFetch: { busy: false, at: 0, missing: false },
		selected: null,		/* the service picked, by name */
		/* The picked service, when read from its own routes. */
		detail: { name: null, targets: null, persistence: null, at: 0, busy: false, again: false },
		need: { targets: false, persistence: false },
		rows: { services: new Map(), targets: new Map(), clients: new Map() },
		open: new Map(),	/* target id -> its details row (toggleTarget) */
		shown: null,		/* the targets shown: viewTargets() */
		events: { list: [], pending: [], rows: new Map(), available: false, missing: false,
		    busy: false, timer: null }
	};

	function $(id) { return document.getElementById(id); }

	/* Writes only what changed: most cells stay as they are between events. */
	function setText(node, text) {
		if (node.textContent !== text)
			node.textContent = text;
	}

	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		if (attrs) {
			Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
		}
		if (text !== undefined && text !== null)
			e.textContent = String(text);
		return e;
	}

	/* --- token and requests -------------------------------------------- */

	function token() {
		try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
	}

	function setToken(t) {
		try {
			if (t)
				sessionStorage.setItem(TOKEN_KEY, t);
			else
				sessionStorage.removeItem(TOKEN_KEY);
		} catch (e) { /* private mode: the token lives as long as the page */ }
		showToken();
	}

	/* wrong: harmonyd refused the token kept (until another is entered). */
	function showToken(wrong) {
		var st = $('token-status');
		var set = token() !== '';
		st.textContent = !set ? 'no token' : wrong ? 'token wrong' : 'token set';
		st.setAttribute('data-set', !set ? 'no' : wrong ? 'wrong' : 'yes');
		$('token-input').value = '';
	}

	/* Puts the cursor in the token field, to enter it (again). */
	function askToken() {
		var input = $('token-input');
		input.scrollIntoView({ block: 'nearest' });
		input.focus();
	}

	/* action: { label, fn }, a button in the notice (which then stays longer). */
	function notice(text, kind, action) {
		var n = $('notice');
		n.textContent = text;
		n.title = '';
		if (action) {
			var b = el('button', { 'type': 'button', 'class': 'small', 'id': 'notice-action' },
			    action.label);
			b.addEventListener('click', function () {
				n.hidden = true;
				action.fn();
			});
			n.appendChild(b);
		}
		n.setAttribute('data-kind', kind || 'info');
		n.hidden = false;
		clearTimeout(notice.timer);
		notice.timer = setTimeout(function () { n.hidden = true; },
		    action ? 15000 : kind === 'error' ? 8000 : 4000);
	}

	/*
	 * A 401 says which: a token was sent and is wrong (harmonyd says "the
	 * token given is wrong"; an older one says only that a valid one is
	 * required, but the page knows it sent one), or none was.
	 */
	function tokenRefused(err) {
		if (err.sentToken || /token given is wrong/.test(err.why || '')) {
			showToken(true);
			notice('The admin token is wrong: harmonyd refused it.', 'error',
			    { label: 'Re-enter the token', fn: askToken });
		} else {
			notice('This needs the admin token: none is entered.', 'error',
			    { label: 'Enter the token', fn: askToken });
		}
		$('notice').title = 'harmonyd: ' + err.why;
	}

	function request(method, path, body) {
		var headers = { 'Accept': 'application/json' };
		var t = token();
		var opts = { method: method, headers: headers, cache: 'no-store' };
		if (t)
			headers['Authorization'] = 'Bearer ' + t;
		if (body !== undefined) {
			headers['Content-Type'] = 'application/json';
			opts.body = JSON.stringify(body);
		}
		return fetch(path, opts).then(function (res) {
			if (res.status === 204)
				return null;
			return res.text().then(function (text) {
				var data = null;
				try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
				if (!res.ok) {
					var why = data && data.error ? data.error : res.statusText;
					var err = new Error(res.status + ': ' + why);
					err.status = res.status;
					err.why = String(why);
					err.sentToken = !!t;
					throw err;
				}
				return data;
			});
		});
	}

	/* A write: report the outcome, and refresh if no live stream will. */
	function write(method, path, body, done) {
		return request(method, path, body).then(function (data) {
			if (done)
				notice(done, 'ok');
			if (state.mode !== 'live')
				pollOnce();
			if (state.need.targets || state.need.persistence)
				fetchDetail(true);
			return data;
		}).catch(function (err) {
			if (err.status === 401)
				tokenRefused(err);
			else if (err.status === 403)
				notice('Not allowed from this address: ' + err.message, 'error');
			else
				notice('Failed: ' + err.message, 'error');
			throw err;
		});
	}

	/* --- formatting ------------------------------------------------------ */

	function fmtInt(n) {
		if (n === null || n === undefined)
			return '–';
		return Number(n).toLocaleString('en-US');
	}

	function fmtAge(ms) {
		if (ms === null || ms === undefined)
			return '—';
		if (ms < 1000)
			return 'just now';
		var s = Math.floor(ms / 1000);
		if (s < 60)
			return s + ' s ago';
		var m = Math.floor(s / 60);
		if (m < 60)
			return m + ' min ago';
		var h = Math.floor(m / 60);
		return h + ' h ' + (m % 60) + ' min ago';
	}

	function fmtDuration(ms) {
		var s = Math.floor(ms / 1000), d = Math.floor(s / 86400);
		var h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
		if (d > 0)
			return d + 'd ' + h + 'h';
		if (h > 0)
			return h + 'h ' + m + 'm';
		if (m > 0)
			return m + 'm ' + (s % 60) + 's';
		return s + 's';
	}

	function fmtConcurrency(c) {
		if (c < 0)
			return 'unlimited';
		if (c === 0)
			return 'paused';
		return fmtInt(c);
	}

	/* Ages shown now: the server's age plus what passed since it said so. */
	function since() {
		return Date.now() - state.receivedAt;
	}

	/* --- services -------------------------------------------------------- */

	function multi() {
		return !!state.services && state.services.length > 1;
	}

	function defaultService() {
		var s = state.services;
		return s.filter(function (x) { return x.default; })[0] || s[0];
	}

	/* The service whose targets and persistence are shown (several only). */
	function current() {
		var name = state.selected;
		return state.services.filter(function (x) { return x.name === name; })[0] ||
		    defaultService();
	}

	function serviceNamed(name) {
		return state.services && state.services.filter(function (x) {
			return x.name === name;
		})[0];
	}

	function serviceApi(name) {
		return API + '/services/' + encodeURIComponent(name);
	}

	/* The persistence routes: the picked service's, or today's without a list. */
	function persistApi() {
		if (!state.services)
			return API + '/persistence';
		return serviceApi(multi() ? current().name : state.services[0].name) + '/persistence';
	}

	function selectedFromHash() {
		var m = /^#service=([a-z0-9][a-z0-9_-]{0,62})$/.exec(location.hash);
		return m ? m[1] : null;
	}

	function select(name) {
		if (state.selected === name)
			return;
		state.selected = name;
		try {
			history.replaceState(null, '', '#service=' + name);
		} catch (e) { /* a page from file:// or a sandbox: the choice lives as long as the page */ }
		render();
	}

	/* Picked by a click: if its targets are below the screen, bring them up. */
	function picked(name) {
		select(name);
		var head = $('targets-title').closest('.panel');
		if (head.getBoundingClientRect().top > window.innerHeight - 80)
			head.scrollIntoView({ block: 'start' });
	}

	/*
	 * What to show for the picked service. The snapshot's targets carry
	 * their service: when some are the picked service's, it covers it.
	 * Its persistence table is the default service's, unless its entries
	 * say their service. What it does not cover is read from the
	 * service's own routes (state.detail). `at` is when the data came
	 * (ages are shown as they are now); `pending`: not read yet.
	 */
	function viewTargets() {
		var s = state.snap;
		state.need.targets = false;
		if (!multi())
			return { list: s.targets, at: state.receivedAt };
		var svc = current(), def = defaultService().name;
		var list = s.targets.filter(function (t) { return (t.service || def) === svc.name; });
		if (list.length > 0 || svc.default || !svc.targets || svc.targets.total === 0)
			return { list: list, at: state.receivedAt };
		state.need.targets = true;
		var d = state.detail;
		if (d.name === svc.name && d.targets)
			return { list: d.targets, at: d.at };
		return { list: [], at: state.receivedAt, pending: true };
	}

	function viewPersistence() {
		var p = state.snap.persistence;
		state.need.persistence = false;
		if (!multi())
			return { table: p, at: state.receivedAt };
		var svc = current();
		if (p.entries.length > 0 && p.entries[0].service !== undefined) {
			var mine = p.entries.filter(function (e) { return e.service === svc.name; });
			var count = svc.persistence_entries;
			return { table: { count: count, truncated: count > mine.length, entries: mine },
			    at: state.receivedAt };
		}
		if (svc.default)
			return { table: p, at: state.receivedAt };
		if (!svc.persistence_entries)
			return { table: { count: 0, truncated: false, entries: [] }, at: state.receivedAt };
		state.need.persistence = true;
		var d = state.detail;
		if (d.name === svc.name && d.persistence)
			return { table: d.persistence, at: d.at };
		return { table: { count: svc.persistence_entries, truncated: false, entries: [] },
		    at: state.receivedAt, pending: true };
	}

	/* Reads the picked service from its own routes, at most every DETAIL_MS. */
	function fetchDetail(force) {
		var d = state.detail, need = state.need;
		if (!multi() || !(need.targets || need.persistence))
			return;
		var name = current().name;
		if (d.busy) {
			d.again = d.again || force;
			return;
		}
		if (!force && d.name === name && Date.now() - d.at < DETAIL_MS)
			return;
		d.busy = true;
		var base = serviceApi(name);
		Promise.all([
			need.targets ? request('GET', base + '/targets') : null,
			need.persistence ? request('GET', base + '/persistence?limit=200') : null
		]).then(function (r) {
			if (d.name !== name) {
				d.targets = null;
				d.persistence = null;
			}
			d.name = name;
			if (r[0])
				d.targets = r[0].targets;
			if (r[1])
				d.persistence = r[1];
			d.at = Date.now();
		}).catch(function () {
			d.at = Date.now();	/* and try again later */
		}).then(function () {
			var again = d.again;
			d.busy = false;
			d.again = false;
			render();
			if (again)
				fetchDetail(true);
		});
	}

	function setServices(list, live) {
		state.services = list;
		state.servicesAt = Date.now();
		state.servicesLive = live;
	}

	/* For a harmonyd whose snapshot has no "services": one cheap GET now and then. */
	function fetchServices() {
		var f = state.servicesFetch;
		if (f.busy || Date.now() - f.at < (f.missing ? SERVICES_RETRY_MS : SERVICES_MS))
			return;
		f.busy = true;
		f.at = Date.now();
		request('GET', API + '/services').then(function (r) {
			f.missing = false;
			if (r && Array.isArray(r.services) && r.services.length > 0)
				setServices(r.services, false);
			render();
		}).catch(function (err) {
			if (err.status === 404) {
				f.missing = true;
				state.services = null;
				render();
			}
		}).then(function () {
			f.busy = false;
		});
	}

	/* --- rendering ------------------------------------------------------- */

	function upOf(counts) {
		return counts.up + counts['static'];
	}

	/* The cards: the one service's status, or the sums over the services. */
	function renderStatus(st) {
		setText($('version'), 'v' + st.version);
		setText($('uptime'), 'up ' + fmtDuration(st.uptime_ms + since()));
		var b = $('pause-toggle');
		if (multi()) {
			var sum = { active: 0, queued: 0, up: 0, total: 0, accepted: 0, unavailable: 0,
			    failures: 0, persist: 0 };
			state.services.forEach(function (s) {
				sum.active += s.active;
				sum.queued += s.queued;
				sum.up += upOf(s.targets);
				sum.total += s.targets.total;
				sum.accepted += s.totals.accepted;
				sum.unavailable += s.totals.unavailable;
				sum.failures += s.totals.connect_failures;
				sum.persist += s.persistence_entries;
			});
			setText($('stat-active'), fmtInt(sum.active));
			setText($('stat-queued'), fmtInt(sum.queued));
			setText($('stat-concurrency-label'), 'Services');
			setText($('stat-concurrency'), fmtInt(state.services.length));
			b.hidden = true;
			setText($('stat-targets'), fmtInt(sum.up) + ' / ' + fmtInt(sum.total));
			setText($('stat-accepted'), fmtInt(sum.accepted));
			setText($('stat-unavailable'), fmtInt(sum.unavailable));
			setText($('stat-failures'), fmtInt(sum.failures));
			setText($('stat-persist'), fmtInt(sum.persist));
			setText($('stat-algorithm'), 'all ' + state.services.length + ' services');
			return;
		}
		setText($('stat-active'), fmtInt(st.active));
		setText($('stat-queued'), fmtInt(st.queued));
		setText($('stat-concurrency-label'), 'Concurrency');
		setText($('stat-concurrency'), fmtConcurrency(st.concurrency));
		setText($('stat-targets'), fmtInt(upOf(st.targets)) + ' / ' + fmtInt(st.targets.total));
		setText($('stat-accepted'), fmtInt(st.totals.accepted));
		setText($('stat-unavailable'), fmtInt(st.totals.unavailable));
		setText($('stat-failures'), fmtInt(st.totals.connect_failures));
		setText($('stat-persist'), fmtInt(st.persistence_entries));
		var line = st.algorithm + ', persistence ' + (st.persistent ? 'on' : 'off') +
		    ', requeue ' + st.requeue;
		var one = state.services && state.services[0];
		if (one && one.listeners && one.listeners.length)
			line += ', clients on ' + one.listeners.join(', ');
		setText($('stat-algorithm'), line);
		var paused = st.concurrency === 0;
		b.hidden = false;
		b.disabled = false;
		setText(b, paused ? 'Resume' : 'Pause');
		b.setAttribute('data-paused', paused ? 'true' : 'false');
		b.className = paused ? 'primary' : '';
	}

	function serviceRow(s) {
		var tr = el('tr', { 'data-service': s.name });
		var name = el('td', { 'data-field': 'name' });
		name.appendChild(el('button', { 'type': 'button', 'class': 'link mono',
		    'data-action': 'select-service', 'data-service': s.name,
		    'title': 'Show the targets and persistence of ' + s.name }, s.name));
		name.appendChild(el('span', { 'class': 'badge tag-default', 'data-field': 'default',
		    'hidden': '' }, 'default'));
		tr.appendChild(name);
		tr.appendChild(el('td', { 'data-field': 'listeners', 'class': 'mono listeners' }));
		tr.appendChild(el('td', { 'data-field': 'algorithm' }));
		tr.appendChild(el('td', { 'data-field': 'targets', 'class': 'num', 'data-label': 'up' }));
		tr.appendChild(el('td', { 'data-field': 'sessions', 'class': 'num', 'data-label': 'sessions' }));
		tr.appendChild(el('td', { 'data-field': 'rate', 'class': 'num', 'data-label': 'rate' }));
		var conc = el('td', { 'data-field': 'concurrency', 'class': 'col-conc' });
		var wrap = el('div', { 'class': 'actions' });
		wrap.appendChild(el('span', { 'data-field': 'concurrency-value' }));
		wrap.appendChild(el('button', { 'type': 'button', 'class': 'small',
		    'data-action': 'pause-service', 'data-service': s.name }, 'Pause'));
		conc.appendChild(wrap);
		tr.appendChild(conc);
		return tr;
	}

	function updateServiceRow(tr, s, picked) {
		tr.setAttribute('data-selected', picked ? 'yes' : 'no');
		var pick = tr.querySelector('[data-action="select-service"]');
		if (picked)
			pick.setAttribute('aria-current', 'true');
		else
			pick.removeAttribute('aria-current');
		cell(tr, 'default').hidden = !s.default;
		setText(cell(tr, 'listeners'), s.listeners && s.listeners.length ?
		    s.listeners.join(', ') : '—');
		setText(cell(tr, 'algorithm'), s.algorithm + (s.persistent ? ', persistent' : ''));
		var up = upOf(s.targets);
		setText(cell(tr, 'targets'), fmtInt(up) + ' / ' + fmtInt(s.targets.total));
		cell(tr, 'targets').setAttribute('data-health', s.targets.total === 0 ? 'none' :
		    up === 0 ? 'bad' : up < s.targets.total ? 'partial' : 'ok');
		setText(cell(tr, 'sessions'), fmtInt(s.active) +
		    (s.queued ? ' + ' + fmtInt(s.queued) + ' queued' : ''));
		var c = state.counters['svc:' + s.name];
		setText(cell(tr, 'rate'), c && c.rate !== null ? c.rate.toFixed(1) + '/s' : '–');
		setText(cell(tr, 'concurrency-value'), fmtConcurrency(s.concurrency));
		var b = tr.querySelector('[data-action="pause-service"]');
		var paused = s.concurrency === 0;
		setText(b, paused ? 'Resume' : 'Pause');
		b.setAttribute('data-paused', paused ? 'true' : 'false');
		b.className = paused ? 'small primary' : 'small';
	}

	function renderServices() {
		var m = multi();
		$('services-panel').hidden = !m;
		$('targets-service').hidden = !m;
		$('persist-service').hidden = !m;
		var rows = state.rows.services;
		if (!m) {
			rows.forEach(function (tr) { tr.remove(); });
			rows.clear();
			return;
		}
		var body = $('services-body'), seen = {}, picked = current();
		state.services.forEach(function (s, i) {
			var tr = rows.get(s.name);
			if (!tr) {
				tr = serviceRow(s);
				rows.set(s.name, tr);
			}
			updateServiceRow(tr, s, s === picked);
			if (body.children[i] !== tr)
				body.insertBefore(tr, body.children[i] || null);
			seen[s.name] = true;
		});
		rows.forEach(function (tr, name) {
			if (!seen[name]) {
				tr.remove();
				rows.delete(name);
			}
		});
		setText($('services-count'), state.services.length + ' services');
		setText($('targets-service'), picked.name);
		setText($('persist-service'), picked.name);
	}

	function stateBadge(st) {
		return el('span', { 'class': 'badge state-' + st, 'data-state': st }, st);
	}

	/* A class from a server word: only letters, else a neutral one. */
	function word(s) {
		return /^[a-z]{1,20}$/.test(String(s)) ? String(s) : 'other';
	}

	function fmtMs(ms) {
		if (typeof ms !== 'number')
			return '';
		return ms < 10 ? ms.toFixed(ms < 1 ? 2 : 1).replace(/\.?0+$/, '') + ' ms' :
		    Math.round(ms) + ' ms';
	}

	/* "passing, 3 ms": a target's check (its "check" object). */
	function checkText(c) {
		var lat = fmtMs(c.latency_ms);
		return String(c.status) + (lat ? ', ' + lat : '');
	}

	function targetRow(t) {
		var tr = el('tr', { 'data-target-id': String(t.id) });
		var name = el('td', { 'data-field': 'name' });
		/* No text in the button: the cell's text is the target's name. */
		name.appendChild(el('button', { 'type': 'button', 'class': 'expander',
		    'data-action': 'expand', 'data-target-id': String(t.id),
		    'aria-expanded': 'false', 'aria-label': 'Details of ' + t.name,
		    'title': 'Details and last changes' }));
		name.appendChild(el('span', { 'class': 'mono' }, t.name));
		/* What the operator should do about it (port-less, slow heartbeats). */
		name.appendChild(el('div', { 'class': 'target-note', 'data-field': 'note', 'hidden': '' }));
		tr.appendChild(name);

		var wtd = el('td', { 'data-field': 'weight' });
		var form = el('form', { 'class': 'weight-form', 'data-target-id': String(t.id) });
		var input = el('input', {
			'type': 'number', 'min': '1', 'max': '1000000', 'step': '1',
			'class': 'weight-input', 'id': 'weight-' + t.id,
			'data-target-id': String(t.id), 'aria-label': 'Weight of ' + t.name
		});
		input.value = String(t.weight);
		form.appendChild(input);
		form.appendChild(el('button', { 'type': 'submit', 'class': 'small',
		    'data-action': 'set-weight', 'data-target-id': String(t.id) }, 'Set'));
		wtd.appendChild(form);
		tr.appendChild(wtd);

		tr.appendChild(el('td', { 'data-field': 'state' }));
		tr.appendChild(el('td', { 'data-field': 'since', 'class': 'col-since',
		    'data-label': 'for' }));
		tr.appendChild(el('td', { 'data-field': 'check', 'class': 'col-check',
		    'data-label': 'check' }));
		tr.appendChild(el('td', { 'data-field': 'sessions', 'class': 'num',
		    'data-label': 'sessions' }));
		tr.appendChild(el('td', { 'data-field': 'rate', 'class': 'num col-rate',
		    'data-label': 'rate' }));
		tr.appendChild(el('td', { 'data-field': 'heartbeat', 'class': 'col-hb',
		    'data-label': 'heartbeat' }));
		tr.appendChild(el('td', { 'data-field': 'source', 'class': 'col-src' }));
		tr.appendChild(el('td', { 'data-field': 'failures', 'class': 'num col-fail',
		    'data-label': 'connect failures' }));
		var td = el('td', { 'data-field': 'actions' });
		var act = el('div', { 'class': 'actions' });
		act.appendChild(el('button', { 'type': 'button', 'class': 'small',
		    'data-action': 'drain', 'data-target-id': String(t.id) }, 'Drain'));
		act.appendChild(el('button', { 'type': 'button', 'class': 'small danger',
		    'data-action': 'remove', 'data-target-id': String(t.id) }, 'Remove'));
		td.appendChild(act);
		tr.appendChild(td);
		return tr;
	}

	/* A row's cells, found once: rows live long, and are updated often. */
	function cell(tr, field) {
		var c = tr.harmonyCells;
		if (!c) {
			c = tr.harmonyCells = {};
			Array.prototype.forEach.call(tr.querySelectorAll('[data-field]'), function (e) {
				c[e.getAttribute('data-field')] = e;
			});
		}
		return c[field];
	}

	function rateText(key) {
		var c = state.counters[key];
		return c && c.rate !== null ? c.rate.toFixed(1) + '/s' : '–';
	}

	function updateTargetRow(tr, t, age) {
		tr.setAttribute('data-state', t.state);
		var note = tr.querySelector('.target-note');
		setText(note, t.note || '');
		note.hidden = !t.note;
		tr.setAttribute('data-weight', String(t.weight));
		var input = tr.querySelector('.weight-input');
		/* Never overwrite what someone is typing. */
		if (document.activeElement !== input && input.getAttribute('data-dirty') !== 'yes') {
			if (input.defaultValue !== String(t.weight))
				input.defaultValue = String(t.weight);
			if (input.value !== String(t.weight))
				input.value = String(t.weight);
		}
		var sc = cell(tr, 'state');
		var badge = sc.firstChild;
		if (!badge || badge.getAttribute('data-state') !== t.state ||
		    (sc.childNodes.length > 1) !== !!t.leaving) {
			sc.textContent = '';
			sc.appendChild(stateBadge(t.state));
			if (t.leaving)
				sc.appendChild(el('span', { 'class': 'muted small-text' }, ' leaving'));
		}
		setText(cell(tr, 'since'), typeof t.state_since_ms_ago === 'number' ?
		    fmtDuration(t.state_since_ms_ago + age) : '');
		var ck = cell(tr, 'check'), c = t.check;
		if (c && typeof c === 'object') {
			var status = word(c.status);
			if (ck.getAttribute('data-check') !== status) {
				ck.textContent = '';
				ck.appendChild(el('span', { 'class': 'badge check-' + status }));
				ck.appendChild(el('span', { 'class': 'muted small-text check-latency' }));
				ck.setAttribute('data-check', status);
			}
			setText(ck.firstChild, String(c.status));
			var lat = fmtMs(c.latency_ms);
			setText(ck.lastChild, lat ? ' ' + lat : '');
			ck.title = c.reason ? String(c.reason) : '';
		} else if (ck.hasAttribute('data-check')) {
			ck.textContent = '';
			ck.removeAttribute('data-check');
			ck.title = '';
		}
		setText(cell(tr, 'sessions'), fmtInt(t.active) + ' / ' + fmtInt(t.total));
		setText(cell(tr, 'rate'), rateText('t:' + t.id));
		setText(cell(tr, 'heartbeat'), t.last_ack_ms_ago === null ? 'static' :
		    fmtAge(t.last_ack_ms_ago + age));
		cell(tr, 'heartbeat').title = t.timeout_ms ? 'timeout ' + (t.timeout_ms / 1000) + ' s' : '';
		setText(cell(tr, 'source'), t.source);
		setText(cell(tr, 'failures'), fmtInt(t.failures));
		var drain = tr.querySelector('[data-action="drain"], [data-action="undrain"]');
		var draining = t.state === 'draining';
		drain.setAttribute('data-action', draining ? 'undrain' : 'drain');
		setText(drain, draining ? 'Undrain' : 'Drain');
		drain.disabled = draining && t.leaving;
	}

	/* --- a target opened: its details and last changes ------------------- */

	var HISTORY_N = 5;

	function openTarget(id) {
		return state.open.get(String(id));
	}

	function toggleTarget(id) {
		var key = String(id), o = state.open.get(key);
		if (o) {
			if (o.row)
				o.row.remove();
			state.open.delete(key);
		} else {
			state.open.set(key, { row: null, events: [], read: false, missing: false,
			    busy: false, stateRead: null });
			fetchTargetHistory(key);
		}
		render();
	}

	/*
	 * Read once when opened, and again only when the target's state
	 * changed since (a stream that sends events keeps it current itself).
	 */
	function fetchTargetHistory(key) {
		var o = state.open.get(key);
		if (!o || o.busy || o.missing)
			return;
		o.busy = true;
		request('GET', API + '/targets/' + encodeURIComponent(key) +
		    '/events/history?limit=' + HISTORY_N).then(function (r) {
			if (r && Array.isArray(r.events))
				mergeInto(o.events, r.events, HISTORY_N);
			o.read = true;
		}).catch(function (err) {
			/* 404: no such route (a harmonyd without events), or no such target. */
			if (err.status === 404)
				o.missing = true;
			o.read = true;
		}).then(function () {
			o.busy = false;
			render();
		});
	}

	/* Merges events into list (newest first, by seq, no seq twice), to max. */
	function mergeInto(list, evs, max) {
		var have = {};
		list.forEach(function (e) { have[e.seq] = true; });
		evs.forEach(function (e) {
			if (e && typeof e === 'object' && typeof e.seq === 'number' && !have[e.seq]) {
				have[e.seq] = true;
				list.push(e);
			}
		});
		list.sort(function (a, b) { return b.seq - a.seq; });
		return list.splice(max, list.length);
	}

	function fact(dl, label, value) {
		if (value === null || value === undefined || value === '')
			return;
		dl.appendChild(el('dt', null, label));
		dl.appendChild(el('dd', null, value));
	}

	/* A check event says its verdict ("passed": a boolean with them). */
	function verdict(e) {
		return e.event === 'check' && typeof e.passed === 'boolean' ?
		    (e.passed ? 'passed' : 'failed') : '';
	}

	/* Its class: what kind, and a failed check as bad news. */
	function eventClass(e) {
		return 'ev ev-' + word(e.event) + (verdict(e) === 'failed' ? ' ev-failed' : '');
	}

	function changeText(e) {
		var s = String(e.event) + (verdict(e) ? ' ' + verdict(e) : '');
		if (e.from !== null && e.from !== undefined && e.to !== null && e.to !== undefined)
			s += e.to === e.event ? ', was ' + e.from : ' (' + e.from + ' → ' + e.to + ')';
		if (e.weight !== null && e.weight !== undefined && e.event === 'weight')
			s += ' to ' + e.weight;
		return s;
	}

	function eventDetail(e) {
		var parts = [];
		if (e.reason !== null && e.reason !== undefined && e.reason !== '')
			parts.push(String(e.reason));
		if (typeof e.latency_ms === 'number')
			parts.push(fmtMs(e.latency_ms));
		return parts.join(', ');
	}

	function fmtClock(e) {
		var d = new Date(typeof e.time_ms === 'number' ? e.time_ms : Date.parse(e.time));
		if (isNaN(d.getTime()))
			return String(e.time);
		var p = function (n, w) { return String(n).padStart(w || 2, '0'); };
		var clock = p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds()) +
		    '.' + p(d.getMilliseconds(), 3);
		var today = new Date();
		if (d.toDateString() !== today.toDateString())
			clock = d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + clock;
		return clock;
	}

	/* The details row under an opened target: rebuilt, it is one small row. */
	function detailRow(t, o, cols) {
		var tr = o.row;
		if (!tr) {
			tr = o.row = el('tr', { 'class': 'target-detail', 'data-detail-of': String(t.id) });
			tr.appendChild(el('td', { 'colspan': String(cols) }));
		}
		var sig = JSON.stringify([t.state, t.source, t.failures, t.effective_weight, t.check,
		    o.events.map(function (e) { return e.seq; }), o.read, o.missing,
		    t.bytes_in, t.bytes_out, t.timeout_ms, t.connect_ms, t.connect_avg_ms]);
		if (tr.harmonySig === sig)
			return tr;
		tr.harmonySig = sig;
		var td = tr.firstChild;
		td.textContent = '';
		var dl = el('dl', { 'class': 'facts' });
		fact(dl, 'Source', t.source);
		fact(dl, 'Connect failures', fmtInt(t.failures));
		if (typeof t.connect_ms === 'number')
			fact(dl, 'Connect time', t.connect_ms + ' ms last, ' +
			    t.connect_avg_ms.toFixed(2) + ' ms on average');
		if (t.effective_weight !== undefined && t.effective_weight !== t.weight)
			fact(dl, 'Weight now', fmtInt(t.effective_weight) + ' of ' + fmtInt(t.weight) +
			    ' (ramping up)');
		if (t.timeout_ms)
			fact(dl, 'Heartbeat timeout', (t.timeout_ms / 1000) + ' s');
		if (typeof t.bytes_in === 'number')
			fact(dl, 'Bytes in / out', fmtInt(t.bytes_in) + ' / ' + fmtInt(t.bytes_out));
		var c = t.check;
		if (c && typeof c === 'object') {
			fact(dl, 'Check', checkText(c) + (typeof c.last_ms_ago === 'number' ?
			    ', last ' + fmtAge(c.last_ms_ago) : ''));
			if (c.reason)
				fact(dl, 'Check says', String(c.reason));
			if (typeof c.rise === 'number')
				fact(dl, 'Rise / fall', c.rise + ' / ' + c.fall + ' (now ' +
				    fmtInt(c.successes) + ' passed, ' + fmtInt(c.failures) + ' failed in a row)');
		}
		td.appendChild(dl);
		if (!o.missing) {
			var box = el('div', { 'class': 'history' });
			box.appendChild(el('div', { 'class': 'label muted' }, 'Last changes'));
			if (o.events.length === 0) {
				box.appendChild(el('p', { 'class': 'muted small-text', 'data-field': 'history-empty' },
				    o.read ? 'No change kept.' : 'Loading…'));
			} else {
				var ul = el('ul', { 'class': 'history-list' });
				o.events.forEach(function (e) {
					var li = el('li', { 'data-seq': String(e.seq), 'data-event': word(e.event) });
					li.appendChild(el('span', { 'class': 'mono muted', 'title': String(e.time) },
					    fmtClock(e)));
					li.appendChild(el('span', { 'class': eventClass(e) }, changeText(e)));
					li.appendChild(el('span', { 'class': 'muted' }, 'by ' + e.by));
					var d = eventDetail(e);
					if (d)
						li.appendChild(el('span', { 'class': 'reason' }, d));
					ul.appendChild(li);
				});
				box.appendChild(ul);
			}
			td.appendChild(box);
		}
		return tr;
	}

	function renderTargets(view) {
		var body = $('targets-body'), rows = state.rows.targets;
		var targets = view.list, age = Date.now() - view.at;
		var table = $('targets'), cols = table.tHead.rows[0].cells.length;
		var seen = {}, ref = body.firstChild, checks = false, since = false;
		state.shown = view;
		targets.forEach(function (t) {
			var key = String(t.id);
			var tr = rows.get(key);
			seen[key] = true;
			if (!tr) {
				tr = targetRow(t);
				rows.set(key, tr);
			}
			checks = checks || (!!t.check && typeof t.check === 'object');
			since = since || typeof t.state_since_ms_ago === 'number';
			updateTargetRow(tr, t, age);
			if (ref === tr)
				ref = ref.nextSibling;
			else
				body.insertBefore(tr, ref);
			var o = state.open.get(key);
			tr.querySelector('.expander').setAttribute('aria-expanded', o ? 'true' : 'false');
			if (o) {
				if (o.read && !o.busy && o.stateRead !== null && o.stateRead !== t.state)
					fetchTargetHistory(key);
				if (o.read && !o.busy)
					o.stateRead = t.state;
				var d = detailRow(t, o, cols);
				if (ref === d)
					ref = ref.nextSibling;
				else
					body.insertBefore(d, ref);
			}
		});
		rows.forEach(function (tr, key) {
			if (!seen[key]) {
				tr.remove();
				rows.delete(key);
				delete state.counters['t:' + key];
			}
		});
		state.open.forEach(function (o, key) {
			if (!seen[key]) {
				if (o.row)
					o.row.remove();
				state.open.delete(key);
			}
		});
		/* No column that says nothing: a harmonyd without checks has none. */
		table.setAttribute('data-checks', checks ? 'yes' : 'no');
		table.setAttribute('data-since', since ? 'yes' : 'no');
		var empty = $('targets-empty');
		empty.hidden = targets.length > 0 || !!view.pending;
		var path = multi() && !current().default ?
		    serviceApi(current().name) + '/targets' : API + '/targets';
		setText($('targets-empty-cmd'), 'curl -X POST -H \'Content-Type: application/json\'' +
		    ' -d \'{"port":8080}\' http://HOST:1667' + path);
		setText($('targets-count'), targets.length ? targets.length + ' listed' : '');
	}

	function persistRow(e) {
		var tr = el('tr', { 'data-client': e.client });
		tr.appendChild(el('td', { 'data-field': 'client', 'class': 'mono' }, e.client));
		tr.appendChild(el('td', { 'data-field': 'target', 'class': 'mono' }));
		tr.appendChild(el('td', { 'data-field': 'hits', 'class': 'num', 'data-label': 'hits' }));
		tr.appendChild(el('td', { 'data-field': 'last-use', 'data-label': 'last use' }));
		var td = el('td', { 'data-field': 'actions' });
		td.appendChild(el('button', { 'type': 'button', 'class': 'small',
		    'data-action': 'forget', 'data-client': e.client }, 'Forget'));
		tr.appendChild(td);
		return tr;
	}

	function renderPersistence(view) {
		var p = view.table, age = Date.now() - view.at;
		var body = $('persistence-body'), rows = state.rows.clients;
		var filter = $('persist-filter').value.trim().toLowerCase();
		var seen = {}, shown = 0;
		p.entries.forEach(function (e) {
			var target = e.target_name ? e.target_name + ' (#' + e.target + ')' : '#' + e.target;
			if (filter && e.client.toLowerCase().indexOf(filter) < 0 &&
			    target.toLowerCase().indexOf(filter) < 0)
				return;
			var tr = rows.get(e.client);
			if (!tr) {
				tr = persistRow(e);
				rows.set(e.client, tr);
			}
			tr.setAttribute('data-target-id', String(e.target));
			setText(cell(tr, 'target'), target);
			setText(cell(tr, 'hits'), fmtInt(e.hits));
			setText(cell(tr, 'last-use'), fmtAge(e.last_use_ms_ago + age));
			if (body.children[shown] !== tr)
				body.insertBefore(tr, body.children[shown] || null);
			seen[e.client] = true;
			shown++;
		});
		rows.forEach(function (tr, client) {
			if (!seen[client]) {
				tr.remove();
				rows.delete(client);
			}
		});
		var empty = $('persist-empty');
		empty.hidden = shown > 0;
		setText(empty, view.pending ? 'Loading…' : 'No client is remembered.');
		var count = fmtInt(p.count) + (p.count === 1 ? ' client' : ' clients');
		if (p.truncated)
			count += ', the ' + p.entries.length + ' most recent shown';
		setText($('persist-count'), count);
		$('forget-all').disabled = p.count === 0;
	}

	function render() {
		var s = state.snap;
		if (!s)
			return;
		renderServices();
		renderStatus(s.status);
		renderTargets(viewTargets());
		renderPersistence(viewPersistence());
		fetchDetail(false);
	}

	/* --- the timeline of events ------------------------------------------ */

	/*
	 * From GET /api/v1/events/history at load (and after the stream was
	 * lost, and with each poll when polling) and the stream's `event:
	 * target`; newest first, at most TIMELINE_MAX. A harmonyd without
	 * events (404, no such event) shows no timeline at all.
	 */
	var TIMELINE_MAX = 500;
	var HISTORY_LOAD = 200;

	function fetchEvents(limit) {
		var ev = state.events;
		if (ev.busy || ev.missing)
			return;
		ev.busy = true;
		request('GET', API + '/events/history?limit=' + (limit || HISTORY_LOAD)).then(function (r) {
			if (r && Array.isArray(r.events)) {
				ev.available = true;
				addEvents(r.events);
			}
		}).catch(function (err) {
			if (err.status === 404)
				ev.missing = true;
		}).then(function () {
			ev.busy = false;
		});
	}

	/* A burst of events (a thousand targets flapping) is one merge and one render. */
	function addEvents(evs) {
		var ev = state.events;
		Array.prototype.push.apply(ev.pending, evs);
		if (!ev.timer)
			ev.timer = setTimeout(flushEvents, 100);
	}

	function flushEvents() {
		var ev = state.events, evs = ev.pending, touched = false;
		ev.timer = null;
		ev.pending = [];
		mergeInto(ev.list, evs, TIMELINE_MAX).forEach(function (e) {
			var tr = ev.rows.get(e.seq);
			if (tr) {
				tr.remove();
				ev.rows.delete(e.seq);
			}
		});
		evs.forEach(function (e) {
			var o = openTarget(e.target);
			if (o) {
				mergeInto(o.events, [e], HISTORY_N);
				touched = true;
			}
		});
		renderEvents();
		if (touched)
			render();
	}

	/* A target event from the stream: the timeline, and its opened row. */
	function targetEvent(e) {
		if (!e || typeof e !== 'object' || typeof e.seq !== 'number')
			return;
		var ev = state.events;
		ev.available = true;
		ev.missing = false;
		addEvents([e]);
	}

	function eventRow(e) {
		/* data-of-service: tr[data-service] is a row of the table of services. */
		var tr = el('tr', { 'data-seq': String(e.seq), 'data-of-service': String(e.service),
		    'data-event': word(e.event) });
		tr.appendChild(el('td', { 'data-field': 'time', 'class': 'mono', 'title': String(e.time) },
		    fmtClock(e)));
		tr.appendChild(el('td', { 'data-field': 'service', 'class': 'mono col-evsvc' }, e.service));
		var name = e.name !== null && e.name !== undefined ? e.name + ' (#' + e.target + ')' :
		    '#' + e.target;
		tr.appendChild(el('td', { 'data-field': 'target', 'class': 'mono' }, name));
		var what = el('td', { 'data-field': 'event' });
		what.appendChild(el('span', { 'class': eventClass(e) }, e.event));
		tr.appendChild(what);
		var change = '';
		if (e.from !== null && e.from !== undefined && e.to !== null && e.to !== undefined)
			change = e.from + ' → ' + e.to;
		else if (e.event === 'weight' && e.weight !== null && e.weight !== undefined)
			change = 'weight ' + e.weight;
		else if (verdict(e))
			change = verdict(e);
		tr.appendChild(el('td', { 'data-field': 'change' }, change));
		tr.appendChild(el('td', { 'data-field': 'by', 'data-label': 'by' }, e.by));
		tr.appendChild(el('td', { 'data-field': 'detail', 'class': 'ev-detail' }, eventDetail(e)));
		return tr;
	}

	function renderEvents() {
		var ev = state.events, panel = $('events-panel');
		panel.hidden = !ev.available;
		if (!ev.available)
			return;
		var table = $('events');
		if (!table.tHead) {
			var head = table.createTHead().insertRow();
			[['Time'], ['Service', 'col-evsvc'], ['Target'], ['Event'], ['Change'], ['By'],
			    ['Details']].forEach(function (c) {
				head.appendChild(el('th', c[1] ? { 'class': c[1] } : null, c[0]));
			});
		}
		var body = $('events-body'), ref = body.firstChild, shown = 0;
		var filter = $('events-filter').value;
		var names = {};
		(state.services || []).forEach(function (s) { names[s.name] = true; });
		ev.list.forEach(function (e) {
			var tr = ev.rows.get(e.seq);
			if (!tr) {
				tr = eventRow(e);
				ev.rows.set(e.seq, tr);
			}
			names[String(e.service)] = true;
			var hide = filter !== '' && String(e.service) !== filter;
			if (tr.hidden !== hide)
				tr.hidden = hide;
			if (!hide)
				shown++;
			if (ref === tr)
				ref = ref.nextSibling;
			else
				body.insertBefore(tr, ref);
		});
		/* The filter, once there is more than one service to tell apart. */
		var sel = $('events-filter'), list = Object.keys(names).sort();
		var want = [''].concat(list).join('\n');
		if (sel.harmonyNames !== want) {
			sel.harmonyNames = want;
			while (sel.options.length > 1)
				sel.remove(1);
			list.forEach(function (n) { sel.appendChild(el('option', { 'value': n }, n)); });
			sel.value = names[filter] ? filter : '';
		}
		$('events-filter-wrap').hidden = list.length < 2 && filter === '';
		$('events').setAttribute('data-services', list.length < 2 ? 'one' : 'many');
		$('events-empty').hidden = shown > 0;
		setText($('events-count'), ev.list.length ? (filter ? shown + ' of ' : '') +
		    ev.list.length + (ev.list.length === 1 ? ' event' : ' events') +
		    (ev.list.length >= TIMELINE_MAX ? ' (the last ' + TIMELINE_MAX + ')' : '') : '');
	}

	/* --- rates and the sparkline ----------------------------------------- */

	/*
	 * New sessions per second of one counter, over at least 0.9 s. `at` is
	 * when acc was true: now for what the event stream keeps current (no
	 * event means no change), the time of the answer for what is fetched.
	 */
	function rateOf(key, acc, at) {
		var c = state.counters[key];
		if (!c) {
			state.counters[key] = { acc: acc, at: at, rate: null };
			return null;
		}
		if (at - c.at >= 900) {
			c.rate = Math.max(0, (acc - c.acc) * 1000 / (at - c.at));
			c.acc = acc;
			c.at = at;
		}
		return c.rate;
	}

	function sample() {
		var s = state.snap, now = Date.now(), rate;
		if (!s)
			return;
		if (state.services) {
			var at = state.servicesLive ? now : state.servicesAt;
			var sum = 0;
			state.services.forEach(function (x) {
				rateOf('svc:' + x.name, x.totals.accepted, at);
				sum += x.totals.accepted;
			});
			if (multi())
				rate = rateOf('all', sum, at);
		}
		if (!multi())
			rate = rateOf('status', s.status.totals.accepted, now);
		/* Each target shown: its "total" is its sessions so far. */
		var v = state.shown;
		if (v) {
			var tat = state.mode === 'live' && v.at === state.receivedAt ? now : v.at;
			v.list.forEach(function (t) {
				if (typeof t.total === 'number')
					rateOf('t:' + t.id, t.total, tat);
			});
		}
		if (rate === null || rate === undefined)
			return;
		state.rates.push(rate);
		if (state.rates.length > SPARK_POINTS)
			state.rates.shift();
		setText($('stat-rate'), '(' + rate.toFixed(1) + '/s now)');
		drawSparkline();
	}

	function drawSparkline() {
		var r = state.rates, w = 300, h = 48, pad = 2;
		var max = Math.max.apply(null, r.concat([1]));
		var pts = r.map(function (v, i) {
			/* Spread over the width until a minute of samples fills it. */
			var x = r.length > 1 ? i * w / (r.length - 1) : w;
			var y = h - pad - v / max * (h - 2 * pad);
			return x.toFixed(1) + ',' + y.toFixed(1);
		});
		$('sparkline-line').setAttribute('points', pts.join(' '));
		if (pts.length > 1) {
			var first = pts[0].split(',')[0];
			$('sparkline-area').setAttribute('points', first + ',' + h + ' ' + pts.join(' ') +
			    ' ' + w + ',' + h);
		}
		$('sparkline').setAttribute('data-points', String(r.length));
	}

	/* --- data sources ---------------------------------------------------- */

	function setMode(mode) {
		state.mode = mode;
		var c = $('conn-status');
		c.setAttribute('data-mode', mode);
		c.textContent = { live: 'live', polling: 'polling', offline: 'offline',
		    connecting: 'connecting' }[mode] || mode;
	}

	function accept(snap) {
		state.snap = snap;
		state.receivedAt = Date.now();
		if (Array.isArray(snap.services) && snap.services.length > 0)
			setServices(snap.services, true);
		else
			fetchServices();
		document.body.setAttribute('data-loaded', 'yes');
		document.body.setAttribute('data-updates',
		    String(Number(document.body.getAttribute('data-updates') || 0) + 1));
		render();
	}

	function pollOnce() {
		return Promise.all([
			request('GET', API + '/status'),
			request('GET', API + '/config'),
			request('GET', API + '/targets'),
			request('GET', API + '/persistence?limit=200')
		]).then(function (r) {
			accept({ status: r[0], config: r[1], targets: r[2].targets, persistence: r[3] });
			if (state.mode !== 'live') {
				setMode('polling');
				if (state.events.available)
					fetchEvents(50);
			}
		}).catch(function () {
			if (state.mode !== 'live')
				setMode('offline');
		});
	}

	function startPolling() {
		if (state.pollTimer)
			return;
		pollOnce();
		state.pollTimer = setInterval(function () {
			if (state.mode === 'live' && Date.now() - state.lastEvent < SSE_GRACE_MS)
				return;
			pollOnce();
		}, POLL_MS);
	}

	function stopPolling() {
		if (state.pollTimer) {
			clearInterval(state.pollTimer);
			state.pollTimer = null;
		}
	}

	/*
	 * ?transport=poll: no event stream. For tools that cannot hold one open
	 * (an open request stops headless Chromium's virtual clock) and for
	 * proxies that buffer responses.
	 */
	function wantsPolling() {
		return /(^|[?&])transport=poll(&|$)/.test(location.search);
	}

	function startEvents() {
		if (!window.EventSource || wantsPolling()) {
			startPolling();
			return;
		}
		var es = new EventSource(API + '/events');
		es.addEventListener('snapshot', function (ev) {
			var snap;
			try { snap = JSON.parse(ev.data); } catch (e) { return; }
			state.lastEvent = Date.now();
			setMode('live');
			stopPolling();
			accept(snap);
		});
		es.addEventListener('target', function (ev) {
			var e;
			try { e = JSON.parse(ev.data); } catch (x) { return; }
			state.lastEvent = Date.now();
			targetEvent(e);
		});
		/* The stream skipped events (this page fell behind): read what they were. */
		es.addEventListener('resync', function () {
			state.lastEvent = Date.now();
			fetchEvents();
			state.open.forEach(function (o, key) { fetchTargetHistory(key); });
		});
		var lost = false;
		es.addEventListener('open', function () {
			state.lastEvent = Date.now();
			/* What happened while the stream was away. */
			if (lost)
				fetchEvents();
			lost = false;
		});
		es.addEventListener('error', function () {
			/* EventSource reconnects by itself; poll until it is back. */
			lost = true;
			if (state.mode === 'live')
				setMode('connecting');
			startPolling();
		});
	}

	/* --- actions --------------------------------------------------------- */

	function targetName(id) {
		var d = state.detail;
		var all = (state.snap ? state.snap.targets : []).concat(d.targets || []);
		var t = all.filter(function (x) { return String(x.id) === String(id); })[0];
		return t ? t.name : '#' + id;
	}

	function setWeight(id, input) {
		var w = Number(input.value);
		if (!Number.isInteger(w) || w < 1 || w > 1000000) {
			notice('A weight is a whole number from 1 to 1000000.', 'error');
			return;
		}
		input.setAttribute('data-dirty', 'sending');
		write('PATCH', API + '/targets/' + id, { weight: w },
		    'Weight of ' + targetName(id) + ' set to ' + w + '.').then(function () {
			input.removeAttribute('data-dirty');
			input.blur();
		}).catch(function () {
			input.setAttribute('data-dirty', 'yes');
		});
	}

	/* Destructive buttons ask for a second click rather than a dialog. */
	function confirmed(button) {
		if (button.getAttribute('data-confirm') === 'yes')
			return true;
		var label = button.textContent;
		button.setAttribute('data-confirm', 'yes');
		button.textContent = 'Sure?';
		setTimeout(function () {
			button.removeAttribute('data-confirm');
			if (button.textContent === 'Sure?')
				button.textContent = label;
		}, 3000);
		return false;
	}

	function onClick(ev) {
		var b = ev.target.closest('button[data-action]');
		if (!b || b.disabled)
			return;
		var id = b.getAttribute('data-target-id');
		switch (b.getAttribute('data-action')) {
		case 'drain':
			write('PATCH', API + '/targets/' + id, { state: 'draining' },
			    targetName(id) + ' is draining.').catch(function () {});
			break;
		case 'undrain':
			write('PATCH', API + '/targets/' + id, { state: 'up' },
			    targetName(id) + ' is back up.').catch(function () {});
			break;
		case 'remove':
			if (confirmed(b))
				write('DELETE', API + '/targets/' + id, undefined,
				    targetName(id) + ' removed (existing sessions finish). If its client' +
				    ' keeps heartbeating, it stays removed until the client registers anew.'
				    ).catch(function () {});
			break;
		case 'forget':
			write('DELETE', persistApi() + '/' + encodeURIComponent(b.getAttribute('data-client')),
			    undefined, 'Forgot ' + b.getAttribute('data-client') + '.').catch(function () {});
			break;
		case 'expand':
			toggleTarget(id);
			break;
		case 'select-service':
			picked(b.getAttribute('data-service'));
			break;
		case 'pause-service':
			var svc = serviceNamed(b.getAttribute('data-service'));
			if (svc)
				togglePause(svc.concurrency, PREV_CONC_KEY + '.' + svc.name,
				    serviceApi(svc.name), svc.name + ': ');
			break;
		}
	}

	/* Pause is concurrency 0; Resume brings back what it was before. */
	function togglePause(conc, key, path, who) {
		var next, prev;
		try { prev = sessionStorage.getItem(key); } catch (e) { prev = null; }
		if (conc === 0) {
			next = prev !== null && Number.isInteger(Number(prev)) && Number(prev) !== 0 ?
			    Number(prev) : -1;
		} else {
			try { sessionStorage.setItem(key, String(conc)); } catch (e) {}
			next = 0;
		}
		write('PATCH', path, { concurrency: next },
		    who + (next === 0 ? 'Paused: new clients wait in the queue.' :
		    'Resumed (concurrency ' + fmtConcurrency(next) + ').')).catch(function () {});
	}

	function init() {
		showToken();
		$('token-form').addEventListener('submit', function (ev) {
			ev.preventDefault();
			var t = $('token-input').value.trim();
			if (t) {
				setToken(t);
				notice('Token kept for this browser tab.', 'ok');
			}
		});
		$('token-clear').addEventListener('click', function () {
			setToken('');
			notice('Token forgotten.', 'ok');
		});
		$('targets-body').addEventListener('submit', function (ev) {
			var f = ev.target.closest('form.weight-form');
			if (!f)
				return;
			ev.preventDefault();
			setWeight(f.getAttribute('data-target-id'), f.querySelector('.weight-input'));
		});
		$('targets-body').addEventListener('input', function (ev) {
			if (ev.target.classList.contains('weight-input'))
				ev.target.setAttribute('data-dirty', 'yes');
		});
		$('targets-body').addEventListener('keydown', function (ev) {
			if (ev.key === 'Escape' && ev.target.classList.contains('weight-input')) {
				ev.target.removeAttribute('data-dirty');
				ev.target.blur();
				render();
			}
		});
		document.addEventListener('click', onClick);
		/* A click anywhere on a service's row picks it, as its name does. */
		$('services-body').addEventListener('click', function (ev) {
			var tr = ev.target.closest('tr[data-service]');
			if (tr && !ev.target.closest('button'))
				picked(tr.getAttribute('data-service'));
		});
		$('pause-toggle').addEventListener('click', function () {
			var st = state.snap && state.snap.status;
			if (st)
				togglePause(st.concurrency, PREV_CONC_KEY, API + '/config', '');
		});
		$('forget-all').addEventListener('click', function (ev) {
			if (confirmed(ev.currentTarget))
				write('DELETE', persistApi(), undefined,
				    'The persistence table' + (multi() ? ' of ' + current().name : '') +
				    ' is empty.').catch(function () {});
		});
		state.selected = selectedFromHash();
		window.addEventListener('hashchange', function () {
			var name = selectedFromHash();
			if (name)
				select(name);
		});
		$('persist-filter').addEventListener('input', render);
		$('events-filter').addEventListener('change', renderEvents);
		fetchEvents();
		/* Ages move on between snapshots; so does the rate. */
		setInterval(function () { sample(); render(); }, 1000);
		startEvents();
		/* Until the stream speaks, show something. */
		setTimeout(function () {
			if (!state.snap)
				startPolling();
		}, 1500);
	}

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', init);
	else
		init();
})();
