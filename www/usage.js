// usage.js: the usage dashboard. Reads <base>/_aigw/usage with the admin key
// (Authorization: Bearer) and draws calls per consumer, tokens (with the
// cache reads and writes among the tokens in) and cost per model, and the consumer and model rows, for today, this month or a range.
// The key lives in sessionStorage only: never in the URL, and gone when the
// tab closes.
"use strict";

(function () {
	const KEY_ITEM = "aigw.adminKey";
	const BASE_ITEM = "aigw.usageBase";
	const SVG_NS = "http://www.w3.org/2000/svg";
	// Okabe and Ito's palette: told apart with any colour vision.
	const COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9",
		"#d55e00", "#f0e442", "#7f7f7f"];
	const PERIOD_TITLES = { today: "Today", month: "This month", range: "Date range" };

	const $ = (id) => document.getElementById(id);
	const form = $("connect");
	const baseInput = $("base");
	const keyInput = $("admin-key");
	const statusEl = $("status");
	const errorEl = $("error");
	const report = $("report");
	const sinceInput = $("since");
	const untilInput = $("until");

	let data = null;        // the last answer of /_aigw/usage
	let loading = false;

	const numberFormat = new Intl.NumberFormat();

	function fmtInt(n) {
		return numberFormat.format(Number(n) || 0);
	}

	// Small amounts keep three significant digits: a call can cost 0.0000021.
	function fmtUsd(v) {
		v = Number(v) || 0;
		if (v === 0)
			return "$0.00";
		const a = Math.abs(v);
		let digits = 2;
		if (a < 0.01)
			digits = Math.min(12, 2 - Math.floor(Math.log10(a)));
		else if (a < 1)
			digits = 4;
		let s = v.toFixed(digits);
		if (digits > 2) {
			s = s.replace(/0+$/, "");
			const decimals = s.length - s.indexOf(".") - 1;
			if (decimals < 2)
				s += "0".repeat(2 - decimals);
		}
		return "$" + s;
	}

	function fmtPct(part, whole) {
		if (!whole)
			return "0%";
		return (100 * part / whole).toFixed(1).replace(/\.0$/, "") + "%";
	}

	function consumerLabel(name) {
		return name === "" ? "(no key)" : name;
	}

	function modelLabel(name) {
		return name === "" ? "(no model)" : name;
	}

	function todayUtc() {
		return new Date().toISOString().slice(0, 10);
	}

	function el(tag, attrs, text) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {}))
			e.setAttribute(k, v);
		if (text !== undefined)
			e.textContent = text;
		return e;
	}

	// ---- the base path and the request ----

	// The admin key is sent to this path, so it must stay on this server: a
	// path that starts with one "/" and holds no backslash ("/\host" and
	// "//host" name other servers).
	function usageUrl(base, query) {
		base = base.trim();
		if (!/^\/(?![\/\\])[^?#\s\\]*$/.test(base))
			throw new Error("The API base path must start with a single \"/\", such as / or /v1.");
		const url = new URL(base.replace(/\/+$/, "") + "/_aigw/usage", window.location.origin);
		if (url.origin !== window.location.origin)
			throw new Error("The API base path must be on this server.");
		for (const [k, v] of Object.entries(query || {}))
			url.searchParams.set(k, v);
		return url;
	}

	function showError(title, detail) {
		errorEl.replaceChildren(el("strong", {}, title));
		if (detail)
			errorEl.append(el("span", {}, detail));
		errorEl.hidden = false;
	}

	function clearError() {
		errorEl.hidden = true;
		errorEl.replaceChildren();
	}

	// The gateway's errors are {"error": {"message", "type", "code"}}.
	async function gatewayError(res) {
		let message = "";
		let code = "";
		try {
			const j = JSON.parse(await res.text());
			if (j && j.error) {
				message = String(j.error.message || "");
				code = String(j.error.code || "");
			}
		} catch (e) {
			// not JSON: the status alone
		}
		const said = message ? " The gateway said: \u201c" + message + "\u201d" +
			(code ? " (" + code + ")." : ".") : "";
		switch (res.status) {
		case 401:
			return ["Wrong or missing admin key (401).",
				"Check the key against admin_key in the policy's [gateway] section." + said];
		case 403:
			return ["Admin pages are turned off on this gateway (403).",
				"Set admin_key in the policy's [gateway] section." + said];
		case 404:
			return ["Nothing answers at this base path (404).",
				"Use the path of one of the policy's routes, such as / or /v1." + said];
		default:
			return ["The gateway answered " + res.status + " " + res.statusText + ".", said.trim()];
		}
	}

	function wantedQuery() {
		if (currentPeriod() !== "range")
			return {};
		return { since: sinceInput.value, until: untilInput.value };
	}

	async function load() {
		const key = keyInput.value;
		if (loading)
			return;
		clearError();
		let url;
		try {
			url = usageUrl(baseInput.value, wantedQuery());
		} catch (e) {
			showError("Check the API base path.", e.message);
			return;
		}
		if (!key) {
			showError("Enter the admin key.", "");
			keyInput.focus();
			return;
		}
		if (currentPeriod() === "range" && (!sinceInput.value || !untilInput.value)) {
			showError("Choose both dates of the range.", "");
			return;
		}
		loading = true;
		report.setAttribute("aria-busy", "true");
		statusEl.textContent = "Loading\u2026";
		let res;
		try {
			res = await fetch(url, {
				headers: { "Authorization": "Bearer " + key, "Accept": "application/json" },
				cache: "no-store",
				credentials: "omit",
				referrerPolicy: "no-referrer",
			});
		} catch (e) {
			finishLoading("");
			showError("Could not reach the gateway.",
				"No answer from " + url.pathname + " (" + e.message + "). Is the server running?");
			return;
		}
		if (!res.ok) {
			const [title, detail] = await gatewayError(res);
			if (res.status === 401)
				sessionStorage.removeItem(KEY_ITEM);
			finishLoading("");
			showError(title, detail);
			return;
		}
		let j;
		try {
			j = await res.json();
		} catch (e) {
			finishLoading("");
			showError("The answer is not usage data.",
				url.pathname + " did not answer JSON; is the base path a route of the gateway?");
			return;
		}
		if (!j || typeof j !== "object" || !j.today || !j.month) {
			finishLoading("");
			showError("The answer is not usage data.", "It lacks \u201ctoday\u201d and \u201cmonth\u201d.");
			return;
		}
		sessionStorage.setItem(KEY_ITEM, key);
		sessionStorage.setItem(BASE_ITEM, baseInput.value.trim());
		data = j;
		finishLoading("Updated " + new Date().toLocaleTimeString() + ".");
		render();
		document.dispatchEvent(new CustomEvent("aigw:usage-loaded"));
	}

	function finishLoading(text) {
		loading = false;
		report.removeAttribute("aria-busy");
		statusEl.textContent = text;
	}

	// ---- drawing ----

	function currentPeriod() {
		const r = document.querySelector("input[name=period]:checked");
		return r ? r.value : "today";
	}

	function render() {
		const period = currentPeriod();
		const p = data && data[period];
		if (!p) {
			report.hidden = true;
			return;
		}
		report.hidden = false;
		report.dataset.period = period;
		const span = p.since === p.until ? p.since : p.since + " to " + p.until;
		$("report-title").textContent = PERIOD_TITLES[period] + " (" + span + ", UTC)";
		const t = p.total || {};
		$("total-requests").textContent = fmtInt(t.requests);
		$("total-errors").textContent = fmtInt(t.errors);
		$("total-prompt").textContent = fmtInt(t.prompt_tokens);
		$("total-cached").textContent = fmtInt(t.cached_tokens);
		$("total-cache-write").textContent = fmtInt(t.cache_write_tokens);
		$("total-completion").textContent = fmtInt(t.completion_tokens);
		$("total-cost").textContent = fmtUsd(t.cost_usd);
		const unpriced = Number(t.unpriced_requests) || 0;
		$("unpriced").hidden = unpriced === 0;
		$("unpriced").textContent = unpriced === 0 ? "" : fmtInt(unpriced) +
			(unpriced === 1 ? " call" : " calls") +
			" used a model without a price in the policy; the cost leaves them out.";
		drawPie(p.consumers || {});
		drawModels(p.models || {});
		drawRows(p.rows || [], t);
	}

	function slicePath(a0, a1) {
		const x0 = Math.cos(a0), y0 = Math.sin(a0);
		const x1 = Math.cos(a1), y1 = Math.sin(a1);
		const large = a1 - a0 > Math.PI ? 1 : 0;
		const f = (n) => n.toFixed(5);
		return "M0 0L" + f(x0) + " " + f(y0) + "A1 1 0 " + large + " 1 " + f(x1) + " " + f(y1) + "Z";
	}

	function drawPie(consumers) {
		const svg = $("pie");
		const legend = $("pie-legend");
		const entries = Object.entries(consumers)
			.map(([name, v]) => [name, Number(v.requests) || 0])
			.filter(([, n]) => n > 0)
			.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
		const total = entries.reduce((s, [, n]) => s + n, 0);
		for (const node of Array.from(svg.children))
			if (node.tagName !== "title")
				node.remove();
		legend.replaceChildren();
		$("pie-empty").hidden = total > 0;
		svg.hidden = total === 0;
		legend.hidden = total === 0;
		const summary = [];
		let angle = -Math.PI / 2;   // the first slice starts at twelve o'clock
		entries.forEach(([name, n], i) => {
			const color = COLORS[i % COLORS.length];
			const pct = fmtPct(n, total);
			let shape;
			if (n === total) {
				shape = document.createElementNS(SVG_NS, "circle");
				shape.setAttribute("r", "1");
			} else {
				const a1 = angle + 2 * Math.PI * n / total;
				shape = document.createElementNS(SVG_NS, "path");
				shape.setAttribute("d", slicePath(angle, a1));
				angle = a1;
			}
			shape.setAttribute("fill", color);
			shape.setAttribute("class", "slice");
			shape.setAttribute("data-consumer", name);
			shape.setAttribute("data-requests", String(n));
			const tip = document.createElementNS(SVG_NS, "title");
			tip.textContent = consumerLabel(name) + ": " + fmtInt(n) + " (" + pct + ")";
			shape.append(tip);
			svg.append(shape);

			const li = el("li", { "data-consumer": name, "data-requests": String(n) });
			const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
			swatch.style.backgroundColor = color;
			li.append(swatch,
				el("span", { class: "name" }, consumerLabel(name)),
				// The leading blanks keep the words apart for screen readers
				// (and in textContent); the grid drops them on screen.
				el("span", { class: "count" }, " " + fmtInt(n) + (n === 1 ? " call" : " calls")),
				el("span", { class: "pct" }, " " + pct));
			legend.append(li);
			summary.push(consumerLabel(name) + " " + fmtInt(n) + " (" + pct + ")");
		});
		$("pie-title").textContent = total === 0 ? "No calls" :
			"Calls per consumer: " + summary.join(", ");
	}

	function drawModels(models) {
		const body = $("models").tBodies[0];
		body.replaceChildren();
		const entries = Object.entries(models).sort((a, b) =>
			(Number(b[1].prompt_tokens) + Number(b[1].completion_tokens)) -
			(Number(a[1].prompt_tokens) + Number(a[1].completion_tokens)) ||
			a[0].localeCompare(b[0]));
		const max = entries.reduce((m, [, v]) =>
			Math.max(m, (Number(v.prompt_tokens) || 0) + (Number(v.completion_tokens) || 0)), 0);
		if (entries.length === 0) {
			const tr = el("tr");
			tr.append(el("td", { colspan: "8", class: "empty" }, "No calls in this period."));
			body.append(tr);
			return;
		}
		for (const [name, v] of entries) {
			const pin = Number(v.prompt_tokens) || 0;
			const pout = Number(v.completion_tokens) || 0;
			const tr = el("tr", { "data-model": name });
			tr.append(el("th", { scope: "row" }, modelLabel(name)),
				el("td", { class: "num" }, fmtInt(v.requests)),
				el("td", { class: "num" }, fmtInt(pin)),
				el("td", { class: "num cached" }, fmtInt(v.cached_tokens)),
				el("td", { class: "num cache-write" }, fmtInt(v.cache_write_tokens)),
				el("td", { class: "num" }, fmtInt(pout)));
			const barCell = el("td");
			const bar = el("div", { class: "bar", "aria-hidden": "true" });
			const a = el("span", { class: "in" });
			const b = el("span", { class: "out" });
			a.style.width = (max ? 100 * pin / max : 0) + "%";
			b.style.width = (max ? 100 * pout / max : 0) + "%";
			bar.append(a, b);
			barCell.append(bar);
			tr.append(barCell, el("td", { class: "num" }, fmtUsd(v.cost_usd)));
			body.append(tr);
		}
	}

	function drawRows(rows, total) {
		const table = $("rows");
		const body = table.tBodies[0];
		body.replaceChildren();
		table.tFoot.replaceChildren();
		const sorted = rows.slice().sort((a, b) =>
			String(a.consumer).localeCompare(String(b.consumer)) ||
			String(a.model).localeCompare(String(b.model)));
		if (sorted.length === 0) {
			const tr = el("tr");
			tr.append(el("td", { colspan: "9", class: "empty" }, "No calls in this period."));
			body.append(tr);
			return;
		}
		const cells = (r) => [
			el("td", { class: "num" }, fmtInt(r.requests)),
			el("td", { class: "num" }, fmtInt(r.errors)),
			el("td", { class: "num" }, fmtInt(r.prompt_tokens)),
			el("td", { class: "num cached" }, fmtInt(r.cached_tokens)),
			el("td", { class: "num cache-write" }, fmtInt(r.cache_write_tokens)),
			el("td", { class: "num" }, fmtInt(r.completion_tokens)),
			el("td", { class: "num" }, fmtUsd(r.cost_usd)),
		];
		for (const r of sorted) {
			const tr = el("tr", {
				"data-consumer": String(r.consumer), "data-model": String(r.model),
				"data-requests": String(Number(r.requests) || 0),
				"data-errors": String(Number(r.errors) || 0),
				"data-cached": String(Number(r.cached_tokens) || 0),
				"data-cache-write": String(Number(r.cache_write_tokens) || 0),
			});
			tr.append(el("th", { scope: "row" }, consumerLabel(String(r.consumer))),
				el("td", {}, modelLabel(String(r.model))), ...cells(r));
			body.append(tr);
		}
		const tr = el("tr");
		tr.append(el("th", { scope: "row", colspan: "2" }, "Total"), ...cells(total));
		table.tFoot.append(tr);
	}

	// ---- events ----

	function periodChanged() {
		const range = currentPeriod() === "range";
		$("range-fields").hidden = !range;
		if (!data)
			return;
		if (range) {
			// The range is asked for when it is applied.
			if (data.range && data.range.since === sinceInput.value &&
			    data.range.until === untilInput.value)
				render();
			else {
				report.hidden = true;
				statusEl.textContent = "Choose the dates, then Apply.";
			}
			return;
		}
		render();
	}

	form.addEventListener("submit", (ev) => {
		ev.preventDefault();
		load();
	});
	$("forget").addEventListener("click", () => {
		sessionStorage.removeItem(KEY_ITEM);
		keyInput.value = "";
		data = null;
		report.hidden = true;
		clearError();
		statusEl.textContent = "The admin key is forgotten.";
		keyInput.focus();
	});
	for (const r of document.querySelectorAll("input[name=period]"))
		r.addEventListener("change", periodChanged);
	$("apply-range").addEventListener("click", () => {
		if (sinceInput.value && untilInput.value && sinceInput.value > untilInput.value) {
			showError("The range ends before it starts.", "Choose a \u201cto\u201d date on or after the \u201cfrom\u201d date.");
			return;
		}
		load();
	});

	// Start: the range defaults to this month so far; a key kept in this tab
	// loads at once.
	const today = todayUtc();
	sinceInput.value = today.slice(0, 8) + "01";
	untilInput.value = today;
	untilInput.max = today;
	const savedBase = sessionStorage.getItem(BASE_ITEM);
	if (savedBase)
		baseInput.value = savedBase;
	const savedKey = sessionStorage.getItem(KEY_ITEM);
	if (savedKey) {
		keyInput.value = savedKey;
		load();
	}
})();
