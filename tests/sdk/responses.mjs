// responses.mjs: the OpenAI Responses API through the official OpenAI Node
// client, for tests/e2e/t0700-agents-sdk.sh.  Prints one JSON object on
// stdout: {"ok": true, ...} on success; on failure {"ok": false,
// "error_class", "status", "code", "type", "error", "request_id",
// "message"} and exit status 1 (2: usage error).
//
//   node responses.mjs COMMAND [--base-url URL] [--key KEY] [OPTIONS]
//
// --base-url and --key default to $BASE_URL and $API_KEY.  The client never
// retries (maxRetries 0).
//
// Commands:
//   create        responses.create          {id, text, status, model,
//                                            usage, request_id}
//   stream        responses.create stream   {id, text, events (the event
//                                            types in order), usage,
//                                            request_id, completed}
//   chain         create, then create with previous_response_id = the
//                 first id                  {first_id, first_text,
//                                            second_id, second_text,
//                                            previous_response_id}
//   retrieve      responses.retrieve --id   {id, status, text, usage}
//   input-items   responses.inputItems.list --id   {ids, texts}
//   delete        responses.delete --id     {id, deleted}
//   cancel        responses.cancel --id     {id, status}
//   input-tokens  responses.inputTokens.count   {input_tokens}
//
// Options: --model M (default gpt-4o-mini), --prompt TEXT (default
// "say ping"), --previous ID (create, stream: previous_response_id; a
// value of only digits is sent as a JSON number), --id ID, --instructions
// TEXT.

import OpenAI from 'openai';
import { parseArgs, run, fail } from './common.mjs';

const PROG = 'responses.mjs';
const { command, opts } = parseArgs(PROG, process.argv.slice(2));
const client = new OpenAI({ apiKey: opts.key, baseURL: opts.baseUrl,
  maxRetries: 0, timeout: 30000 });
const model = opts.model ?? 'gpt-4o-mini';
const prompt = opts.prompt ?? 'say ping';

function textOf(resp) {
  return resp.output_text ??
    (resp.output ?? []).flatMap((o) => o.content ?? [])
      .map((c) => c.text ?? '').join('');
}

function params(extra = {}) {
  const p = { model, input: prompt, ...extra };
  if (opts.instructions) p.instructions = opts.instructions;
  if (opts.previous !== undefined) {
    p.previous_response_id = /^[0-9]+$/.test(opts.previous) ?
      Number(opts.previous) : opts.previous;
  }
  return p;
}

function needId() {
  if (!opts.id) fail(PROG, `${command} needs --id`);
  return opts.id;
}

async function create() {
  const { data, request_id } =
    await client.responses.create(params()).withResponse();
  return { id: data.id, text: textOf(data), status: data.status,
    model: data.model, usage: data.usage, request_id };
}

async function stream() {
  const { data, request_id } =
    await client.responses.create(params({ stream: true })).withResponse();
  const events = [];
  let text = '', id = null, usage = null, completed = false;
  try {
    for await (const ev of data) {
      events.push(ev.type);
      if (ev.type === 'response.created') id = ev.response.id;
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') {
        completed = true;
        usage = ev.response.usage;
      }
    }
  } catch (err) {
    err.partial = { id, text, events, request_id };
    throw err;
  }
  return { id, text, events, usage, request_id, completed };
}

async function chain() {
  const first = await client.responses.create({ model, input: prompt });
  const second = await client.responses.create({ model,
    input: opts.prompt2 ?? 'and again', previous_response_id: first.id });
  return { first_id: first.id, first_text: textOf(first),
    second_id: second.id, second_text: textOf(second),
    previous_response_id: second.previous_response_id };
}

const commands = {
  create,
  stream,
  chain,
  async retrieve() {
    const r = await client.responses.retrieve(needId());
    return { id: r.id, status: r.status, text: textOf(r), usage: r.usage };
  },
  async 'input-items'() {
    const ids = [], texts = [];
    for await (const item of client.responses.inputItems.list(needId())) {
      ids.push(item.id);
      texts.push((item.content ?? []).map((c) => c.text ?? '').join(''));
    }
    return { ids, texts };
  },
  async delete() {
    // responses.delete answers nothing in this client version: fetch the
    // raw body for the "deleted" flag.
    const resp = await client.responses.delete(needId()).asResponse();
    const body = await resp.json().catch(() => ({}));
    return { id: body.id ?? opts.id, deleted: body.deleted ?? null,
      status: resp.status };
  },
  async cancel() {
    const r = await client.responses.cancel(needId());
    return { id: r.id, status: r.status };
  },
  async 'input-tokens'() {
    const r = await client.responses.inputTokens.count({ model,
      input: prompt });
    return { input_tokens: r.input_tokens };
  },
};

if (!commands[command]) fail(PROG, `unknown command ${command}`);
await run(commands[command]);
