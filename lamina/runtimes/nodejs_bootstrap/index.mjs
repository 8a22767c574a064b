// Lamina's Node.js runtime bootstrap, shown inside the sandbox at
// /var/runtime/index.mjs and started as `node /var/runtime/index.mjs`.
//
// Reads: AWS_LAMBDA_RUNTIME_API (host:port), _HANDLER, LAMBDA_TASK_ROOT
// (default /var/task), AWS_EXECUTION_ENV (AWS_Lambda_nodejsNN.x: selects the
// Node 24 rules), AWS_LAMBDA_LOG_FORMAT / AWS_LAMBDA_LOG_LEVEL.
// Init failure: logs it, POSTs /runtime/init/error, exits 129 (128 for an
// unhandled rejection). Any uncaught error after init: POSTs it as the
// current invoke's error and exits, so the platform starts a fresh environment.
// No npm dependencies: node: built-ins only.

import { CallbackHandlerDeprecated, UnhandledPromiseRejection, toRapidResponse } from './errors.mjs';
import { describeHandler, installAwsLambdaGlobal, loadHandler } from './loader.mjs';
import { logError, patchConsole } from './logging.mjs';
import { Runtime } from './invoke.mjs';
import { RuntimeApiClient } from './rapid.mjs';
import { HttpResponseStream } from './streaming.mjs';

const CALLBACK_REMOVED =
  'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. ' +
  'You need to modify this function to use a supported handler signature to use Node.js 24 or later. ' +
  'For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';
const CALLBACK_WARNING =
  'WARN: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. ' +
  'You will need to modify this function to use a supported handler signature when upgrading to Node.js 24 or later. ' +
  'To disable this warning, set the AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING environment variable. ' +
  'For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';

patchConsole();
const client = new RuntimeApiClient(process.env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001');
let runtime; // set once init succeeded

function initFailed(error, exitCode) {
  client
    .postInitError(toRapidResponse(error))
    .catch(() => {})
    .finally(() => process.exit(exitCode));
}

process.on('uncaughtException', (error) => {
  logError('Uncaught Exception', error);
  if (runtime) runtime.failFatally(error, 129);
  else initFailed(error, 129);
});

process.on('unhandledRejection', (reason, promise) => {
  const error = new UnhandledPromiseRejection(reason, promise);
  logError('Unhandled Promise Rejection', error);
  if (runtime) runtime.failFatally(error, 128);
  else initFailed(error, 128);
});

const nodeMajor = Number(/nodejs(\d+)/.exec(process.env.AWS_EXECUTION_ENV ?? '')?.[1] ?? 0);
const legacyCallbacks = nodeMajor < 24;

async function init() {
  installAwsLambdaGlobal(HttpResponseStream);
  let handler;
  try {
    handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || '/var/task', process.env._HANDLER ?? '');
  } catch (error) {
    logError('Uncaught Exception', error);
    return initFailed(error, 129);
  }
  const meta = describeHandler(handler);
  // AWS calls a handler callback-style when it takes 3+ parameters and is not async.
  if (!meta.streaming && !meta.isAsync && meta.argCount >= 3) {
    if (!legacyCallbacks) {
      const error = new CallbackHandlerDeprecated(CALLBACK_REMOVED);
      logError('Init Error', error);
      return initFailed(error, 129);
    }
    if (process.env.AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING === undefined) {
      console.warn(CALLBACK_WARNING);
    }
  }
  runtime = new Runtime(client, handler, { ...meta, legacyCallbacks });
  runtime.scheduleNext();
}

await init();
