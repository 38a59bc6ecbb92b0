// `flux-mock run` loads this into a Node app (NODE_OPTIONS=--require) so that the app's calls to the gateway's
// hosts reach the mock with no change to the app: Node's built-in fetch (Node 20) and its `https` module ignore
// HTTPS_PROXY. A call to https://<gateway host>/... goes to FLUX_MOCK_URL instead, saying the host and scheme it
// was meant for (X-Forwarded-Host, X-Forwarded-Proto: the mock writes its links with them, so polls and media
// downloads come back the same way). Every other call is left as it is.
'use strict';

const MOCK = process.env.FLUX_MOCK_URL;
const HOSTS = new Set((process.env.FLUX_MOCK_GATEWAY_HOSTS || '').split(',').filter(Boolean));

function forwarded(host) {
  return { 'x-forwarded-host': host, 'x-forwarded-proto': 'https' };
}

function installFetch(mock) {
  const original = globalThis.fetch;
  if (typeof original !== 'function') return;
  globalThis.fetch = function fetch(input, init) {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.protocol !== 'https:' || !HOSTS.has(url.hostname)) return original(input, init);
    const headers = new Headers(request.headers);
    for (const [name, value] of Object.entries(forwarded(url.host))) headers.set(name, value);
    return original(new URL(url.pathname + url.search, mock), {
      method: request.method, headers, body: request.body, redirect: request.redirect, signal: request.signal,
      duplex: 'half',
    });
  };
}

function target(args) {
  // https.request(url[, options][, callback]) or https.request(options[, callback])
  const [first, second] = args;
  if (typeof first === 'string' || first instanceof URL) {
    const url = new URL(first);
    const options = second && typeof second === 'object' ? second : {};
    return { url, options, callback: args.find((arg) => typeof arg === 'function') };
  }
  const options = first || {};
  const host = options.hostname || (options.host || 'localhost').replace(/:\d+$/, '');
  const url = new URL(`https://${host}${options.port ? ':' + options.port : ''}${options.path || '/'}`);
  return { url, options, callback: args.find((arg) => typeof arg === 'function') };
}

function installHttps(mock) {
  const http = require('http');
  const https = require('https');
  for (const name of ['request', 'get']) {
    const original = https[name];
    https[name] = function (...args) {
      const { url, options, callback } = target(args);
      if (!HOSTS.has(url.hostname)) return original.apply(this, args);
      const headers = { ...(options.headers || {}), ...forwarded(url.host) };
      for (const key of Object.keys(headers)) if (key.toLowerCase() === 'host') delete headers[key];
      const sent = {
        method: options.method || 'GET', headers, protocol: 'http:', hostname: mock.hostname,
        port: mock.port, path: url.pathname + url.search, timeout: options.timeout, signal: options.signal,
      };
      return http[name](sent, callback);
    };
  }
}

if (MOCK && HOSTS.size) {
  const mock = new URL(MOCK);
  installFetch(mock);
  installHttps(mock);
}
