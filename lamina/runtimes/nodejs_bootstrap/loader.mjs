// Finds and loads the user's handler from a handler string, with the official
// runtime's rules:
//   "dir/file.a.b" -> module "file" under "<task root>/dir/", export path "a.b".
//   Try, in order: the extension-less file (CommonJS), file.js (CommonJS unless
//   the nearest package.json says "type":"module", then ESM), file.mjs (ESM),
//   file.cjs (CommonJS), and finally Node's own resolution from the task root.
// ES modules are loaded with dynamic import(), so top-level await works.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import {
  HandlerNotFound,
  ImportModuleError,
  MalformedHandlerName,
  UserCodeSyntaxError,
} from './errors.mjs';

// require() anchored at this runtime's index.mjs, so a missing module reports
// "Require stack:\n- /var/runtime/index.mjs" as it does on AWS.
const runtimeRequire = createRequire(new URL('./index.mjs', import.meta.url));

const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HIGH_WATER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');

function splitHandler(fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(fullHandler);
  const moduleRoot = fullHandler.slice(0, fullHandler.indexOf(base));
  const dot = base.indexOf('.');
  if (dot < 0) throw new MalformedHandlerName('Bad handler');
  return [moduleRoot, base.slice(0, dot), base.slice(dot + 1)];
}

/** True when the nearest package.json above `dir` declares "type": "module". */
function packageTypeIsModule(dir) {
  for (let folder = dir; ; folder = path.dirname(folder)) {
    if (folder.endsWith('/node_modules')) return false;
    const pj = path.join(folder, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8'))?.type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    if (folder === path.dirname(folder)) return false;
  }
}

const requireIfExists = (file) => (fs.existsSync(file) ? runtimeRequire(file) : undefined);
const importIfExists = async (file) =>
  fs.existsSync(file) ? await import(pathToFileURL(file).href) : undefined;

async function loadModule(appRoot, moduleRoot, moduleName) {
  const base = path.resolve(appRoot, moduleRoot, moduleName);
  const bare = requireIfExists(base);
  if (bare) return bare;
  const esmJs = fs.existsSync(base + '.js') && packageTypeIsModule(path.dirname(base + '.js'));
  if (!esmJs) {
    const cjs = requireIfExists(base + '.js');
    if (cjs) return cjs;
  }
  const loaded =
    (esmJs && (await importIfExists(base + '.js'))) ||
    (await importIfExists(base + '.mjs')) ||
    requireIfExists(base + '.cjs');
  if (loaded) return loaded;
  // Last resort: let Node resolve a bare name (a package in node_modules, NODE_PATH ...).
  return runtimeRequire(runtimeRequire.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

/**
 * Load `fullHandler` relative to `appRoot` and return the handler function.
 * Throws Runtime.MalformedHandlerName, Runtime.ImportModuleError,
 * Runtime.UserCodeSyntaxError or Runtime.HandlerNotFound; any other error
 * thrown by the user's module body propagates unchanged.
 */
export async function loadHandler(appRoot, fullHandler) {
  const [moduleRoot, moduleName, exportPath] = splitHandler(fullHandler);
  let userModule;
  try {
    userModule = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const fn = exportPath.split('.').reduce((obj, key) => obj && obj[key], userModule);
  if (!fn) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

/** What the invoke loop needs to know about a handler's calling convention. */
export function describeHandler(fn) {
  let isAsync = false;
  try {
    isAsync = fn.constructor?.name === 'AsyncFunction';
  } catch {
    isAsync = false;
  }
  const streaming = fn[STREAMING] === 'response';
  const hwm = parseInt(fn[HIGH_WATER_MARK], 10);
  return {
    isAsync,
    streaming,
    highWaterMark: Number.isNaN(hwm) ? undefined : hwm,
    argCount: fn.length,
  };
}

/** Install the `awslambda` global user code may reference at import time. */
export function installAwsLambdaGlobal(HttpResponseStream) {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') return;
  globalThis.awslambda = {
    streamifyResponse(handler, options) {
      handler[STREAMING] = 'response';
      if (typeof options?.highWaterMark === 'number') handler[HIGH_WATER_MARK] = options.highWaterMark;
      return handler;
    },
    HttpResponseStream,
  };
}
