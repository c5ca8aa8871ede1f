// chart.mjs: drives the usage page's chart over time (/ui/usage.html) in
// headless Chromium and writes what it saw as JSON, for
// tests/e2e/t0520-usage-chart.sh to check.
//
// Environment: GW_URL, BASE, ADMIN_KEY, FROM, TO (the range to show),
// PROFILE, SHOTS, OUT, CHROMIUM, as tests/browser/ui.mjs. It checks nothing
// itself and exits 1 only when a step could not be done at all.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
	const v = process.env[name];
	if (!v)
		throw new Error(name + " is not set");
	return v;
};

const GW_URL = env("GW_URL");
const BASE = env("BASE");
const ADMIN_KEY = env("ADMIN_KEY");
const FROM = env("FROM");
const TO = env("TO");
const PROFILE = env("PROFILE");
const SHOTS = env("SHOTS");
const OUT = env("OUT");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ORIGIN = new URL(GW_URL).origin;

const result = { offsite_requests: [], console_errors: [], screenshots: [] };
let step = "start";

async function shot(page, name) {
	const path = join(SHOTS, name + ".png");
	await page.screenshot({ path, fullPage: true });
	result.screenshots.push(path);
}

// The chart's bars and days as the page holds them.
async function chartView(page) {
	return page.evaluate(() => {
		const q = (sel) => Array.from(document.querySelectorAll(sel));
		return {
			bars: q("#trend-chart rect.trend-bar").map((r) => ({
				date: r.getAttribute("data-date"),
				key: r.getAttribute("data-key"),
				value: Number(r.getAttribute("data-value")),
				height: Number(r.getAttribute("height")),
			})),
			days: q("#trend-chart g.day").map((g) => ({
				date: g.getAttribute("data-date"),
				total: Number(g.getAttribute("data-total")),
			})),
			legend: q("#trend-legend li").map((li) => li.dataset.key),
			title: document.getElementById("trend-title-svg").textContent,
			status: document.getElementById("trend-status").textContent,
		};
	});
}

async function waitChart(page) {
	await page.waitForFunction(() => !document.getElementById("trend").hasAttribute("aria-busy") &&
		document.querySelectorAll("#trend-chart g.day").length > 0);
}

async function main() {
	const context = await chromium.launchPersistentContext(PROFILE, {
		executablePath: CHROMIUM,
		headless: true,
		args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync"],
		viewport: { width: 1100, height: 1100 },
		locale: "en-US",
		timezoneId: "UTC",
	});
	context.setDefaultTimeout(15000);
	context.on("request", (r) => {
		const url = r.url();
		if (!url.startsWith("data:") && new URL(url).origin !== ORIGIN)
			result.offsite_requests.push(url);
	});
	try {
		const page = context.pages()[0] || await context.newPage();
		page.on("console", (m) => {
			if (m.type() === "error")
				result.console_errors.push(m.text());
		});
		page.on("pageerror", (e) => result.console_errors.push(String(e)));

		step = "open usage.html";
		await page.goto(GW_URL + "/ui/usage.html");
		await page.fill("#base", BASE);
		await page.fill("#admin-key", ADMIN_KEY);
		await page.click("#connect button[type=submit]");
		step = "the default chart (the last 7 days)";
		await waitChart(page);
		result.default_view = await chartView(page);

		step = "the range";
		await page.fill("#trend-from", FROM);
		await page.fill("#trend-to", TO);
		await page.click("#trend-apply");
		await page.waitForFunction((f) => {
			const g = document.querySelector("#trend-chart g.day");
			return g && g.getAttribute("data-date") === f &&
				!document.getElementById("trend").hasAttribute("aria-busy");
		}, FROM);
		result.calls_by_consumer = await chartView(page);
		await shot(page, "usage-chart-calls");

		step = "cost per model";
		await page.selectOption("#trend-metric", "cost_usd");
		await page.selectOption("#trend-by", "models");
		result.cost_by_model = await chartView(page);
		await page.locator("#trend").screenshot({ path: join(SHOTS, "usage-chart-cost.png") });
		result.screenshots.push(join(SHOTS, "usage-chart-cost.png"));

		step = "tokens per consumer";
		await page.selectOption("#trend-metric", "total_tokens");
		await page.selectOption("#trend-by", "consumers");
		result.tokens_by_consumer = await chartView(page);

		step = "cache reads and writes per model";
		await page.selectOption("#trend-metric", "cached_tokens");
		await page.selectOption("#trend-by", "models");
		result.cached_by_model = await chartView(page);
		await page.locator("#trend").screenshot({ path: join(SHOTS, "usage-chart-cached.png") });
		result.screenshots.push(join(SHOTS, "usage-chart-cached.png"));
		await page.selectOption("#trend-metric", "cache_write_tokens");
		result.cache_write_by_model = await chartView(page);

		step = "a range the gateway refuses";
		await page.fill("#trend-from", "2020-01-01");
		await page.fill("#trend-to", "2026-01-01");
		await page.click("#trend-apply");
		result.too_long = (await chartView(page)).status;

		step = "unlabelled controls";
		result.unlabelled = await page.evaluate(() =>
			Array.from(document.querySelectorAll("#trend input, #trend select"))
				.filter((e) => e.labels.length === 0).map((e) => e.id));
		step = "done";
	} finally {
		await context.close();
	}
}

try {
	await main();
	writeFileSync(OUT, JSON.stringify(result, null, 2) + "\n");
} catch (e) {
	result.failed_step = step;
	result.error = String(e && e.stack || e);
	writeFileSync(OUT, JSON.stringify(result, null, 2) + "\n");
	console.error("chart.mjs: failed at \"" + step + "\": " + (e && e.message || e));
	process.exit(1);
}
