// anthropic.mjs: the Anthropic Messages API through the official Anthropic
// Node client (@anthropic-ai/sdk), for tests/e2e/t0700-agents-sdk.sh.
// Prints one JSON object on stdout: {"ok": true, ...} on success; on
// failure {"ok": false, "error_class", "status", "type", "error",
// "request_id", "message"} and exit status 1 (2: usage error).
//
//   node anthropic.mjs COMMAND [--base-url URL] [--key KEY] [OPTIONS]
//
// --base-url (the API root, without /v1: the client adds /v1/messages) and
// --key default to $BASE_URL and $API_KEY.  The client never retries.
//
// Commands:
//   create   messages.create                {id, text, stop_reason, model,
//                                             usage, request_id}
//   stream   messages.create, stream: true  {text, events (types in
//                                             order), usage (message_start's
//                                             with message_delta's
//                                             output_tokens), request_id,
//                                             stopped (message_stop seen)}
//   count    messages.countTokens           {input_tokens, request_id}
//   models   models.list                    {ids}
//   model    models.retrieve --model        {id, display_name}
//
// Options: --model M (default claude-sonnet-4-5-20250929), --prompt TEXT
// (default "say ping"), --max-tokens N (default 64), --beta NAME (the
// anthropic-beta header), --x-api-key (send the key in an x-api-key header,
// as Claude Code does, instead of the client's own Authorization: Bearer),
// --version V (anthropic-version; default the client's own: 2026-10-21 for
// this 1.x client).

import Anthropic from '@anthropic-ai/sdk';
import { parseArgs, run, fail } from './common.mjs';

const PROG = 'anthropic.mjs';
const { command, opts } = parseArgs(PROG, process.argv.slice(2),
  ['--x-api-key']);
const headers = {};
if (opts.beta) headers['anthropic-beta'] = opts.beta;
if (opts.version) headers['anthropic-version'] = opts.version;
if (opts.xApiKey) headers['x-api-key'] = opts.key;
const client = new Anthropic({
  ...(opts.xApiKey ? { apiKey: null, authToken: null } :
    { apiKey: opts.key }),
  baseURL: opts.baseUrl, maxRetries: 0, timeout: 30000,
  defaultHeaders: headers,
});
const model = opts.model ?? 'claude-sonnet-4-5-20250929';
const prompt = opts.prompt ?? 'say ping';
const body = { model, max_tokens: Number(opts.maxTokens ?? 64),
  messages: [{ role: 'user', content: prompt }] };

const commands = {
  async create() {
    const { data, request_id } =
      await client.messages.create(body).withResponse();
    return { id: data.id, model: data.model, stop_reason: data.stop_reason,
      text: data.content.map((c) => c.text ?? '').join(''),
      usage: data.usage, request_id };
  },
  async stream() {
    const { data, request_id } = await client.messages.create({ ...body,
      stream: true }).withResponse();
    const events = [];
    let text = '', usage = null, stopped = false;
    try {
      for await (const ev of data) {
        events.push(ev.type);
        if (ev.type === 'message_start') usage = { ...ev.message.usage };
        if (ev.type === 'content_block_delta' &&
            ev.delta.type === 'text_delta') text += ev.delta.text;
        if (ev.type === 'message_delta' && usage) {
          usage.output_tokens = ev.usage.output_tokens;
        }
        if (ev.type === 'message_stop') stopped = true;
      }
    } catch (err) {
      err.partial = { text, events, usage, request_id };
      throw err;
    }
    return { text, events, usage, request_id, stopped };
  },
  async count() {
    const { data, request_id } = await client.messages.countTokens({
      model, messages: body.messages }).withResponse();
    return { input_tokens: data.input_tokens, request_id };
  },
  async models() {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    return { ids };
  },
  async model() {
    const m = await client.models.retrieve(model);
    return { id: m.id, display_name: m.display_name };
  },
};

if (!commands[command]) fail(PROG, `unknown command ${command}`);
await run(commands[command]);
