// Runtime API client (2018-06-01) over node:http with one keep-alive socket.
// Idle keep-alive sockets are unref'd by the agent, so they never keep the
// event loop alive; that matters for callbackWaitsForEmptyEventLoop.

import http from 'node:http';

const PREFIX = '/2018-06-01/runtime';
const ERROR_TYPE = 'Lambda-Runtime-Function-Error-Type';

export class RuntimeApiClient {
  constructor(hostPort) {
    const i = hostPort.lastIndexOf(':');
    this.hostname = hostPort.slice(0, i);
    this.port = Number(hostPort.slice(i + 1));
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /** Long-poll for the next event: resolves to {body: string, headers: lower-cased}. */
  async next() {
    const res = await this._request('GET', `${PREFIX}/invocation/next`);
    if (res.status !== 200) {
      throw new Error(`Runtime API /next answered ${res.status}: ${res.body}`);
    }
    return res;
  }

  postResponse(requestId, body) {
    return this._request(
      'POST',
      `${PREFIX}/invocation/${encodeURIComponent(requestId)}/response`,
      body,
      { 'Content-Type': 'application/json' },
    );
  }

  postError(requestId, errorBody) {
    return this._request(
      'POST',
      `${PREFIX}/invocation/${encodeURIComponent(requestId)}/error`,
      JSON.stringify(errorBody),
      { 'Content-Type': 'application/json', [ERROR_TYPE]: headerSafe(errorBody.errorType) },
    );
  }

  postInitError(errorBody) {
    return this._request('POST', `${PREFIX}/init/error`, JSON.stringify(errorBody), {
      'Content-Type': 'application/json',
      [ERROR_TYPE]: headerSafe(errorBody.errorType),
    });
  }

  /** Start a chunked streaming response; returns the ClientRequest and a promise of the answer. */
  openStream(requestId, contentType) {
    let req;
    const done = new Promise((resolve, reject) => {
      req = http.request(
        {
          agent: this.agent,
          hostname: this.hostname,
          port: this.port,
          method: 'POST',
          path: `${PREFIX}/invocation/${encodeURIComponent(requestId)}/response`,
          headers: {
            'Content-Type': contentType,
            'Lambda-Runtime-Function-Response-Mode': 'streaming',
            'Transfer-Encoding': 'chunked',
            Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
          },
        },
        (res) => collect(res, resolve, reject),
      );
      req.on('error', reject);
    });
    return { req, done };
  }

  _request(method, path, body, headers = {}) {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(body, 'utf8');
      if (data) headers['Content-Length'] = data.length;
      const req = http.request(
        { agent: this.agent, hostname: this.hostname, port: this.port, method, path, headers },
        (res) => collect(res, resolve, reject),
      );
      req.on('error', reject);
      req.end(data);
    });
  }
}

function collect(res, resolve, reject) {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('error', reject);
  res.on('end', () =>
    resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
  );
}

// Header values must be latin-1 without control characters; error names are user data.
function headerSafe(value) {
  return String(value ?? 'Unknown').replace(/[^\x20-\x7E]/g, '?') || 'Unknown';
}
