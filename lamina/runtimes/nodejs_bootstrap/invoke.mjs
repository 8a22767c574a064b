// The invoke loop: wait for /next, call the handler, answer exactly once, repeat.
//
// How an invoke ends, as on AWS:
// - promise returned (async handler): answer as soon as it settles;
// - callback(err, result) / context.succeed|fail|done: answer; with
//   callbackWaitsForEmptyEventLoop (default true) a successful callback waits
//   until the event loop has drained ('beforeExit') before answering;
// - nothing ever called: when the loop drains, a non-async handler answers
//   null and an async one fails with Runtime.NodeJsExit.
// Only the first answer counts. The next /next is requested only after the
// answer was posted, so a pending /next never keeps the loop busy during an invoke.

import { NodeJsExit, UnmarshalError, toRapidResponse } from './errors.mjs';
import { logError, setRequestContext } from './logging.mjs';
import { runStreaming } from './streaming.mjs';

// The single 'beforeExit' action of the current invoke (replaced, never stacked).
let onDrain = () => {};
process.on('beforeExit', () => onDrain());

function parseJson(text, name) {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function serialize(result) {
  try {
    return JSON.stringify(result === undefined ? null : result);
  } catch {
    throw new Error('Unable to stringify response body');
  }
}

export class Runtime {
  /**
   * @param client RuntimeApiClient
   * @param handler the user's function
   * @param meta describeHandler(handler) plus {legacyCallbacks: bool}
   */
  constructor(client, handler, meta) {
    this.client = client;
    this.handler = handler;
    this.meta = meta;
    this.requestId = undefined; // the invoke that uncaught errors are charged to
  }

  scheduleNext() {
    setImmediate(() =>
      this.invokeOnce().catch((err) => {
        // Only the Runtime API client can fail here; the environment is unusable.
        process.stderr.write(`lamina nodejs runtime: ${err?.stack ?? err}\n`);
        process.exit(1);
      }),
    );
  }

  /** Replace the action run when the event loop drains ('beforeExit'). */
  setDrain(fn) {
    onDrain = fn;
  }

  /** Uncaught exception or unhandled rejection after init: report it and die, as AWS does. */
  failFatally(error, exitCode) {
    const id = this.requestId;
    const post = id ? this.client.postError(id, toRapidResponse(error)) : Promise.resolve();
    post.catch(() => {}).finally(() => process.exit(exitCode));
  }

  async invokeOnce() {
    const { body, headers } = await this.client.next();
    const requestId = headers['lambda-runtime-aws-request-id'];
    this.requestId = requestId;
    setRequestContext(requestId, headers['lambda-runtime-aws-tenant-id']);
    if (headers['lambda-runtime-trace-id']) {
      process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
    } else {
      delete process.env._X_AMZN_TRACE_ID;
    }
    if (this.meta.streaming) return runStreaming(this, requestId, headers, body);

    let answered = false;
    const answer = (err, result) => {
      if (answered) {
        console.error(
          'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
        );
        return;
      }
      answered = true;
      onDrain = () => {};
      let post;
      if (err !== undefined && err !== null) {
        logError('Invoke Error', err);
        post = this.client.postError(requestId, toRapidResponse(err));
      } else {
        let text;
        try {
          text = serialize(result);
        } catch (serr) {
          logError('Invoke Error', serr);
          post = this.client.postError(requestId, toRapidResponse(serr));
        }
        post ??= this.client.postResponse(requestId, text);
      }
      post.then(
        () => this.scheduleNext(),
        (perr) => this.failFatally(perr, 1),
      );
    };

    // callback, succeed, fail and done share one "first call wins" latch.
    let called = false;
    const once = (fn) => (...args) => {
      if (called) return;
      called = true;
      fn(...args);
    };
    let waitForEmptyLoop = true;
    const callback = once((err, result) => {
      if ((err !== undefined && err !== null) || !waitForEmptyLoop) return answer(err, result);
      onDrain = () => setImmediate(() => answer(null, result));
    });
    const done = once((err, result) => answer(err, result));

    let context;
    let event;
    try {
      context = this.buildContext(headers, {
        getWait: () => waitForEmptyLoop,
        setWait: (value) => {
          waitForEmptyLoop = value;
        },
        succeed: (result) => done(null, result),
        fail: (err) => done(err === undefined || err === null ? 'handled' : err, null),
        done,
      });
      try {
        event = JSON.parse(body);
      } catch (perr) {
        throw new UnmarshalError(`Unable to parse the event as JSON: ${perr.message}`);
      }
    } catch (err) {
      return done(err);
    }

    // If nothing answers before the loop drains.
    onDrain = () => {
      if (this.meta.isAsync) answer(new NodeJsExit());
      else answer(null, null);
    };

    try {
      const result = this.handler(event, context, callback);
      if (result && typeof result.then === 'function') {
        result.then((value) => done(null, value), (err) => done(err ?? 'handled'));
      } else if (!this.meta.legacyCallbacks && result !== undefined) {
        // nodejs24.x has no callback; a synchronous handler's return value is
        // its result (unverified against AWS, which documents async handlers).
        done(null, result);
      }
    } catch (err) {
      callback(err);
    }
  }

  /** The camelCase context object AWS hands to Node.js handlers. */
  buildContext(headers, cb) {
    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    const env = process.env;
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return cb.getWait();
      },
      set callbackWaitsForEmptyEventLoop(value) {
        cb.setWait(value);
      },
    };
    // nodejs24.x removed the legacy completion methods together with callback handlers.
    if (this.meta.legacyCallbacks) {
      Object.assign(context, { succeed: cb.succeed, fail: cb.fail, done: cb.done });
    }
    return Object.assign(context, {
      functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: parseJson(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJson(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: headers['lambda-runtime-aws-request-id'],
      tenantId: headers['lambda-runtime-aws-tenant-id'],
      getRemainingTimeInMillis: () => deadline - Date.now(),
    });
  }
}
