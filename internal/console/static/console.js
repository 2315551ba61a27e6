// Peerplane console: live updates (server-sent events), actions without a
// reload, copy buttons and inline validation. Every page works without it.
(function () {
  "use strict";

  function fromHTML(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  // keepLive moves the live regions (aria-live, with an id) of old into
  // next in place of their new versions, with the new content: a screen
  // reader announces a change to a region it knows, not a new region. It
  // returns the element to put in old's place.
  function keepLive(old, next) {
    // Disclosures the user opened stay open.
    old.querySelectorAll("details[open][id]").forEach(function (d) {
      var n = next.querySelector("#" + CSS.escape(d.id));
      if (n) n.open = true;
    });
    if (old.id && old.hasAttribute("aria-live") && old.id === next.id) {
      syncRegion(old, next);
      return old;
    }
    next.querySelectorAll("[aria-live][id]").forEach(function (n) {
      var o = old.querySelector("#" + CSS.escape(n.id));
      if (!o) return;
      syncRegion(o, n);
      n.replaceWith(o);
    });
    return next;
  }
  function syncRegion(o, n) {
    Array.prototype.slice.call(o.attributes).forEach(function (a) { if (!n.hasAttribute(a.name)) o.removeAttribute(a.name); });
    Array.prototype.slice.call(n.attributes).forEach(function (a) { o.setAttribute(a.name, a.value); });
    if (o.innerHTML !== n.innerHTML) o.innerHTML = n.innerHTML;
  }

  // applyPatches replaces each element marked data-live=key, keeping the
  // keyboard focus on the equivalent element.
  function applyPatches(patches) {
    var active = document.activeElement;
    var focusKey = active && active.dataset ? active.dataset.focus : null;
    patches.forEach(function (p) {
      var el = document.querySelector('[data-live="' + CSS.escape(p.key) + '"]');
      if (!el) return;
      if (p.remove) { el.remove(); return; }
      var next = fromHTML(p.html);
      if (!next) return;
      if (el.isEqualNode(next)) return; // already shown: the stream resends every part now and then
      next = keepLive(el, next);
      if (next !== el) el.replaceWith(next);
    });
    if (focusKey && !document.body.contains(active)) {
      var again = document.querySelector('[data-focus="' + CSS.escape(focusKey) + '"]');
      if (again) again.focus();
    }
  }

  function notice(msg) {
    var main = document.getElementById("main");
    var n = document.createElement("div");
    n.className = "notice";
    n.setAttribute("role", "status");
    n.textContent = msg;
    var head = main.querySelector(".pagehead");
    main.insertBefore(n, head || main.firstChild);
  }

  // Live stream.
  var streamEl = document.querySelector("[data-stream]");
  if (streamEl && window.EventSource) {
    var es = new EventSource(streamEl.dataset.stream);
    es.addEventListener("patch", function (e) { applyPatches(JSON.parse(e.data)); });
    es.addEventListener("gone", function (e) { es.close(); notice(JSON.parse(e.data).message); });
    es.addEventListener("signed-out", function (e) { es.close(); window.location = JSON.parse(e.data).url; });
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // Actions ("Continue", "Create connection") without leaving the page.
  // The forms are found when submitted: live updates replace them.
  document.addEventListener("submit", function (e) {
    var form = e.target.closest("form[data-action]");
    if (!form) return;
    e.preventDefault();
    var btn = form.querySelector("button");
    var out = document.getElementById("action-result");
    btn.disabled = true;
    if (out) { out.className = "action-result pending"; out.textContent = "Working…"; }
    var fail = function (msg) {
      out = document.getElementById("action-result");
      if (out) { out.textContent = msg; out.className = "action-result bad"; }
    };
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: { "X-Console-Fragment": "1", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form))
    }).then(function (r) {
      return r.json().catch(function () { return { message: "Request failed (" + r.status + ")." }; });
    }).then(function (res) {
      if (res.patches) applyPatches(res.patches);
      else fail(res.message || "The request failed.");
    }).catch(function () {
      fail("The console could not be reached; try again.");
    }).finally(function () { btn.disabled = false; });
  });

  // Copy buttons.
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var pre = btn.parentElement.querySelector("pre");
    var text = pre.innerText;
    var done = function () {
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = "Copy"; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(pre); });
    } else {
      selectText(pre);
      try { document.execCommand("copy"); done(); } catch (_) { /* selected for the user */ }
    }
  });
  function selectText(el) {
    var r = document.createRange();
    r.selectNodeContents(el);
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
  }

  // Inline validation: the API's rules, checked as the user types; the
  // server checks again and shows its own errors in the same places.
  var guid = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
  var rules = {
    name: function (v) {
      if (!v) return "Name is required.";
      if (v.length > 255) return "Display name must be at most 255 characters.";
      return "";
    },
    guid: function (v, label) {
      if (!v) return label + " is required.";
      return guid.test(v) ? "" : label + " \u201c" + v + "\u201d must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).";
    },
    rg: function (v, label) {
      if (!v) return label + " is required.";
      return /^[A-Za-z0-9_\-.()]{1,90}$/.test(v) && !/\.$/.test(v) ? "" :
        "Resource group name \u201c" + v + "\u201d must be 1 to 90 letters, digits, '_', '-', '.', '(' or ')', and must not end in '.'.";
    },
    vnet: function (v, label) {
      if (!v) return label + " is required.";
      return /^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}[A-Za-z0-9_]$/.test(v) ? "" :
        "VNet name \u201c" + v + "\u201d must be 2 to 64 letters, digits, '_', '-' or '.', start with a letter or digit, and end with a letter, digit or '_'.";
    }
  };
  function validate(input) {
    var rule = rules[input.dataset.rule];
    if (!rule) return true;
    var label = document.querySelector('label[for="' + input.id + '"]').textContent;
    var msg = rule(input.value.trim(), label);
    var err = document.getElementById(input.id + "-err");
    err.textContent = msg;
    input.closest(".field").classList.toggle("has-error", !!msg);
    if (msg) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    return !msg;
  }
  document.querySelectorAll("form[data-validate]").forEach(function (form) {
    var inputs = Array.prototype.slice.call(form.querySelectorAll("input[data-rule]"));
    inputs.forEach(function (input) {
      input.addEventListener("blur", function () { if (input.value) validate(input); });
      input.addEventListener("input", function () { if (input.getAttribute("aria-invalid")) validate(input); preview(); });
    });
    form.addEventListener("submit", function (e) {
      var bad = inputs.filter(function (i) { return !validate(i); });
      if (bad.length) { e.preventDefault(); bad[0].focus(); }
    });
    function preview() {
      var el = document.getElementById("vnet-id-preview");
      if (!el) return;
      var v = function (n) { return (form.elements[n].value || "").trim() || "…"; };
      el.textContent = "/subscriptions/" + v("subscription").toLowerCase() + "/resourceGroups/" + v("resource_group") +
        "/providers/Microsoft.Network/virtualNetworks/" + v("vnet");
    }
    preview();
  });

  // After a failed submit, put the focus on the first field in error; after
  // a connectivity test, on its result.
  var firstBad = document.querySelector('[aria-invalid="true"]');
  var reachResult = document.getElementById("reach-result");
  if (firstBad) firstBad.focus();
  else if (reachResult) reachResult.focus();
})();
