// Errors the runtime raises itself, and how any thrown value becomes the JSON
// body the Runtime API receives. Clients of the official Node.js runtime see
// `{"errorType","errorMessage","trace"}` (note: `trace`, not `stackTrace`), and
// runtime-made errors carry the type name `Runtime.<Class>`.

import { types } from 'node:util';

export class ImportModuleError extends Error {}
export class HandlerNotFound extends Error {}
export class MalformedHandlerName extends Error {}
export class UserCodeSyntaxError extends Error {}
export class CallbackHandlerDeprecated extends Error {}
export class UnmarshalError extends Error {}

export class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most ' +
        'commonly caused by a Promise that was never settled. For more information, see ' +
        'https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}

export class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}

for (const cls of [
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  CallbackHandlerDeprecated,
  UnmarshalError,
  NodeJsExit,
  UnhandledPromiseRejection,
]) {
  // Set on the prototype (not per instance) so `stack` headers read
  // "Runtime.ImportModuleError: ..." exactly like the official runtime's.
  Object.defineProperty(cls.prototype, 'name', {
    value: `Runtime.${cls.name}`,
    writable: true,
    configurable: true,
  });
}

function looksLikeError(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.name === 'string' &&
    typeof value.message === 'string' &&
    typeof value.stack === 'string'
  );
}

// DEL characters would break the header/JSON framing further down; AWS escapes them.
const escapeDel = (s) => (typeof s === 'string' ? s.replaceAll('\x7F', '%7F') : s);

/** The body posted to /error and /init/error for any thrown or passed value. */
export function toRapidResponse(error) {
  try {
    if (types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: escapeDel(error.name),
        errorMessage: escapeDel(error.message),
        trace: escapeDel(error.stack).split('\n'),
      };
    }
    // callback('oops') on AWS answers {"errorType":"string","errorMessage":"oops","trace":[]}.
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

/** Error objects lose name/message/stack in JSON.stringify; expose them like AWS's log lines do. */
function enumerableError(_key, value) {
  if (!(value instanceof Error)) return value;
  const out = Object.assign(
    { errorType: value.name, errorMessage: value.message, code: value.code },
    value,
  );
  if (typeof value.stack === 'string') out.stack = value.stack.split('\n');
  return out;
}

/** Text-log rendering of an error: a tab then JSON (the official runtime's layout). */
export function toLogJson(error) {
  try {
    return '\t' + JSON.stringify(error, enumerableError);
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

export function intoError(value) {
  return value instanceof Error ? value : new Error(value);
}
