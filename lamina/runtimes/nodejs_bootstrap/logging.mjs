// Replaces console.* so every line carries the time, request id and level, as
// on AWS: "<ISO time>\t<requestId>\t<LEVEL>\t<message>" in text mode, one JSON
// object per line when AWS_LAMBDA_LOG_FORMAT=JSON. Newlines inside a message
// become "\r" so one console call stays one log record on a line-based stream
// (what the official runtime does when it writes to stdout).

import { format } from 'node:util';
import { intoError, toLogJson } from './errors.mjs';

// Shared through a well-known symbol, as the official runtime does, so tools
// that read the current request id from the global keep working.
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID = Symbol.for('aws.lambda.runtime.tenantId');

export function setRequestContext(requestId, tenantId) {
  globalThis[REQUEST_ID] = requestId;
  globalThis[TENANT_ID] = tenantId;
}

const LEVELS = {
  TRACE: 1,
  DEBUG: 2,
  INFO: 3,
  WARN: 4,
  ERROR: 5,
  FATAL: 6,
};

function textLine(level, args) {
  const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level}\t${format(...args)}`;
  return line.replace(/\n/g, '\r') + '\n';
}

// Errors inside a JSON message are rendered with errorType/errorMessage/stackTrace.
function jsonErrors(_key, value) {
  if (!(value instanceof Error)) return value;
  return Object.assign(
    {
      errorType: value?.constructor?.name ?? 'UnknownError',
      errorMessage: value.message,
      stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
    },
    value,
  );
}

function jsonLine(level, args) {
  const record = {
    timestamp: new Date().toISOString(),
    level,
    requestId: globalThis[REQUEST_ID],
  };
  const tenantId = globalThis[TENANT_ID];
  if (tenantId !== undefined && tenantId !== null) record.tenantId = tenantId;
  let text;
  if (args.length === 1) {
    // A single argument is kept as a value (objects stay objects in the JSON).
    record.message = args[0];
    try {
      text = JSON.stringify(record, jsonErrors);
    } catch {
      record.message = format(args[0]);
      text = JSON.stringify(record);
    }
  } else {
    record.message = format(...args);
    const err = args.find((a) => a instanceof Error);
    if (err) {
      record.errorType = err?.constructor?.name ?? 'UnknownError';
      record.errorMessage = err.message;
      record.stackTrace = typeof err.stack === 'string' ? err.stack.split('\n') : [];
    }
    text = JSON.stringify(record);
  }
  return text.replace(/\n/g, '\r') + '\n';
}

let json = false;

/** Patch console once, before user code loads. Returns nothing; idempotent enough. */
export function patchConsole(env = process.env) {
  json = (env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  const render = json ? jsonLine : textLine;
  const threshold = LEVELS[(env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] ?? LEVELS.TRACE;
  // process.stdout is synchronous for files and pipes on Linux, so a line is
  // written before the runtime posts the result that follows it.
  const emit = (level) => (...args) => void process.stdout.write(render(level, args));
  const nop = () => {};
  const pick = (level) => (LEVELS[level] >= threshold ? emit(level) : nop);
  console.trace = pick('TRACE');
  console.debug = pick('DEBUG');
  console.info = pick('INFO');
  console.log = console.info;
  console.warn = pick('WARN');
  console.error = pick('ERROR');
  console.fatal = emit('FATAL');
}

/** Log a runtime-observed error ("Invoke Error", "Uncaught Exception" ...) like AWS does. */
export function logError(label, error) {
  if (json) {
    console.error(intoError(error));
  } else {
    console.error(label, toLogJson(intoError(error)));
  }
}
