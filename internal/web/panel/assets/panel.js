// tsunagi control panel: the little behaviour the pages need beyond HTML
// forms and htmx. Served from /assets (the Content-Security-Policy allows
// no inline script).
//
// A form or button with data-confirm asks before it submits; the text is
// the page's own, already in the reader's language.
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var btn = ev.submitter;
    var text = (btn && btn.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      ev.preventDefault();
    }
  }, true);
})();

// WebAuthn (security keys, platform biometrics), owned by the sign-in and
// account pages. A button with data-webauthn="login" | "register" | "reauth"
// runs one ceremony against the same API a script would use: begin (JSON,
// same origin, the session cookie), the browser's navigator.credentials,
// finish; then the page goes to data-next. A refusal that asks for a fresh
// confirmation of the password sends the viewer to that step, which returns
// here. Texts shown come from the page (data-error, data-unsupported), in
// the reader's language.
(function () {
  "use strict";

  function toBytes(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function credentialJSON(cred) {
    var r = cred.response;
    var out = { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}, response: {
        clientDataJSON: toB64url(r.clientDataJSON) } };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
    }
    return out;
  }

  // Failure carries the API's error code, so that reauth_required can be
  // told from the rest.
  function Failure(code) { this.code = code; }

  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body) }).then(function (res) {
      if (res.ok) {
        return res.status === 204 ? null : res.json();
      }
      return res.json().then(function (b) { throw new Failure(b && b.error && b.error.code); },
        function () { throw new Failure(""); });
    });
  }

  function requestOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBytes(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: pk };
  }

  function creationOptions(o) {
    var pk = o.publicKey;
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: pk };
  }

  var ceremonies = {
    login: function () {
      return post("/api/v1/session/webauthn/begin").then(function (o) {
        return navigator.credentials.get(requestOptions(o));
      }).then(function (cred) {
        return post("/api/v1/session/webauthn/finish", credentialJSON(cred));
      });
    },
    register: function (btn) {
      var field = document.getElementById(btn.getAttribute("data-name-field"));
      var name = field ? field.value.trim() : "";
      return post("/api/v1/me/webauthn/register/begin").then(function (o) {
        return navigator.credentials.create(creationOptions(o));
      }).then(function (cred) {
        return post("/api/v1/me/webauthn/register/finish?name=" + encodeURIComponent(name), credentialJSON(cred));
      });
    },
    reauth: function (btn) {
      var field = document.getElementById(btn.getAttribute("data-password-field"));
      return post("/api/v1/session/reauth/webauthn/begin", { password: field ? field.value : "" }).then(function (o) {
        return navigator.credentials.get(requestOptions(o));
      }).then(function (cred) {
        return post("/api/v1/session/reauth/webauthn/finish", credentialJSON(cred));
      });
    }
  };

  function status(text) {
    var el = document.getElementById("webauthn-status");
    if (el) {
      el.textContent = text;
      el.className = "webauthn-status" + (text ? " error" : "");
    }
  }

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button[data-webauthn]") : null;
    if (!btn) {
      return;
    }
    var run = ceremonies[btn.getAttribute("data-webauthn")];
    if (!run) {
      return;
    }
    ev.preventDefault();
    if (!window.PublicKeyCredential || !navigator.credentials) {
      status(btn.getAttribute("data-unsupported"));
      return;
    }
    status("");
    btn.disabled = true;
    run(btn).then(function () {
      window.location.assign(btn.getAttribute("data-next") || window.location.pathname);
    }, function (err) {
      btn.disabled = false;
      if (err instanceof Failure && err.code === "reauth_required") {
        window.location.assign("/me/reauth?next=" + encodeURIComponent(window.location.pathname));
        return;
      }
      status(btn.getAttribute("data-error"));
    });
  });
})();
