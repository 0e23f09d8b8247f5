/*
 * Harmony dashboard: live over Server-Sent Events (/api/v1/events), with a
 * fallback to polling the REST API. No framework, no build step.
 *
 * Rows are keyed (targets by id, persistence entries by client) and updated
 * in place, so a weight being typed is never overwritten by a refresh.
 * Every text from the server goes in through textContent, never as HTML.
 */
'use strict';

(function () {
	var API = '/api/v1';
	var TOKEN_KEY = 'harmony.token';
	var PREV_CONC_KEY = 'harmony.prevConcurrency';
	var POLL_MS = 2000;
	var SSE_GRACE_MS = 5000;	/* no event for this long: poll meanwhile */
	var SPARK_POINTS = 60;

	var state = {
		snap: null,		/* the last snapshot: status, config, targets, persistence */
		receivedAt: 0,		/* Date.now() when it came */
		mode: 'connecting',
		lastEvent: 0,
		pollTimer: null,
		rates: [],		/* new sessions per second, oldest first */
		lastAccepted: null,
		lastSample: 0
	};

	function $(id) { return document.getElementById(id); }

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

	function showToken() {
		var st = $('token-status');
		var set = token() !== '';
		st.textContent = set ? 'token set' : 'no token';
		st.setAttribute('data-set', set ? 'yes' : 'no');
		$('token-input').value = '';
	}

	function notice(text, kind) {
		var n = $('notice');
		n.textContent = text;
		n.setAttribute('data-kind', kind || 'info');
		n.hidden = false;
		clearTimeout(notice.timer);
		notice.timer = setTimeout(function () { n.hidden = true; }, kind === 'error' ? 8000 : 4000);
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
			return data;
		}).catch(function (err) {
			if (err.status === 401)
				notice('The admin token is needed for this (enter it above).', 'error');
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

	/* --- rendering ------------------------------------------------------- */

	function renderStatus(st) {
		$('version').textContent = 'v' + st.version;
		$('uptime').textContent = 'up ' + fmtDuration(st.uptime_ms + since());
		$('stat-active').textContent = fmtInt(st.active);
		$('stat-queued').textContent = fmtInt(st.queued);
		$('stat-concurrency').textContent = fmtConcurrency(st.concurrency);
		$('stat-targets').textContent = fmtInt(st.targets.up + st.targets['static']) +
		    ' / ' + fmtInt(st.targets.total);
		$('stat-accepted').textContent = fmtInt(st.totals.accepted);
		$('stat-unavailable').textContent = fmtInt(st.totals.unavailable);
		$('stat-failures').textContent = fmtInt(st.totals.connect_failures);
		$('stat-persist').textContent = fmtInt(st.persistence_entries);
		$('stat-algorithm').textContent = st.algorithm + ', persistence ' +
		    (st.persistent ? 'on' : 'off') + ', requeue ' + st.requeue;
		var b = $('pause-toggle');
		var paused = st.concurrency === 0;
		b.disabled = false;
		b.textContent = paused ? 'Resume' : 'Pause';
		b.setAttribute('data-paused', paused ? 'true' : 'false');
		b.className = paused ? 'primary' : '';
	}

	function stateBadge(st) {
		return el('span', { 'class': 'badge state-' + st, 'data-state': st }, st);
	}

	function targetRow(t) {
		var tr = el('tr', { 'data-target-id': String(t.id) });
		var name = el('td', { 'data-field': 'name' });
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
		tr.appendChild(el('td', { 'data-field': 'sessions', 'class': 'num' }));
		tr.appendChild(el('td', { 'data-field': 'heartbeat', 'class': 'col-hb' }));
		tr.appendChild(el('td', { 'data-field': 'source', 'class': 'col-src' }));
		tr.appendChild(el('td', { 'data-field': 'failures', 'class': 'num col-fail' }));
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

	function cell(tr, field) {
		return tr.querySelector('[data-field="' + field + '"]');
	}

	function updateTargetRow(tr, t) {
		tr.setAttribute('data-state', t.state);
		var note = tr.querySelector('.target-note');
		note.textContent = t.note || '';
		note.hidden = !t.note;
		tr.setAttribute('data-weight', String(t.weight));
		var input = tr.querySelector('.weight-input');
		/* Never overwrite what someone is typing. */
		if (document.activeElement !== input && input.getAttribute('data-dirty') !== 'yes') {
			input.defaultValue = String(t.weight);
			input.value = String(t.weight);
		}
		var sc = cell(tr, 'state');
		var badge = sc.firstChild;
		if (!badge || badge.getAttribute('data-state') !== t.state) {
			sc.textContent = '';
			sc.appendChild(stateBadge(t.state));
			if (t.leaving)
				sc.appendChild(el('span', { 'class': 'muted small-text' }, ' leaving'));
		}
		cell(tr, 'sessions').textContent = fmtInt(t.active) + ' / ' + fmtInt(t.total);
		cell(tr, 'heartbeat').textContent = t.last_ack_ms_ago === null ? 'static' :
		    fmtAge(t.last_ack_ms_ago + since());
		cell(tr, 'heartbeat').title = t.timeout_ms ? 'timeout ' + (t.timeout_ms / 1000) + ' s' : '';
		cell(tr, 'source').textContent = t.source;
		cell(tr, 'failures').textContent = fmtInt(t.failures);
		var drain = tr.querySelector('[data-action="drain"], [data-action="undrain"]');
		var draining = t.state === 'draining';
		drain.setAttribute('data-action', draining ? 'undrain' : 'drain');
		drain.textContent = draining ? 'Undrain' : 'Drain';
		drain.disabled = draining && t.leaving;
	}

	function renderTargets(targets) {
		var body = $('targets-body');
		var seen = {};
		targets.forEach(function (t, i) {
			var key = String(t.id);
			var tr = body.querySelector('tr[data-target-id="' + key + '"]');
			seen[key] = true;
			if (!tr)
				tr = targetRow(t);
			updateTargetRow(tr, t);
			if (body.children[i] !== tr)
				body.insertBefore(tr, body.children[i] || null);
		});
		Array.prototype.slice.call(body.children).forEach(function (tr) {
			if (!seen[tr.getAttribute('data-target-id')])
				body.removeChild(tr);
		});
		$('targets-empty').hidden = targets.length > 0;
		$('targets-count').textContent = targets.length ? targets.length + ' listed' : '';
	}

	function persistRow(e) {
		var tr = el('tr', { 'data-client': e.client });
		tr.appendChild(el('td', { 'data-field': 'client', 'class': 'mono' }, e.client));
		tr.appendChild(el('td', { 'data-field': 'target', 'class': 'mono' }));
		tr.appendChild(el('td', { 'data-field': 'hits', 'class': 'num' }));
		tr.appendChild(el('td', { 'data-field': 'last-use' }));
		var td = el('td', { 'data-field': 'actions' });
		td.appendChild(el('button', { 'type': 'button', 'class': 'small',
		    'data-action': 'forget', 'data-client': e.client }, 'Forget'));
		tr.appendChild(td);
		return tr;
	}

	function renderPersistence(p) {
		var body = $('persistence-body');
		var filter = $('persist-filter').value.trim().toLowerCase();
		var seen = {}, shown = 0;
		p.entries.forEach(function (e) {
			var target = e.target_name ? e.target_name + ' (#' + e.target + ')' : '#' + e.target;
			if (filter && e.client.toLowerCase().indexOf(filter) < 0 &&
			    target.toLowerCase().indexOf(filter) < 0)
				return;
			var tr = body.querySelector('tr[data-client="' + CSS.escape(e.client) + '"]');
			if (!tr)
				tr = persistRow(e);
			tr.setAttribute('data-target-id', String(e.target));
			cell(tr, 'target').textContent = target;
			cell(tr, 'hits').textContent = fmtInt(e.hits);
			cell(tr, 'last-use').textContent = fmtAge(e.last_use_ms_ago + since());
			if (body.children[shown] !== tr)
				body.insertBefore(tr, body.children[shown] || null);
			seen[e.client] = true;
			shown++;
		});
		Array.prototype.slice.call(body.children).forEach(function (tr) {
			if (!seen[tr.getAttribute('data-client')])
				body.removeChild(tr);
		});
		$('persist-empty').hidden = shown > 0;
		var count = fmtInt(p.count) + (p.count === 1 ? ' client' : ' clients');
		if (p.truncated)
			count += ', the ' + p.entries.length + ' most recent shown';
		$('persist-count').textContent = count;
		$('forget-all').disabled = p.count === 0;
	}

	function render() {
		var s = state.snap;
		if (!s)
			return;
		renderStatus(s.status);
		renderTargets(s.targets);
		renderPersistence(s.persistence);
	}

	/* --- sparkline ------------------------------------------------------- */

	function sample() {
		var s = state.snap, now = Date.now();
		if (!s)
			return;
		var acc = s.status.totals.accepted;
		if (state.lastAccepted !== null && now > state.lastSample) {
			var rate = Math.max(0, (acc - state.lastAccepted) * 1000 / (now - state.lastSample));
			state.rates.push(rate);
			if (state.rates.length > SPARK_POINTS)
				state.rates.shift();
			$('stat-rate').textContent = '(' + rate.toFixed(1) + '/s now)';
		}
		state.lastAccepted = acc;
		state.lastSample = now;
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
		document.body.setAttribute('data-loaded', 'yes');
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
			if (state.mode !== 'live')
				setMode('polling');
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
		es.addEventListener('open', function () { state.lastEvent = Date.now(); });
		es.addEventListener('error', function () {
			/* EventSource reconnects by itself; poll until it is back. */
			if (state.mode === 'live')
				setMode('connecting');
			startPolling();
		});
	}

	/* --- actions --------------------------------------------------------- */

	function targetName(id) {
		var t = state.snap && state.snap.targets.filter(function (x) {
			return String(x.id) === String(id);
		})[0];
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
			write('DELETE', API + '/persistence/' + encodeURIComponent(b.getAttribute('data-client')),
			    undefined, 'Forgot ' + b.getAttribute('data-client') + '.').catch(function () {});
			break;
		}
	}

	function togglePause() {
		var st = state.snap && state.snap.status;
		if (!st)
			return;
		var next;
		if (st.concurrency === 0) {
			var prev = Number(sessionStorage.getItem(PREV_CONC_KEY));
			next = Number.isInteger(prev) && prev !== 0 && sessionStorage.getItem(PREV_CONC_KEY) !== null
			    ? prev : -1;
		} else {
			try { sessionStorage.setItem(PREV_CONC_KEY, String(st.concurrency)); } catch (e) {}
			next = 0;
		}
		write('PATCH', API + '/config', { concurrency: next },
		    next === 0 ? 'Paused: new clients wait in the queue.' :
		    'Resumed (concurrency ' + fmtConcurrency(next) + ').').catch(function () {});
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
		$('pause-toggle').addEventListener('click', togglePause);
		$('forget-all').addEventListener('click', function (ev) {
			if (confirmed(ev.currentTarget))
				write('DELETE', API + '/persistence', undefined,
				    'The persistence table is empty.').catch(function () {});
		});
		$('persist-filter').addEventListener('input', render);
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
