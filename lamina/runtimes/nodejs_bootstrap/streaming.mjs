// Response streaming: handlers wrapped with awslambda.streamifyResponse get
// (event, responseStream, context); the response is POSTed chunked with
// `Lambda-Runtime-Function-Response-Mode: streaming`, and a failure after the
// stream started travels as HTTP trailers (error type + base64 JSON body).
// `responseStream` is the real http.ClientRequest, so stream.pipeline works.

import { NodeJsExit, toRapidResponse } from './errors.mjs';
import { logError } from './logging.mjs';

const PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

export class InvalidStreamingOperation extends Error {}
Object.defineProperty(InvalidStreamingOperation.prototype, 'name', {
  value: 'Runtime.InvalidStreamingOperation',
  writable: true,
  configurable: true,
});

/** awslambda.HttpResponseStream: a JSON prelude {statusCode, headers, cookies} then 8 NUL bytes. */
export class HttpResponseStream {
  static from(stream, prelude) {
    stream.setContentType(PRELUDE_CONTENT_TYPE);
    const json = JSON.stringify(prelude);
    stream._onBeforeFirstWrite = (write) => {
      write(json);
      write(new Uint8Array(8));
    };
    return stream;
  }
}

function decorate(req) {
  let started = false;
  const rawWrite = req.write.bind(req);
  const rawEnd = req.end.bind(req);
  const start = () => {
    if (started) return;
    started = true;
    if (typeof req._onBeforeFirstWrite === 'function') req._onBeforeFirstWrite(rawWrite);
  };
  req.setContentType = (contentType) => {
    if (started) throw new InvalidStreamingOperation('Cannot set content-type, too late.');
    req.setHeader('Content-Type', contentType);
  };
  req.write = (chunk, encoding, cb) => {
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) chunk = JSON.stringify(chunk);
    start();
    return rawWrite(chunk, encoding, cb);
  };
  // An HttpResponseStream that is ended without a body still sends its prelude.
  req.end = (...args) => {
    if (!req.writableEnded) start();
    return rawEnd(...args);
  };
  return req;
}

function failStream(req, err) {
  logError('Invoke Error', err);
  if (req.writableEnded) return;
  const body = toRapidResponse(err);
  req.addTrailers({
    'Lambda-Runtime-Function-Error-Type': String(body.errorType),
    'Lambda-Runtime-Function-Error-Body': Buffer.from(JSON.stringify(body)).toString('base64'),
  });
  req.end();
}

/** Run one streaming invoke; resolves once the Runtime API answered the stream. */
export async function runStreaming(runtime, requestId, headers, body) {
  const { req, done } = runtime.client.openStream(requestId, 'application/octet-stream');
  decorate(req);
  let waitForEmptyLoop = true;
  const context = runtime.buildContext(headers, {
    getWait: () => waitForEmptyLoop,
    setWait: (value) => {
      waitForEmptyLoop = value;
    },
  });
  const finish = () => {
    if (waitForEmptyLoop) runtime.setDrain(() => setImmediate(() => runtime.scheduleNext()));
    else {
      runtime.setDrain(() => {});
      runtime.scheduleNext();
    }
  };
  // A handler whose promise never settles: end the stream with an error once the loop drains.
  runtime.setDrain(() => {
    failStream(req, new NodeJsExit());
    done.then(finish, finish);
  });
  try {
    const result = runtime.handler(JSON.parse(body), req, context);
    if (!result || typeof result.then !== 'function') {
      failStream(req, 'Streaming does not support non-async handlers.');
    } else {
      const value = await result;
      if (value !== undefined) console.warn('Streaming handlers ignore return values.');
      if (!req.writableEnded) failStream(req, 'Response stream is not finished.');
    }
  } catch (err) {
    failStream(req, err);
  }
  try {
    await done;
  } catch (err) {
    runtime.failFatally(err, 1);
    return;
  }
  finish();
}
