// The live page's script. The page works without it: the server renders
// every section and the form posts normally. With it, the sections are
// replaced as the server sends them (server-sent events), the form places
// orders without leaving the page, and an order page refreshes until the
// order is terminal on every engine.
(function () {
  'use strict';

  var page = document.body.getAttribute('data-page');

  function setLive(state) {
    var dot = document.getElementById('live');
    if (dot) {
      dot.className = 'dot ' + state;
      dot.title = state === 'on' ? 'live updates' : 'reconnecting…';
    }
  }

  // Each event carries the rendered sections, by element ID.
  function listen() {
    if (!window.EventSource) {
      return;
    }
    var es = new EventSource('/events');
    es.addEventListener('snapshot', function (e) {
      var parts = JSON.parse(e.data);
      Object.keys(parts).forEach(function (id) {
        var el = document.getElementById(id);
        if (el) {
          el.innerHTML = parts[id];
        }
      });
      setLive('on');
    });
    es.addEventListener('error', function () { setLive('off'); });
  }

  function message(text, isError, orderID) {
    var msg = document.getElementById('form-msg');
    msg.className = 'form-msg' + (isError ? ' error' : '');
    msg.textContent = '';
    if (orderID) {
      var a = document.createElement('a');
      a.href = '/orders/' + encodeURIComponent(orderID);
      a.textContent = orderID;
      msg.append('Order ', a, ' placed on both engines.');
      return;
    }
    msg.textContent = text;
  }

  // The form posts with fetch and stays on the page; the new order shows up
  // in the latest orders with the next update.
  function enhanceForm() {
    var form = document.getElementById('place');
    if (!form || !window.fetch) {
      return;
    }
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      var btn = e.submitter;
      if (btn && btn.name) {
        body.append(btn.name, btn.value);
      }
      var buttons = form.querySelectorAll('button');
      buttons.forEach(function (b) { b.disabled = true; });
      message('Placing…', false);
      fetch(form.action, {
        method: 'POST',
        headers: { 'Accept': 'application/json' },
        body: body
      }).then(function (r) {
        return r.json().then(function (j) { return { ok: r.ok, j: j }; });
      }).then(function (res) {
        if (res.ok) {
          message('', false, res.j.order_id);
        } else {
          message(res.j.error || 'The order was not placed.', true);
        }
      }).catch(function (err) {
        message('The order was not placed: ' + err, true);
      }).finally(function () {
        buttons.forEach(function (b) { b.disabled = false; });
      });
    });
  }

  // An order page reloads its timelines a second after each answer until
  // the order is terminal everywhere.
  function followOrder() {
    var el = document.getElementById('order');
    if (!el || el.getAttribute('data-terminal') !== 'false') {
      return;
    }
    function again() { setTimeout(refresh, 1000); }
    function refresh() {
      fetch(location.pathname + '?part=body', { headers: { 'Accept': 'text/html' } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var cur = document.getElementById('order');
          var tmp = document.createElement('div');
          tmp.innerHTML = html;
          var next = tmp.querySelector('#order');
          if (cur && next) {
            cur.replaceWith(next);
            if (next.getAttribute('data-terminal') === 'false') {
              again();
            }
          }
        })
        .catch(again);
    }
    again();
  }

  if (page === 'index') {
    listen();
    enhanceForm();
  } else if (page === 'order') {
    followOrder();
  }
})();
