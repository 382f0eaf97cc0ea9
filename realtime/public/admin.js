// OrderFlow operator page: product stock updated live from `product.stock`, low-stock warnings from
// `product.low_stock`, and an order export with its progress bar from `export.progress` (admin Socket.IO channel).
// Plain browser JavaScript, no build step. Query parameters: ?token=<admin jwt>, ?api=<API base URL>.
(function () {
  'use strict';

  var page = OrderFlowPage;
  var $ = page.$;
  var say = page.say;
  var api = page.api;
  var errorText = page.errorText;
  var params = new URLSearchParams(location.search);
  var state = { exportId: null, rows: new Map() };

  // --- stock -----------------------------------------------------------------------------------------------------

  function row(sku, name) {
    var existing = state.rows.get(sku);
    if (existing) return existing;
    var tr = document.createElement('tr');
    tr.dataset.sku = sku;
    ['sku', 'name', 'stock', 'last'].forEach(function (role) {
      var td = document.createElement('td');
      td.dataset.role = role;
      if (role === 'stock') td.className = 'num';
      tr.appendChild(td);
    });
    tr.querySelector('[data-role=sku]').textContent = sku;
    tr.querySelector('[data-role=name]').textContent = name || '';
    $('stock').querySelector('tbody').appendChild(tr);
    var option = document.createElement('option');
    option.value = sku;
    option.textContent = sku;
    $('adjust-sku').appendChild(option);
    state.rows.set(sku, tr);
    return tr;
  }

  function setStock(sku, stock) {
    row(sku).querySelector('[data-role=stock]').textContent = String(stock);
  }

  function loadStock() {
    return api('GET', '/products').then(function (res) {
      if (res.status !== 200) throw new Error('cannot load products: ' + errorText(res));
      res.body.forEach(function (p) {
        row(p.sku, p.name);
        setStock(p.sku, p.stock);
      });
    });
  }

  function logEvent(text, kind) {
    var li = document.createElement('li');
    li.className = 'event ' + (kind || '');
    li.textContent = new Date().toLocaleTimeString() + '  ' + text;
    $('events').insertBefore(li, $('events').firstChild);
    while ($('events').children.length > 50) $('events').removeChild($('events').lastChild);
  }

  function onStock(event) {
    var tr = row(event.sku);
    setStock(event.sku, event.stock);
    tr.querySelector('[data-role=last]').textContent =
      event.kind + ' ' + (event.quantity > 0 ? '+' : '') + event.quantity;
    if (event.stock > Number(tr.dataset.threshold || -1)) tr.classList.remove('low');
    logEvent('product.stock ' + event.sku + ' → ' + event.stock + ' (' + event.kind + ')');
  }

  function onLowStock(event) {
    var tr = row(event.sku);
    tr.dataset.threshold = String(event.threshold);
    tr.classList.add('low');
    logEvent('product.low_stock ' + event.sku + ': ' + event.stock + ' ≤ ' + event.threshold, 'warn');
  }

  function adjust(submit) {
    submit.preventDefault();
    var sku = $('adjust-sku').value;
    api('POST', '/products/' + encodeURIComponent(sku) + '/stock-adjustments', {
      delta: Number($('adjust-delta').value),
      reason: $('adjust-reason').value,
    }).then(function (res) {
      if (res.status === 201) say(sku + ' adjusted to ' + res.body.stock + '.', true);
      else say('Adjustment refused: ' + errorText(res));
    });
  }

  // --- export ----------------------------------------------------------------------------------------------------

  function showExport(event) {
    if (event.exportId !== state.exportId) return;
    $('export-progress').value = event.progress;
    $('export-label').textContent =
      event.status + ' · ' + event.rows + ' rows · ' + Math.round(event.progress * 100) + '%';
    $('export-state').dataset.status = event.status;
    $('export-download').hidden = event.status !== 'completed';
    if (event.status !== 'running') $('export').disabled = false;
  }

  function onExportProgress(event) {
    showExport(event);
    logEvent('export.progress ' + event.exportId.slice(0, 8) + ' ' + event.status + ' ' + event.rows + ' rows');
  }

  function startExport() {
    $('export').disabled = true;
    api('POST', '/exports', { format: 'csv', filters: {} }).then(function (res) {
      if (res.status !== 202) {
        $('export').disabled = false;
        say('Export refused: ' + errorText(res));
        return;
      }
      state.exportId = res.body.exportId;
      $('export-state').hidden = false;
      showExport({ exportId: state.exportId, status: 'running', rows: 0, progress: 0 });
      // Events may have passed before we knew the id: read the state once.
      api('GET', '/exports/' + state.exportId).then(function (view) {
        if (view.status === 200) showExport(view.body);
      });
    });
  }

  // The download needs the bearer token, so it is fetched and handed to the browser as a blob.
  function download(click) {
    click.preventDefault();
    fetch(page.session.apiUrl + '/exports/' + state.exportId + '/download', {
      headers: { Authorization: 'Bearer ' + page.session.token },
    })
      .then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.blob();
      })
      .then(function (blob) {
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = 'orders-' + state.exportId + '.csv';
        a.click();
        URL.revokeObjectURL(a.href);
      })
      .catch(function (error) {
        say('Download failed: ' + error.message);
      });
  }

  // --- start -----------------------------------------------------------------------------------------------------

  function connect() {
    var socket = page.connect();
    socket.on('product.stock', onStock);
    socket.on('product.low_stock', onLowStock);
    socket.on('export.progress', onExportProgress);
  }

  function start() {
    $('adjust-form').addEventListener('submit', adjust);
    $('export').addEventListener('click', startExport);
    $('export-download').addEventListener('click', download);
    page
      .loadConfig(params)
      .then(function () {
        return params.get('token') || page.devToken('operator', 'admin', '?token=<admin jwt>');
      })
      .then(function (token) {
        page.session.token = token;
        connect();
        return loadStock();
      })
      .catch(function (error) {
        say(error.message);
      });
  }

  start();
})();
