// common.mjs: argument parsing and JSON output shared by the test clients
// responses.mjs and anthropic.mjs.

export function fail(prog, msg) {
  process.stderr.write(`${prog}: ${msg}\n`);
  process.exit(2);
}

// Parses "COMMAND --name value --flag ..." into { command, opts }; the
// names in `flags` take no value.  --base-url and --key default to the
// environment's BASE_URL and API_KEY.
export function parseArgs(prog, argv, flags = []) {
  const opts = {};
  const command = argv[0];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) fail(prog, `unexpected argument ${a}`);
    const name = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (flags.includes(a)) {
      opts[name] = true;
      continue;
    }
    if (i + 1 >= argv.length) fail(prog, `${a} needs a value`);
    opts[name] = argv[++i];
  }
  opts.baseUrl ??= process.env.BASE_URL;
  opts.key ??= process.env.API_KEY;
  if (!command) fail(prog, 'no command');
  if (!opts.baseUrl || !opts.key) {
    fail(prog, '--base-url and --key (or BASE_URL and API_KEY) are required');
  }
  return { command, opts };
}

export function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// What a failed call tells: printed as JSON on stdout, then exit 1.
export function errorInfo(err, extra = {}) {
  return {
    ok: false,
    error_class: err?.constructor?.name ?? typeof err,
    status: err?.status ?? null,
    code: err?.code ?? null,
    type: err?.type ?? err?.error?.error?.type ?? null,
    error: err?.error ?? null,
    request_id: err?.requestID ?? null,
    message: String(err?.message ?? err),
    ...extra,
  };
}

export async function run(main) {
  try {
    out({ ok: true, ...(await main()) });
  } catch (err) {
    out(errorInfo(err, err?.partial ?? {}));
    process.stderr.write(`error: status ${err?.status ?? 'none'}: ${err?.message ?? err}\n`);
    process.exit(1);
  }
}
