// OrderFlow live demo: catalog and orders over the HTTP API, status timelines over the realtime relay (Socket.IO).
// Plain browser JavaScript, no build step. Query parameters: ?customer=<id>, ?token=<jwt>, ?api=<API base URL>.
(function () {
  'use strict';

  var TERMINAL = ['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED'];
  var NOT_CANCELLABLE = ['COMPLETED', 'REJECTED', 'FAILED', 'CANCELLED'];
  var page = OrderFlowPage;
  var $ = page.$;
  var say = page.say;
  var api = page.api;
  var params = new URLSearchParams(location.search);

  var state = { customer: '', socket: null, orders: new Map(), products: [] };

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    return 'k-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2);
  }

  function money(cents) {
    return (Number(cents) / 100).toFixed(2);
  }

  // --- catalog ---------------------------------------------------------------------------------------------------

  function loadCatalog() {
    return api('GET', '/products')
      .then(function (res) {
        if (res.status !== 200) throw new Error((res.body && res.body.message) || 'HTTP ' + res.status);
        state.products = res.body;
        renderCatalog();
      })
      .catch(function (error) {
        say('Cannot load the catalog from ' + page.session.apiUrl + ': ' + error.message);
      });
  }

  function renderCatalog() {
    var tbody = $('catalog').querySelector('tbody');
    var select = $('sku');
    var chosen = select.value;
    tbody.textContent = '';
    select.textContent = '';
    state.products.forEach(function (p) {
      var tr = document.createElement('tr');
      tr.dataset.sku = p.sku;
      [p.sku, p.name, money(p.priceCents), String(p.stock)].forEach(function (text, i) {
        var td = document.createElement('td');
        td.textContent = text;
        if (i >= 2) td.className = 'num';
        if (i === 3) td.dataset.stock = p.sku;
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
      var option = document.createElement('option');
      option.value = p.sku;
      option.textContent = p.sku + ' — ' + p.name + ' (' + p.stock + ' left)';
      select.appendChild(option);
    });
    if (chosen) select.value = chosen;
  }

  var catalogTimer = null;
  function refreshCatalogSoon() {
    clearTimeout(catalogTimer);
    catalogTimer = setTimeout(loadCatalog, 200);
  }

  // --- orders ----------------------------------------------------------------------------------------------------

  function order(orderId) {
    var existing = state.orders.get(orderId);
    if (existing) return existing;
    var li = document.createElement('li');
    li.className = 'order';
    li.dataset.orderId = orderId;
    li.innerHTML =
      '<div class="order-head"><span class="status" data-role="status">…</span>' +
      '<span class="order-id"></span><span class="total"></span>' +
      '<button type="button" class="cancel" data-role="cancel">Cancel</button></div>' +
      '<ol class="timeline" data-role="timeline"></ol>';
    li.querySelector('.order-id').textContent = orderId;
    li.querySelector('[data-role=cancel]').addEventListener('click', function () {
      cancelOrder(orderId);
    });
    $('orders').insertBefore(li, $('orders').firstChild);
    var entry = { orderId: orderId, el: li, events: new Map(), status: null };
    state.orders.set(orderId, entry);
    return entry;
  }

  // Highest seq held without a gap from 1: what a (re)subscribe asks to continue from.
  function contiguousSeq(entry) {
    var seq = 0;
    while (entry.events.has(seq + 1)) seq += 1;
    return seq;
  }

  function addEvent(event) {
    var entry = order(event.orderId);
    if (entry.events.has(event.seq)) return; // at-least-once delivery: drop duplicates by seq
    entry.events.set(event.seq, event);
    renderOrder(entry);
    if (['RESERVED', 'FAILED', 'CANCELLED', 'REJECTED'].indexOf(event.status) >= 0) refreshCatalogSoon();
  }

  function renderOrder(entry) {
    var events = Array.from(entry.events.values()).sort(function (a, b) {
      return a.seq - b.seq;
    });
    var last = events[events.length - 1];
    entry.status = last ? last.status : entry.status;
    var badge = entry.el.querySelector('[data-role=status]');
    badge.textContent = entry.status || '…';
    badge.className = 'status status-' + (entry.status || 'NONE');
    entry.el.dataset.status = entry.status || '';
    var timeline = entry.el.querySelector('[data-role=timeline]');
    timeline.textContent = '';
    events.forEach(function (e) {
      var li = document.createElement('li');
      li.dataset.seq = String(e.seq);
      li.dataset.status = e.status;
      var status = document.createElement('span');
      status.className = 'event-status';
      status.textContent = e.status;
      li.appendChild(status);
      var time = document.createElement('time');
      time.dateTime = e.at;
      time.textContent = new Date(e.at).toLocaleTimeString();
      li.appendChild(time);
      timeline.appendChild(li);
    });
    entry.el.querySelector('[data-role=cancel]').disabled = NOT_CANCELLABLE.indexOf(entry.status) >= 0;
  }

  function subscribe(orderId) {
    if (!state.socket || !state.socket.connected) return; // the connect handler subscribes every known order
    var entry = order(orderId);
    state.socket.emit('subscribe', { orderId: orderId, lastSeq: contiguousSeq(entry) }, function (ack) {
      if (!ack || !ack.ok) say('Cannot follow order ' + orderId + ': ' + (ack ? ack.error : 'no answer'));
    });
  }

  function placeOrder(submit) {
    submit.preventDefault();
    var button = $('place-order');
    button.disabled = true;
    var body = {
      items: [{ sku: $('sku').value, quantity: Number($('quantity').value) }],
      payment: { token: $('payment-token').value },
    };
    api('POST', '/orders', body, { 'Idempotency-Key': newKey() })
      .then(function (res) {
        if (res.status === 201) {
          say('Order ' + res.body.orderId + ' placed (' + res.body.status + ').', true);
          var entry = order(res.body.orderId);
          entry.el.querySelector('.total').textContent = money(res.body.totalCents);
          subscribe(res.body.orderId);
          refreshCatalogSoon();
        } else {
          say('Order refused: ' + page.errorText(res));
          if (res.body && res.body.orderId) subscribe(res.body.orderId);
        }
      })
      .catch(function (error) {
        say('Cannot reach the API at ' + page.session.apiUrl + ': ' + error.message);
      })
      .finally(function () {
        button.disabled = false;
      });
  }

  function cancelOrder(orderId) {
    api('POST', '/orders/' + encodeURIComponent(orderId) + '/cancel')
      .then(function (res) {
        if (res.status === 202) say('Cancel requested for ' + orderId + '.', true);
        else say('Cannot cancel: ' + page.errorText(res));
      })
      .catch(function (error) {
        say('Cannot reach the API: ' + error.message);
      });
  }

  function loadOrders() {
    return api('GET', '/orders?limit=20').then(function (res) {
      if (res.status !== 200 || !res.body || !Array.isArray(res.body.orders)) return;
      res.body.orders
        .slice()
        .reverse()
        .forEach(function (o) {
          var entry = order(o.orderId);
          if (o.totalCents !== undefined) entry.el.querySelector('.total').textContent = money(o.totalCents);
          subscribe(o.orderId);
        });
    });
  }

  // --- start -----------------------------------------------------------------------------------------------------

  function connect() {
    var socket = page.connect();
    state.socket = socket;
    socket.on('connect', function () {
      state.orders.forEach(function (entry) {
        if (TERMINAL.indexOf(entry.status) < 0 || contiguousSeq(entry) < entry.events.size) subscribe(entry.orderId);
      });
    });
    socket.on('disconnect', function (reason) {
      if (reason === 'io server disconnect') socket.connect();
    });
    socket.on('order.status', addEvent);
  }

  function start() {
    $('order-form').addEventListener('submit', placeOrder);
    $('switch-customer').addEventListener('click', function () {
      var next = new URL(location.href);
      next.searchParams.set('customer', $('customer').value.trim());
      next.searchParams.delete('token');
      location.href = next.toString();
    });
    page
      .loadConfig(params)
      .then(function () {
        state.customer =
          params.get('customer') ||
          localStorage.getItem('orderflow.customer') ||
          'demo-' + Math.random().toString(36).slice(2, 8);
        localStorage.setItem('orderflow.customer', state.customer);
        $('customer').value = state.customer;
        return params.get('token') || page.devToken(state.customer, 'customer', '?token=<jwt>');
      })
      .then(function (token) {
        page.session.token = token;
        connect();
        return Promise.all([loadCatalog(), loadOrders()]);
      })
      .catch(function (error) {
        say(error.message);
      });
  }

  start();
})();
