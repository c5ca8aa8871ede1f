// client.mjs: drives the gateway with the official OpenAI Node client, for
// tests/e2e/t0300-openai-sdk.sh.  Prints one JSON object on stdout.
//
//   node client.mjs COMMAND --base-url URL --key KEY [OPTIONS]
//
// Commands:
//   chat        chat.completions.create, not streamed
//               {"content", "model", "usage", "request_id"}
//   stream      chat.completions.create with stream: true
//               {"content", "chunks", "times_ms", "first_ms", "total_ms",
//                "usage_chunks", "usage", "request_id"}
//               times_ms: when each chunk arrived, in ms after the request
//               was started; total_ms: when the stream ended.  A chunk with
//               empty choices and a usage object counts as a usage chunk.
//   embeddings  embeddings.create with the client's default encoding
//               {"count", "embedding", "model", "usage", "request_id"}
//   models      models.list, every page
//               {"ids"}
//   error       chat.completions.create that is expected to fail
//               {"error_class", "is_expected", "status", "code", "type"}
//
// Options:
//   --model M          default gpt-4o-mini (text-embedding-3-small for
//                      embeddings)
//   --prompt TEXT      default "Say hello"
//   --include-usage    stream: send stream_options.include_usage = true
//   --warm-up          stream: list the models first, so that the timings
//                      leave out the client's own start-up (loading its HTTP
//                      stack, connecting)
//   --expect CLASS     error: exit 0 only if the error is an instance of
//                      this client error class (AuthenticationError, ...)
//
// Exit status: 0 on success, 1 when the call failed (or, for error, did not
// fail as expected), 2 on a usage error.

import OpenAI from 'openai';

function usage(msg) {
  process.stderr.write(`client.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { includeUsage: false, warmUp: false };
  const command = argv[0];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--base-url': opts.baseURL = value(); break;
      case '--key': opts.key = value(); break;
      case '--model': opts.model = value(); break;
      case '--prompt': opts.prompt = value(); break;
      case '--expect': opts.expect = value(); break;
      case '--include-usage': opts.includeUsage = true; break;
      case '--warm-up': opts.warmUp = true; break;
      default: usage(`unknown option ${a}`);
    }
  }
  if (!command) usage('no command');
  if (!opts.baseURL || !opts.key) usage('--base-url and --key are required');
  return { command, opts };
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function errorInfo(err) {
  return {
    error_class: err?.constructor?.name ?? typeof err,
    status: err?.status ?? null,
    code: err?.code ?? null,
    type: err?.type ?? null,
    message: String(err?.message ?? err),
  };
}

const { command, opts } = parseArgs(process.argv.slice(2));
const client = new OpenAI({
  baseURL: opts.baseURL,
  apiKey: opts.key,
  organization: null,
  project: null,
  maxRetries: 0,
  timeout: 30000,
});
const prompt = opts.prompt ?? 'Say hello';
const messages = [{ role: 'user', content: prompt }];

async function chat() {
  const { data, response } = await client.chat.completions
    .create({ model: opts.model ?? 'gpt-4o-mini', messages })
    .withResponse();
  out({
    content: data.choices[0]?.message?.content ?? null,
    model: data.model,
    usage: data.usage ?? null,
    request_id: response.headers.get('x-aigw-request-id'),
  });
}

async function stream() {
  const params = { model: opts.model ?? 'gpt-4o-mini', messages, stream: true };
  if (opts.includeUsage) params.stream_options = { include_usage: true };
  if (opts.warmUp) await client.models.list();
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 10) / 10;
  const { data, response } = await client.chat.completions.create(params).withResponse();
  const headersMs = ms();
  const times = [];
  let content = '';
  let usageChunks = 0;
  let usageSeen = null;
  for await (const chunk of data) {
    times.push(ms());
    for (const c of chunk.choices ?? []) content += c.delta?.content ?? '';
    if (chunk.usage) {
      usageSeen = chunk.usage;
      if (Array.isArray(chunk.choices) && chunk.choices.length === 0) usageChunks++;
    }
  }
  out({
    content,
    chunks: times.length,
    times_ms: times,
    headers_ms: headersMs,
    first_ms: times.length ? times[0] : null,
    total_ms: ms(),
    usage_chunks: usageChunks,
    usage: usageSeen,
    request_id: response.headers.get('x-aigw-request-id'),
  });
}

async function embeddings() {
  // No encoding_format: the client asks for base64 and decodes it.
  const { data, response } = await client.embeddings
    .create({ model: opts.model ?? 'text-embedding-3-small', input: prompt })
    .withResponse();
  out({
    count: data.data.length,
    embedding: data.data[0]?.embedding ?? null,
    model: data.model,
    usage: data.usage ?? null,
    request_id: response.headers.get('x-aigw-request-id'),
  });
}

async function models() {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  out({ ids });
}

async function error() {
  try {
    await client.chat.completions.create({ model: opts.model ?? 'gpt-4o-mini', messages });
  } catch (err) {
    const info = errorInfo(err);
    let expected = true;
    if (opts.expect) {
      const cls = OpenAI[opts.expect];
      if (typeof cls !== 'function') usage(`no error class ${opts.expect}`);
      expected = err instanceof cls;
    }
    out({ ...info, is_expected: expected });
    process.exit(expected ? 0 : 1);
  }
  out({ error_class: null, is_expected: false });
  process.exit(1);
}

const commands = { chat, stream, embeddings, models, error };
if (!commands[command]) usage(`unknown command ${command}`);
try {
  await commands[command]();
} catch (err) {
  out({ error: errorInfo(err) });
  process.exit(1);
}
