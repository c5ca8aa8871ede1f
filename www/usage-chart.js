// usage-chart.js: the usage page's chart over time. Reads <base>/_aigw/usage
// ?from=&to=&by=day with the admin key the page holds, and draws calls,
// tokens or cost per day as bars stacked per consumer or per model, in SVG
// drawn here (no library). Each bar carries data-date, data-key and
// data-value, the numbers of the answer's series.
"use strict";

(function () {
	const KEY_ITEM = "aigw.adminKey";
	const SVG_NS = "http://www.w3.org/2000/svg";
	const COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9",
		"#d55e00", "#f0e442", "#7f7f7f"];
	const W = 720, H = 260, PAD_L = 84, PAD_R = 8, PAD_T = 10, PAD_B = 30;
	const MAX_DAYS = 366;

	const $ = (id) => document.getElementById(id);
	const section = $("trend");
	const fromInput = $("trend-from");
	const toInput = $("trend-to");
	const metricSelect = $("trend-metric");
	const bySelect = $("trend-by");
	const svg = $("trend-chart");
	const legend = $("trend-legend");
	const statusEl = $("trend-status");
	let series = null;     // the last answer's series
	let asking = 0;        // the latest request wins

	const numberFormat = new Intl.NumberFormat();

	function fmt(metric, v) {
		if (metric === "cost_usd") {
			v = Number(v) || 0;
			return "$" + (v === 0 ? "0" : v < 0.01 ? v.toPrecision(2) : v.toFixed(2));
		}
		return numberFormat.format(Number(v) || 0);
	}

	function dayUtc(offsetDays) {
		return new Date(Date.now() + offsetDays * 86400000).toISOString().slice(0, 10);
	}

	function seriesUrl(base) {
		base = base.trim();
		if (!/^\/(?![\/\\])[^?#\s\\]*$/.test(base))
			throw new Error("The API base path must start with a single \"/\".");
		const url = new URL(base.replace(/\/+$/, "") + "/_aigw/usage", window.location.origin);
		if (url.origin !== window.location.origin)
			throw new Error("The API base path must be on this server.");
		url.searchParams.set("from", fromInput.value);
		url.searchParams.set("to", toInput.value);
		url.searchParams.set("by", "day");
		return url;
	}

	function svgEl(tag, attrs, text) {
		const e = document.createElementNS(SVG_NS, tag);
		for (const [k, v] of Object.entries(attrs || {}))
			e.setAttribute(k, String(v));
		if (text !== undefined)
			e.textContent = text;
		return e;
	}

	// A round top for the axis: 1, 2 or 5 times a power of ten.
	function niceMax(v) {
		if (!(v > 0))
			return 1;
		const p = Math.pow(10, Math.floor(Math.log10(v)));
		for (const m of [1, 2, 5, 10])
			if (m * p >= v)
				return m * p;
		return 10 * p;
	}

	async function load() {
		const key = sessionStorage.getItem(KEY_ITEM);
		if (!key)
			return;
		if (!fromInput.value || !toInput.value || fromInput.value > toInput.value) {
			statusEl.textContent = "Choose a \u201cfrom\u201d day on or before the \u201cto\u201d day.";
			return;
		}
		const days = (Date.parse(toInput.value) - Date.parse(fromInput.value)) / 86400000 + 1;
		if (days > MAX_DAYS) {
			statusEl.textContent = "Choose at most " + MAX_DAYS + " days.";
			return;
		}
		let url;
		try {
			url = seriesUrl($("base").value);
		} catch (e) {
			statusEl.textContent = e.message;
			return;
		}
		const mine = ++asking;
		statusEl.textContent = "Loading\u2026";
		section.setAttribute("aria-busy", "true");
		try {
			const res = await fetch(url, {
				headers: { "Authorization": "Bearer " + key, "Accept": "application/json" },
				cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
			});
			const j = await res.json().catch(() => null);
			if (mine !== asking)
				return;
			if (!res.ok) {
				const m = j && j.error && j.error.message ? ": " + j.error.message : "";
				statusEl.textContent = "The gateway answered " + res.status + m;
				return;
			}
			if (!j || !Array.isArray(j.series)) {
				statusEl.textContent = "The answer has no series: is the gateway older than this page?";
				return;
			}
			series = j.series;
			statusEl.textContent = "";
			draw();
		} catch (e) {
			if (mine === asking)
				statusEl.textContent = "Could not reach the gateway (" + e.message + ").";
		} finally {
			if (mine === asking)
				section.removeAttribute("aria-busy");
		}
	}

	function draw() {
		const metric = metricSelect.value;
		const by = bySelect.value;
		svg.replaceChildren(svgEl("title", { id: "trend-title-svg" }, "No data"));
		legend.replaceChildren();
		if (!series)
			return;
		// The keys, the largest over the range first, so colours stay put
		// from day to day.
		const sums = new Map();
		for (const d of series)
			for (const [k, v] of Object.entries(d[by] || {}))
				sums.set(k, (sums.get(k) || 0) + (Number(v[metric]) || 0));
		const keys = Array.from(sums.keys()).sort((a, b) =>
			sums.get(b) - sums.get(a) || a.localeCompare(b));
		const color = (k) => COLORS[keys.indexOf(k) % COLORS.length];
		const top = niceMax(Math.max(0, ...series.map((d) => Number(d[metric]) || 0)));
		const plotW = W - PAD_L - PAD_R, plotH = H - PAD_T - PAD_B;
		const slot = plotW / Math.max(1, series.length);
		const y = (v) => PAD_T + plotH - plotH * v / top;

		for (let i = 0; i <= 4; i++) {
			const v = top * i / 4;
			svg.append(svgEl("line", { x1: PAD_L, x2: W - PAD_R, y1: y(v), y2: y(v),
				class: "grid" }));
			svg.append(svgEl("text", { x: PAD_L - 6, y: y(v) + 4, class: "axis",
				"text-anchor": "end" }, fmt(metric, v)));
		}
		const labelEvery = Math.ceil(series.length / 12);
		series.forEach((d, i) => {
			const total = Number(d[metric]) || 0;
			const g = svgEl("g", { class: "day", "data-date": d.date, "data-total": String(d[metric]) });
			const x = PAD_L + i * slot + slot * 0.15;
			let base = 0;
			for (const k of keys) {
				const e = (d[by] || {})[k];
				if (!e)
					continue;
				const v = Number(e[metric]) || 0;
				const r = svgEl("rect", {
					x: x.toFixed(2), width: (slot * 0.7).toFixed(2),
					y: y(base + v).toFixed(2), height: Math.max(0, y(base) - y(base + v)).toFixed(2),
					fill: color(k), class: "trend-bar",
					"data-date": d.date, "data-key": k, "data-value": String(e[metric]),
				});
				r.append(svgEl("title", {}, d.date + " \u00b7 " + (k || "(none)") + ": " + fmt(metric, v)));
				g.append(r);
				base += v;
			}
			g.append(svgEl("title", {}, d.date + ": " + fmt(metric, total)));
			svg.append(g);
			if (i % labelEvery === 0)
				svg.append(svgEl("text", { x: (PAD_L + i * slot + slot / 2).toFixed(2), y: H - 10,
					class: "axis", "text-anchor": "middle" }, d.date.slice(5)));
		});
		const what = metricSelect.options[metricSelect.selectedIndex].text;
		svg.firstChild.textContent = what + " per day, " + series[0].date + " to " +
			series[series.length - 1].date + ", per " + bySelect.options[bySelect.selectedIndex].text;
		for (const k of keys) {
			const li = document.createElement("li");
			li.dataset.key = k;
			const sw = document.createElement("span");
			sw.className = "swatch";
			sw.setAttribute("aria-hidden", "true");
			sw.style.backgroundColor = color(k);
			const name = document.createElement("span");
			name.className = "name";
			name.textContent = k === "" ? "(none)" : k;
			const count = document.createElement("span");
			count.className = "count";
			count.textContent = " " + fmt(metric, sums.get(k));
			li.append(sw, name, count);
			legend.append(li);
		}
	}

	toInput.value = dayUtc(0);
	toInput.max = dayUtc(0);
	fromInput.value = dayUtc(-6);
	$("trend-apply").addEventListener("click", load);
	metricSelect.addEventListener("change", draw);
	bySelect.addEventListener("change", draw);
	// usage.js tells when it has loaded usage with a good key
	document.addEventListener("aigw:usage-loaded", load);
})();
