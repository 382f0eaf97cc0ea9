// What the demo page (app.js) and the operator page (admin.js) share: element lookup, the status line, calls to the
// API with the page's token, the relay's /config.json and dev tokens, and the connection pill of the Socket.IO client.
// Plain browser JavaScript, no build step; it defines one global, `OrderFlowPage`, loaded before the page's script.
// eslint-disable-next-line no-unused-vars
var OrderFlowPage = (function () {
  'use strict';

  var $ = function (id) {
    return document.getElementById(id);
  };
  // Where the API is and which token the page sends; set by `loadConfig` and the page.
  var session = { apiUrl: '', token: '' };

  function say(text, ok) {
    var el = $('message');
    el.textContent = text || '';
    el.className = ok ? 'message ok' : 'message';
  }

  // Calls the API; resolves with { status, body } (body: parsed JSON, or { error: 'bad_response' } for anything else).
  function api(method, path, body, headers) {
    var init = { method: method, headers: Object.assign({ Authorization: 'Bearer ' + session.token }, headers || {}) };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(session.apiUrl + path, init).then(function (response) {
      return response.text().then(function (text) {
        var parsed = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch (e) {
          parsed = { error: 'bad_response', message: text };
        }
        return { status: response.status, body: parsed };
      });
    });
  }

  // What an API error says: its message, else its code, else the status.
  function errorText(res) {
    return (res.body && (res.body.message || res.body.error)) || 'HTTP ' + res.status;
  }

  // ?api=<base URL> may point the page at another API on this machine (tests, a second local stack), never at
  // another host: that host would receive the page's token. Anything else is ignored, with a message.
  function apiOverride(raw) {
    if (!raw) return undefined;
    var url;
    try {
      url = new URL(raw);
    } catch (error) {
      url = undefined;
    }
    var hosts = ['localhost', '127.0.0.1', '[::1]', location.hostname];
    if (url && /^https?:$/.test(url.protocol) && hosts.indexOf(url.hostname) >= 0) return url.origin + url.pathname;
    say('?api= ignored: only an API on this host may receive your token', false);
    return undefined;
  }

  // Reads /config.json: the API's URL (?api=<base URL> on this host overrides it), shown in the footer with the
  // relay's.
  function loadConfig(params) {
    return fetch('/config.json')
      .then(function (res) {
        return res.json();
      })
      .then(function (config) {
        session.apiUrl = (apiOverride(params.get('api')) || config.apiUrl).replace(/\/+$/, '');
        $('api-url').textContent = session.apiUrl;
        $('relay-url').textContent = location.origin;
        return config;
      });
  }

  // A development token from the relay (outside production only); `hint` says what to pass instead.
  function devToken(customer, role, hint) {
    var query = '?customer=' + encodeURIComponent(customer) + (role === 'admin' ? '&role=admin' : '');
    return fetch('/dev-token' + query).then(function (res) {
      if (res.status === 400) {
        // The customer id itself was refused (e.g. a space in it): say why, from the relay's error body.
        return res.json().then(function (body) {
          throw new Error('customer id refused: ' + (body.message || body.error) + '; pass ' + hint);
        });
      }
      if (!res.ok) throw new Error('no dev token (production relay): pass ' + hint);
      return res.json().then(function (body) {
        return body.token;
      });
    });
  }

  // Connects to the relay with the session's token; the pill shows live, reconnecting, token refused or offline.
  function connect() {
    var socket = io({ auth: { token: session.token } });
    var pill = function (text, on) {
      $('connection').textContent = text;
      $('connection').className = on ? 'pill pill-on' : 'pill pill-off';
    };
    socket.on('connect', function () {
      pill('live', true);
    });
    socket.on('disconnect', function () {
      pill('reconnecting…', false);
    });
    socket.on('connect_error', function (error) {
      pill(error.message === 'unauthorized' ? 'token refused' : 'offline', false);
    });
    return socket;
  }

  return {
    $: $,
    session: session,
    say: say,
    api: api,
    errorText: errorText,
    loadConfig: loadConfig,
    devToken: devToken,
    connect: connect,
  };
})();
