// ui.mjs: drives the usage dashboard (/ui/usage.html) and the chat page
// (/ui/index.html) in headless Chromium and writes what it saw as JSON, for
// tests/e2e/t0500-browser.sh to check.
//
// Environment:
//   GW_URL       the gateway, http://127.0.0.1:PORT
//   BASE         the OpenAI-mode route's path (/v1)
//   ADMIN_KEY    the policy's admin_key
//   KEY1         consumer1's key
//   PROMPT       the chat message to send
//   ANTHROPIC_BASE, ANTHROPIC_MODEL, ANTHROPIC_PROMPT
//                the anthropic route's path, a model and a message for the
//                chat page in Anthropic mode
//   PROFILE      a fresh directory for Chromium's profile
//   SHOTS        where the screenshots go
//   OUT          the JSON file to write
//   CHROMIUM     the browser (default /usr/bin/chromium)
//
// The script checks nothing itself: it records, and exits 1 only when a
// step could not be done at all (the JSON then holds "failed_step" and
// "error").

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
const KEY1 = env("KEY1");
const PROMPT = env("PROMPT");
const ANTHROPIC_BASE = env("ANTHROPIC_BASE");
const ANTHROPIC_MODEL = env("ANTHROPIC_MODEL");
const ANTHROPIC_PROMPT = env("ANTHROPIC_PROMPT");
const PROFILE = env("PROFILE");
const SHOTS = env("SHOTS");
const OUT = env("OUT");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ORIGIN = new URL(GW_URL).origin;

const result = {
	offsite_requests: [],       // anything not asked of the gateway's origin
	urls_with_keys: [],         // request URLs that hold a key
	console_errors: [],         // console errors and uncaught exceptions
	screenshots: [],
};
let step = "start";

function save() {
	writeFileSync(OUT, JSON.stringify(result, null, 2) + "\n");
}

async function shot(page, name) {
	const path = join(SHOTS, name + ".png");
	await page.screenshot({ path, fullPage: true });
	result.screenshots.push(path);
}

// What the usage page shows: pie slices, legend, tables.
async function usageView(page) {
	return page.evaluate(() => {
		const q = (sel) => Array.from(document.querySelectorAll(sel));
		return {
			period: document.getElementById("report").dataset.period || "",
			title: document.getElementById("report-title").textContent,
			slices: q("#pie .slice").map((e) => ({
				tag: e.tagName.toLowerCase(),
				consumer: e.getAttribute("data-consumer"),
				requests: Number(e.getAttribute("data-requests")),
			})),
			legend: q("#pie-legend li").map((li) => li.textContent.replace(/\s+/g, " ").trim()),
			models: q("#models tbody tr").map((tr) =>
				Array.from(tr.cells).map((c) => c.textContent.trim())),
			model_headers: q("#models thead th").map((th) => th.textContent.trim()),
			rows: q("#rows tbody tr").map((tr) => ({
				consumer: tr.getAttribute("data-consumer"),
				model: tr.getAttribute("data-model"),
				requests: Number(tr.getAttribute("data-requests")),
				errors: Number(tr.getAttribute("data-errors")),
				// what the cells show, digits only
				cached: Number(tr.querySelector(".cached").textContent.replace(/\D/g, "")),
				cache_write: Number(tr.querySelector(".cache-write").textContent.replace(/\D/g, "")),
				cells: Array.from(tr.cells).map((c) => c.textContent.trim()),
			})),
			total_cached: document.getElementById("total-cached").textContent.replace(/\D/g, ""),
			total_cache_write: document.getElementById("total-cache-write").textContent
				.replace(/\D/g, ""),
			total_requests: document.getElementById("total-requests").textContent,
			total_cost: document.getElementById("total-cost").textContent,
		};
	});
}

// Form controls without a label (they should be none).
async function unlabelled(page) {
	return page.evaluate(() => Array.from(document.querySelectorAll("input, select, textarea"))
		.filter((e) => !e.hidden && e.type !== "hidden" && e.labels.length === 0 &&
			!e.getAttribute("aria-label") && !e.closest("label"))
		.map((e) => e.id || e.name || e.tagName));
}

// Records every state the last answer's text goes through, with the time,
// in window.__seen.
async function watchAnswer(page) {
	await page.evaluate(() => {
		window.__seen = [];
		const t = document.getElementById("transcript");
		new MutationObserver(() => {
			const a = t.querySelector(".msg.assistant:last-child .text");
			const text = a ? a.textContent : "";
			const seen = window.__seen;
			if (text && (seen.length === 0 || seen[seen.length - 1].text !== text))
				seen.push({ text, at: performance.now() });
		}).observe(t, { subtree: true, childList: true, characterData: true });
	});
}

async function waitReport(page, period) {
	await page.waitForFunction((p) => {
		const r = document.getElementById("report");
		return !r.hidden && r.dataset.period === p && !r.hasAttribute("aria-busy");
	}, period);
}

async function apiUsage() {
	const res = await fetch(ORIGIN + BASE.replace(/\/+$/, "") + "/_aigw/usage", {
		headers: { Authorization: "Bearer " + ADMIN_KEY },
	});
	return { status: res.status, body: await res.json() };
}

function countsOf(consumers) {
	const out = {};
	for (const [name, v] of Object.entries(consumers || {}))
		if (v.requests > 0)
			out[name] = v.requests;
	return out;
}

function slicesOf(view) {
	const out = {};
	for (const s of view.slices)
		out[s.consumer] = s.requests;
	return out;
}

async function main() {
	const started = Date.now();
	const context = await chromium.launchPersistentContext(PROFILE, {
		executablePath: CHROMIUM,
		headless: true,
		args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync"],
		viewport: { width: 1100, height: 850 },
		locale: "en-US",
		timezoneId: "UTC",
	});
	context.setDefaultTimeout(15000);
	context.on("request", (r) => {
		const url = r.url();
		if (!url.startsWith("data:") && new URL(url).origin !== ORIGIN)
			result.offsite_requests.push(url);
		if (url.includes(ADMIN_KEY) || url.includes(KEY1))
			result.urls_with_keys.push(url);
	});
	try {
		const page = context.pages()[0] || await context.newPage();
		page.on("console", (m) => {
			// A refused fetch (401, 403) is logged as "Failed to load
			// resource": expected here; anything else is not.
			if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
				result.console_errors.push(m.text());
		});
		page.on("pageerror", (e) => result.console_errors.push("uncaught: " + e.message));

		// ---- usage: the wrong key first ----
		step = "open usage.html";
		await page.goto(GW_URL + "/ui/usage.html");
		result.usage_unlabelled = await unlabelled(page);
		step = "wrong admin key";
		await page.fill("#base", BASE);
		await page.fill("#admin-key", "not-the-admin-key");
		await page.click("#connect button[type=submit]");
		await page.waitForSelector("#error:not([hidden])");
		result.wrong_key_error = (await page.textContent("#error")).trim();
		result.wrong_key_report_hidden = await page.isHidden("#report");
		result.wrong_key_stored = await page.evaluate(() => sessionStorage.getItem("aigw.adminKey"));
		await shot(page, "usage-wrong-key");

		// ---- usage: the right key, today ----
		step = "admin key";
		await page.fill("#admin-key", ADMIN_KEY);
		await page.click("#connect button[type=submit]");
		await waitReport(page, "today");
		result.error_hidden_after_good_key = await page.isHidden("#error");
		result.today = await usageView(page);
		result.page_url = page.url();
		result.session_storage = await page.evaluate(() => ({ ...sessionStorage }));
		result.local_storage_keys = await page.evaluate(() => Object.keys(localStorage));
		await shot(page, "usage");

		step = "this month";
		await page.check("input[name=period][value=month]");
		await waitReport(page, "month");
		result.month = await usageView(page);

		step = "date range";
		const today = new Date().toISOString().slice(0, 10);
		await page.check("input[name=period][value=range]");
		await page.fill("#since", today);
		await page.fill("#until", today);
		await page.click("#apply-range");
		await waitReport(page, "range");
		result.range = await usageView(page);
		await shot(page, "usage-range");
		result.api_before_chat = await apiUsage();

		// ---- chat ----
		step = "open index.html";
		await page.goto(GW_URL + "/ui/");
		result.chat_unlabelled = await unlabelled(page);
		result.chat_base_default = await page.inputValue("#base");
		step = "chat: key and models";
		await page.fill("#key", KEY1);
		await page.click("#list-models");
		await page.waitForSelector("#model-select:not([hidden])");
		result.models = await page.$$eval("#model-select option", (os) => os.map((o) => o.value));
		await page.selectOption("#model-select", "gpt-4o-mini");
		step = "chat: streamed answer";
		// Every state the answer's text goes through, with the time.
		await page.evaluate(() => {
			window.__seen = [];
			const t = document.getElementById("transcript");
			new MutationObserver(() => {
				const a = t.querySelector(".msg.assistant:last-child .text");
				const text = a ? a.textContent : "";
				const seen = window.__seen;
				if (text && (seen.length === 0 || seen[seen.length - 1].text !== text))
					seen.push({ text, at: performance.now() });
			}).observe(t, { subtree: true, childList: true, characterData: true });
		});
		await page.fill("#prompt", PROMPT);
		await page.press("#prompt", "Enter");
		// A picture half way, if the answer is not complete by then.
		await page.waitForFunction(() =>
			(document.querySelector(".msg.assistant .text") || {}).textContent);
		await shot(page, "chat-streaming");
		await page.waitForSelector(".msg.assistant[data-state=done]");
		result.chat_answer = (await page.textContent(".msg.assistant .text")).trim();
		result.chat_meta = ((await page.textContent(".msg.assistant .meta")) || "").trim();
		result.chat_user = (await page.textContent(".msg.user .text")).trim();
		result.chat_seen = await page.evaluate(() => window.__seen);
		result.chat_error_hidden = await page.isHidden("#error");
		result.chat_session_storage = await page.evaluate(() => ({ ...sessionStorage }));
		await shot(page, "chat");

		step = "chat: wrong key";
		await page.fill("#key", "not-a-consumer-key");
		await page.press("#key", "Tab");      // "change": lists the models again
		await page.waitForSelector("#model-input:not([hidden])");
		result.chat_model_hint = (await page.textContent("#model-hint")).trim();
		await page.fill("#prompt", "this one is refused");
		await page.click("#send");
		await page.waitForSelector("#error:not([hidden])");
		result.chat_wrong_key_error = (await page.textContent("#error")).trim();
		result.chat_prompt_kept = await page.inputValue("#prompt");
		result.chat_bubbles_after_error = await page.$$eval(".msg", (ms) => ms.length);
		await shot(page, "chat-wrong-key");

		// ---- chat in Anthropic mode ----
		step = "chat (anthropic): mode and key";
		await page.click("#clear");
		await page.selectOption("#mode", "anthropic");
		result.anthropic_base = await page.inputValue("#base");
		if (result.anthropic_base !== ANTHROPIC_BASE)
			await page.fill("#base", ANTHROPIC_BASE);
		await page.fill("#key", KEY1);
		await page.press("#key", "Tab");
		await page.waitForFunction((m) => {
			const s = document.getElementById("model-select");
			return !s.hidden && Array.from(s.options).some((o) => o.value === m);
		}, ANTHROPIC_MODEL);
		await page.selectOption("#model-select", ANTHROPIC_MODEL);
		step = "chat (anthropic): streamed answer";
		const sent = [];
		const onRequest = (r) => {
			if (r.method() === "POST" && r.url().endsWith(ANTHROPIC_BASE + "/v1/messages"))
				sent.push(r);
		};
		page.on("request", onRequest);
		await watchAnswer(page);
		await page.fill("#prompt", ANTHROPIC_PROMPT);
		await page.press("#prompt", "Enter");
		await page.waitForSelector(".msg.assistant[data-state=done]");
		page.off("request", onRequest);
		result.anthropic_answer = (await page.textContent(".msg.assistant .text")).trim();
		result.anthropic_meta = ((await page.textContent(".msg.assistant .meta")) || "").trim();
		result.anthropic_seen = await page.evaluate(() => window.__seen);
		result.anthropic_error_hidden = await page.isHidden("#error");
		if (sent.length > 0) {
			const h = sent[0].headers();
			let body = {};
			try {
				body = JSON.parse(sent[0].postData() || "{}");
			} catch (e) {
				// recorded as not streamed
			}
			result.anthropic_request = [h["x-api-key"] === KEY1, h["anthropic-version"] || null,
				body.stream === true, "authorization" in h];
		}
		await shot(page, "chat-anthropic");

		step = "chat (anthropic): wrong key";
		await page.fill("#key", "not-a-consumer-key");
		await page.press("#key", "Tab");
		await page.waitForSelector("#model-input:not([hidden])");
		await page.fill("#prompt", "this one is refused too");
		await page.click("#send");
		await page.waitForSelector("#error:not([hidden])");
		result.anthropic_wrong_key_error = (await page.textContent("#error")).trim();
		await shot(page, "chat-anthropic-wrong-key");

		// ---- usage again: the page (key from this tab) against the API ----
		step = "usage after the chat";
		await page.goto(GW_URL + "/ui/usage.html");
		await waitReport(page, "today");
		result.today_after_chat = await usageView(page);
		result.api_after_chat = await apiUsage();
		result.slices_after_chat = slicesOf(result.today_after_chat);
		result.api_counts_after_chat = countsOf(result.api_after_chat.body.today.consumers);
		await shot(page, "usage-after-chat");
		step = "done";
	} finally {
		await context.close();
		result.seconds = (Date.now() - started) / 1000;
	}
}

try {
	await main();
	result.slices_today = result.today ? slicesOf(result.today) : {};
	save();
} catch (e) {
	result.failed_step = step;
	result.error = String(e && e.stack || e);
	save();
	console.error("ui.mjs: failed at \"" + step + "\": " + (e && e.message || e));
	process.exit(1);
}
