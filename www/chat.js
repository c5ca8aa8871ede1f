// chat.js: a small chat with a route of the gateway, in either API: an
// OpenAI-mode route (POST <base>/chat/completions, the key as a Bearer
// token) or an Anthropic-mode one (POST <base>/v1/messages, the key in
// x-api-key, anthropic-version 2023-06-01). Both are sent with "stream": true
// and the answer is shown as its Server-Sent Events arrive. The key lives in
// sessionStorage only.
"use strict";

(function () {
	const KEY_ITEM = "aigw.chatKey";
	const BASE_ITEM = "aigw.chatBase";
	const MODEL_ITEM = "aigw.chatModel";
	const MODE_ITEM = "aigw.chatMode";
	const ANTHROPIC_VERSION = "2023-06-01";
	const ANTHROPIC_MAX_TOKENS = 1024;   // Anthropic's API requires one
	// What differs between the two APIs.
	const MODES = {
		openai: {
			base: "/v1", model: "gpt-4o-mini", chat: "/chat/completions", models: "/models",
			hint: "The path of a route with mode = openai, such as /v1.",
		},
		anthropic: {
			base: "/anthropic", model: "claude-sonnet-4-5", chat: "/v1/messages",
			models: "/v1/models",
			hint: "The path of a route with mode = anthropic, such as /anthropic.",
		},
	};

	const $ = (id) => document.getElementById(id);
	const settings = $("settings");
	const baseInput = $("base");
	const baseHint = $("base-hint");
	const modeSelect = $("mode");
	const keyInput = $("key");
	const modelSelect = $("model-select");
	const modelInput = $("model-input");
	const modelLabel = $("model-label");
	const modelHint = $("model-hint");
	const transcript = $("transcript");
	const errorEl = $("error");
	const ask = $("ask");
	const promptInput = $("prompt");
	const sendButton = $("send");
	const stopButton = $("stop");

	let history = [];        // the messages of the conversation so far
	let controller = null;   // aborts the answer being streamed
	// Model ids that are not chat models (OpenAI's and others' naming).
	const NOT_CHAT = /(^|[-_/.])(text-)?(embed|embedding|embeddings|whisper|tts|dall-e|moderation|transcribe|image|audio|realtime|search|davinci|babbage|rerank)([-_/.]|\d|$)/i;
	let modelsRequest = 0;   // the latest /models request wins
	let modelsAsked = { what: "", at: 0 };
	let conversation = 0;    // bumped by "New conversation"

	function el(tag, attrs, text) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {}))
			e.setAttribute(k, v);
		if (text !== undefined)
			e.textContent = text;
		return e;
	}

	// The key is sent to this path, so it must stay on this server: a path
	// that starts with one "/" and holds no backslash ("/\host" and "//host"
	// name other servers).
	function apiUrl(endpoint) {
		const base = baseInput.value.trim();
		if (!/^\/(?![\/\\])[^?#\s\\]*$/.test(base))
			throw new Error("The route base path must start with a single \"/\", such as /v1.");
		const url = new URL(base.replace(/\/+$/, "") + endpoint, window.location.origin);
		if (url.origin !== window.location.origin)
			throw new Error("The route base path must be on this server.");
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

	function mode() {
		return MODES[modeSelect.value] ? modeSelect.value : "openai";
	}

	// The headers that carry the key in the chosen API.
	function authHeaders(key) {
		if (mode() === "anthropic")
			return { "x-api-key": key, "anthropic-version": ANTHROPIC_VERSION };
		return { "Authorization": "Bearer " + key };
	}

	// The gateway's errors in either API's shape: OpenAI's {"error":
	// {"message", "code", ...}} and Anthropic's {"type": "error", "error":
	// {"type", "message"}}.
	async function errorOf(res) {
		let message = "";
		let code = "";
		try {
			const j = JSON.parse(await res.text());
			if (j && j.error) {
				message = String(j.error.message || "");
				code = String(j.error.code || j.error.type || "");
			}
		} catch (e) {
			// not JSON: the status alone
		}
		let title;
		switch (res.status) {
		case 401: title = "Your key was refused (401)."; break;
		case 403: title = "Not allowed (403)."; break;
		case 404: title = "Nothing answers at this route base path (404)."; break;
		case 413: title = "The message is too long (413)."; break;
		case 429: title = "Too many requests (429)."; break;
		default:
			title = res.status >= 500 ?
				"The gateway or its upstream failed (" + res.status + ")." :
				"The request failed (" + res.status + ").";
		}
		let detail = message ? "The gateway said: \u201c" + message + "\u201d" +
			(code ? " (" + code + ")." : ".") : "";
		const retry = res.headers.get("Retry-After");
		if (res.status === 429 && retry)
			detail += " Try again in " + retry + " s.";
		return { title, detail: detail.trim(), message };
	}

	// ---- models ----

	function currentModel() {
		return modelSelect.hidden ? modelInput.value.trim() : modelSelect.value;
	}

	function useTextModel(hint) {
		const chosen = currentModel();
		modelSelect.hidden = true;
		modelInput.hidden = false;
		if (chosen)
			modelInput.value = chosen;
		modelLabel.htmlFor = "model-input";
		modelHint.textContent = hint;
	}

	async function listModels() {
		const key = keyInput.value;
		// Typing a key and pressing the button fires "change", then "submit":
		// ask once.
		const what = mode() + "\n" + baseInput.value.trim() + "\n" + key;
		if (what === modelsAsked.what && Date.now() - modelsAsked.at < 1000)
			return;
		modelsAsked = { what, at: Date.now() };
		const mine = ++modelsRequest;
		let url;
		try {
			url = apiUrl(MODES[mode()].models);
		} catch (e) {
			useTextModel(e.message);
			return;
		}
		if (!key) {
			useTextModel("Enter your key to list the models.");
			return;
		}
		modelHint.textContent = "Listing the models\u2026";
		let why;
		try {
			const res = await fetch(url, {
				headers: { ...authHeaders(key), "Accept": "application/json" },
				cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
			});
			if (mine !== modelsRequest)
				return;
			if (res.ok) {
				const j = await res.json();
				const all = (j && Array.isArray(j.data) ? j.data : [])
					.map((m) => m && typeof m.id === "string" ? m.id : "")
					.filter((id) => id !== "")
					.sort();
				// Chat models first: an upstream lists its embedding, speech
				// and image models too, which this page cannot talk to.
				const chat = all.filter((id) => !NOT_CHAT.test(id));
				const ids = chat.length > 0 ? chat : all;
				if (mine !== modelsRequest)
					return;
				if (ids.length > 0) {
					const wanted = sessionStorage.getItem(MODEL_ITEM) || currentModel();
					modelSelect.replaceChildren(...ids.map((id) => el("option", { value: id }, id)));
					modelSelect.value = ids.includes(wanted) ? wanted : ids[0];
					modelSelect.hidden = false;
					modelInput.hidden = true;
					modelLabel.htmlFor = "model-select";
					modelHint.textContent = ids.length + (ids.length === 1 ? " model" : " models") +
						" from " + url.pathname + ".";
					return;
				}
				why = "the list is empty";
			} else {
				const err = await errorOf(res);
				why = res.status + (err.message ? ": " + err.message : "");
			}
		} catch (e) {
			why = e.message;
		}
		if (mine === modelsRequest)
			useTextModel("Could not list the models (" + why + "); type a model id.");
	}

	// ---- the conversation ----

	function bubble(role, who, text) {
		const div = el("div", { class: "msg " + role });
		div.append(el("p", { class: "who" }, who), el("p", { class: "text" }, text));
		transcript.append(div);
		return div;
	}

	// Reads Server-Sent Events from a fetch() body: calls onData with each
	// event's data (its "data:" lines joined by newlines); stops at [DONE].
	// Returns true when [DONE] came, false when the stream just ended.
	async function readEvents(body, onData) {
		const reader = body.getReader();
		const decoder = new TextDecoder();
		let buf = "";
		let data = [];
		let done = false;
		const line = (text) => {
			if (text === "") {
				if (data.length > 0) {
					const d = data.join("\n");
					data = [];
					if (d === "[DONE]")
						return true;
					onData(d);
				}
				return false;
			}
			if (text.startsWith(":"))
				return false;           // a comment
			const colon = text.indexOf(":");
			const field = colon < 0 ? text : text.slice(0, colon);
			let value = colon < 0 ? "" : text.slice(colon + 1);
			if (value.startsWith(" "))
				value = value.slice(1);
			if (field === "data")
				data.push(value);
			return false;
		};
		for (;;) {
			const { value, done: ended } = await reader.read();
			buf += ended ? decoder.decode() : decoder.decode(value, { stream: true });
			let m;
			while ((m = /\r\n|\n|\r/.exec(buf)) !== null) {
				// A lone "\r" at the end may be the first half of "\r\n".
				if (m[0] === "\r" && m.index === buf.length - 1 && !ended)
					break;
				const text = buf.slice(0, m.index);
				buf = buf.slice(m.index + m[0].length);
				if (line(text)) {
					done = true;
					break;
				}
			}
			if (done) {
				reader.cancel().catch(() => {});
				return true;
			}
			if (ended) {
				if (buf !== "")
					line(buf);
				if (line(""))
					return true;    // a last event without its blank line
				return false;
			}
		}
	}

	// One chunk of an OpenAI chat.completion.chunk stream.
	function openaiEvent(chunk, seen) {
		if (chunk.error) {
			seen.fail(String(chunk.error.message || ""));
			return;
		}
		if (chunk.usage) {
			const d = chunk.usage.prompt_tokens_details;
			seen.usage({ ...chunk.usage, cached_tokens: d && Number(d.cached_tokens) || 0 });
		}
		for (const c of (Array.isArray(chunk.choices) ? chunk.choices : [])) {
			const piece = c && c.delta && typeof c.delta.content === "string" ?
				c.delta.content : (c && typeof c.text === "string" ? c.text : "");
			if (piece)
				seen.add(piece);
		}
	}

	// Anthropic's usage as the page shows it: tokens in are the input, the
	// cache reads and the cache writes (as the gateway counts them); a
	// message_delta's usage carries the output so far.
	function anthropicUsage(u, before) {
		if (!u || typeof u !== "object")
			return before;
		const n = (v) => Number(v) || 0;
		const was = before || { prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0 };
		const hasIn = "input_tokens" in u || "cache_read_input_tokens" in u;
		return {
			prompt_tokens: hasIn ? n(u.input_tokens) + n(u.cache_read_input_tokens) +
				n(u.cache_creation_input_tokens) : was.prompt_tokens,
			cached_tokens: hasIn ? n(u.cache_read_input_tokens) : was.cached_tokens,
			completion_tokens: "output_tokens" in u ? n(u.output_tokens) : was.completion_tokens,
		};
	}

	// One event of an Anthropic Messages stream: message_start,
	// content_block_delta (text_delta), message_delta, message_stop, error.
	function anthropicEvent(ev, seen) {
		switch (ev.type) {
		case "message_start":
			seen.sofar = anthropicUsage(ev.message && ev.message.usage, null);
			seen.usage(seen.sofar);
			break;
		case "content_block_delta":
			if (ev.delta && ev.delta.type === "text_delta" && typeof ev.delta.text === "string")
				seen.add(ev.delta.text);
			break;
		case "message_delta":
			seen.sofar = anthropicUsage(ev.usage, seen.sofar);
			seen.usage(seen.sofar);
			break;
		case "message_stop":
			seen.ended = true;
			break;
		case "error":
			seen.fail(String(ev.error && ev.error.message || ""));
			break;
		}
	}

	function setBusy(busy) {
		sendButton.disabled = busy;
		stopButton.disabled = !busy;
		promptInput.setAttribute("aria-busy", busy ? "true" : "false");
	}

	async function send(prompt) {
		clearError();
		const key = keyInput.value;
		const model = currentModel();
		let url;
		try {
			url = apiUrl(MODES[mode()].chat);
		} catch (e) {
			showError("Check the route base path.", e.message);
			return;
		}
		if (!key) {
			showError("Enter your key.", "The gateway needs your consumer's key for every request.");
			keyInput.focus();
			return;
		}
		if (!model) {
			showError("Choose a model.", "");
			return;
		}
		const messages = history.concat([{ role: "user", content: prompt }]);
		const anthropic = mode() === "anthropic";
		const mine = conversation;
		const userBubble = bubble("user", "You", prompt);
		const answer = bubble("assistant", model, "");
		const textNode = document.createTextNode("");
		answer.querySelector(".text").append(textNode);
		answer.classList.add("streaming");
		answer.dataset.state = "waiting";
		answer.setAttribute("aria-busy", "true");
		answer.scrollIntoView({ block: "nearest" });
		promptInput.value = "";
		controller = new AbortController();
		setBusy(true);

		let content = "";
		let usage = null;
		let state = "done";
		let failure = null;
		let requestId = "";
		// What an event adds: the text, the usage, an error; true at the end.
		const onEvent = anthropic ? anthropicEvent : openaiEvent;
		const add = (piece) => {
			content += piece;
			textNode.appendData(piece);
		};
		const seen = {
			add,
			usage: (u) => { usage = u; },
			fail: (message) => {
				failure = { title: "The answer stopped with an error.",
					detail: "The gateway said: \u201c" + message + "\u201d" };
			},
			ended: false,   // Anthropic's message_stop came
			sofar: null,    // Anthropic's usage so far
		};
		try {
			const res = await fetch(url, {
				method: "POST",
				headers: {
					...authHeaders(key),
					"Content-Type": "application/json",
					"Accept": "text/event-stream, application/json",
				},
				body: JSON.stringify(anthropic ?
					{ model, max_tokens: ANTHROPIC_MAX_TOKENS, messages, stream: true } :
					{ model, messages, stream: true, stream_options: { include_usage: true } }),
				cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
				signal: controller.signal,
			});
			requestId = res.headers.get("X-AIGW-Request-Id") || "";
			if (!res.ok) {
				failure = await errorOf(res);
			} else if ((res.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
				answer.dataset.state = "streaming";
				const finished = await readEvents(res.body, (d) => {
					let chunk;
					try {
						chunk = JSON.parse(d);
					} catch (e) {
						return;         // not JSON: skip the event
					}
					if (chunk && typeof chunk === "object")
						onEvent(chunk, seen);
				});
				// OpenAI's stream ends with [DONE], Anthropic's with message_stop.
				if (!(anthropic ? seen.ended : finished) && !failure)
					state = "cut";
			} else {
				// Not streamed after all: one JSON answer.
				const j = await res.json();
				if (anthropic) {
					for (const b of (j && Array.isArray(j.content) ? j.content : []))
						if (b && b.type === "text" && typeof b.text === "string")
							add(b.text);
					usage = anthropicUsage(j && j.usage, null);
				} else {
					const c = j && Array.isArray(j.choices) && j.choices[0];
					add(c && c.message && typeof c.message.content === "string" ? c.message.content : "");
					usage = j && j.usage;
				}
			}
		} catch (e) {
			if (e.name === "AbortError")
				state = "stopped";
			else
				failure = { title: "Could not reach the gateway.",
					detail: "No answer from " + url.pathname + " (" + e.message + "). Is the server running?" };
		}
		controller = null;
		setBusy(false);
		if (mine !== conversation)
			return;             // cleared meanwhile
		answer.classList.remove("streaming");
		answer.removeAttribute("aria-busy");

		if (failure && content === "") {
			// Nothing came: take both bubbles back and give the prompt back.
			userBubble.remove();
			answer.remove();
			promptInput.value = prompt;
			showError(failure.title, failure.detail +
				(requestId ? " Request id " + requestId + "." : ""));
			return;
		}
		if (failure) {
			answer.classList.add("failed");
			showError(failure.title, failure.detail);
			state = "cut";
		}
		answer.dataset.state = state;
		const meta = [];
		if (state === "stopped")
			meta.push("stopped");
		else if (state === "cut")
			meta.push("the answer was cut short");
		if (usage)
			meta.push(usage.prompt_tokens + " tokens in" +
				(usage.cached_tokens ? " (" + usage.cached_tokens + " from the cache)" : "") +
				", " + usage.completion_tokens + " out");
		if (requestId)
			meta.push("request " + requestId);
		if (meta.length > 0)
			answer.append(el("p", { class: "meta" }, meta.join(" \u00b7 ")));
		history = messages.concat([{ role: "assistant", content }]);
		answer.scrollIntoView({ block: "nearest" });
	}

	// ---- events ----

	settings.addEventListener("submit", (ev) => {
		ev.preventDefault();
		listModels();
	});
	keyInput.addEventListener("change", () => {
		if (keyInput.value)
			sessionStorage.setItem(KEY_ITEM, keyInput.value);
		else
			sessionStorage.removeItem(KEY_ITEM);
		listModels();
	});
	// A new API: the other API's default path and model follow; what the
	// user typed stays.
	function modeChanged() {
		const m = MODES[mode()];
		for (const other of Object.values(MODES)) {
			if (other === m)
				continue;
			if (baseInput.value.trim() === other.base)
				baseInput.value = m.base;
			if (modelInput.value.trim() === other.model)
				modelInput.value = m.model;
		}
		baseHint.textContent = m.hint;
		sessionStorage.setItem(MODE_ITEM, mode());
		sessionStorage.setItem(BASE_ITEM, baseInput.value.trim());
	}
	modeSelect.addEventListener("change", () => {
		useTextModel(keyInput.value ? "Listing the models\u2026" : "Enter your key to list the models.");
		modeChanged();
		listModels();
	});
	baseInput.addEventListener("change", () => {
		sessionStorage.setItem(BASE_ITEM, baseInput.value.trim());
		listModels();
	});
	modelSelect.addEventListener("change", () => sessionStorage.setItem(MODEL_ITEM, modelSelect.value));
	modelInput.addEventListener("change", () => sessionStorage.setItem(MODEL_ITEM, modelInput.value.trim()));
	$("forget").addEventListener("click", () => {
		sessionStorage.removeItem(KEY_ITEM);
		keyInput.value = "";
		useTextModel("Enter your key to list the models.");
		keyInput.focus();
	});
	ask.addEventListener("submit", (ev) => {
		ev.preventDefault();
		const prompt = promptInput.value;
		if (controller || prompt.trim() === "")
			return;
		send(prompt);
	});
	promptInput.addEventListener("keydown", (ev) => {
		if (ev.key === "Enter" && !ev.shiftKey && !ev.ctrlKey && !ev.altKey && !ev.metaKey &&
		    !ev.isComposing) {
			ev.preventDefault();
			ask.requestSubmit();
		}
	});
	stopButton.addEventListener("click", () => {
		if (controller)
			controller.abort();
	});
	$("clear").addEventListener("click", () => {
		if (controller)
			controller.abort();
		conversation++;
		history = [];
		transcript.replaceChildren();
		clearError();
		promptInput.focus();
	});

	const savedMode = sessionStorage.getItem(MODE_ITEM);
	if (savedMode && MODES[savedMode])
		modeSelect.value = savedMode;
	baseHint.textContent = MODES[mode()].hint;
	const savedBase = sessionStorage.getItem(BASE_ITEM);
	if (savedBase)
		baseInput.value = savedBase;
	const savedModel = sessionStorage.getItem(MODEL_ITEM);
	if (savedModel)
		modelInput.value = savedModel;
	const savedKey = sessionStorage.getItem(KEY_ITEM);
	if (savedKey) {
		keyInput.value = savedKey;
		listModels();
	}
})();
