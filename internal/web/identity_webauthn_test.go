package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// softAuthenticator is a FIDO2 platform authenticator in software: an ES256
// key pair, "none" attestation, user presence and user verification
// (biometrics) always given, and a signature counter. It plays the browser's
// part too, writing clientDataJSON for its origin.
type softAuthenticator struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	credID []byte
	rpID   string
	origin string
	count  uint32
}

var b64 = base64.RawURLEncoding

func newSoftAuthenticator(t *testing.T, rpID, origin string) *softAuthenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &softAuthenticator{t: t, key: key, credID: id, rpID: rpID, origin: origin}
}

// options is the part of the server's creation or request options used here.
type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

// authData is rpIdHash | flags | signCount [| attested credential data].
func (a *softAuthenticator) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.rpID))
	out := append([]byte{}, h[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, a.count)
	return append(out, attested...)
}

// create answers navigator.credentials.create().
func (a *softAuthenticator) create(optsJSON []byte) []byte {
	var o options
	if err := json.Unmarshal(optsJSON, &o); err != nil {
		a.t.Fatal(err)
	}
	if o.PublicKey.RP.ID != a.rpID {
		a.t.Fatalf("relying party %q, want %q", o.PublicKey.RP.ID, a.rpID)
	}
	x, y := a.key.X.FillBytes(make([]byte, 32)), a.key.Y.FillBytes(make([]byte, 32))
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		a.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.credID)))
	attested = append(append(attested, a.credID...), cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(0x45, attested)})
	if err != nil {
		a.t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID),
		"type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"}}})
	return out
}

// get answers navigator.credentials.get() with counter count.
func (a *softAuthenticator) get(optsJSON []byte, userID []byte) []byte {
	var o options
	if err := json.Unmarshal(optsJSON, &o); err != nil {
		a.t.Fatal(err)
	}
	a.count++
	ad := a.authData(0x05, nil)
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		a.t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID),
		"type": "public-key", "authenticatorAttachment": "platform",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(userID)}})
	return out
}

func TestWebAuthn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, _ := flowCustomer(e, "FIDO K.K.", "fd")
		acc := e.account(cust, "fd-admin", identity.RoleAdmin, flowPW)
		key := newSoftAuthenticator(t, "localhost", "https://localhost")

		a := e.client(e.customer)
		a.login("fd-admin", flowPW)
		// Registration needs a browser session, not an API token.
		tc := e.client(e.customer)
		tc.token = a.newToken("no keys", "")
		tc.expect(http.StatusForbidden, "POST", "/api/v1/me/webauthn/register/begin", nil)
		opts := a.expect(http.StatusOK, "POST", "/api/v1/me/webauthn/register/begin", nil)
		var k identity.WebAuthnKey
		a.expect(http.StatusCreated, "POST", "/api/v1/me/webauthn/register/finish?name=laptop", key.create(opts.body)).json(t, &k)
		if !k.UserVerified || k.Name != "laptop" {
			t.Errorf("key: %+v", k)
		}
		a.expect(http.StatusOK, "GET", "/api/v1/me", nil) // the registering session has proved the key
		var keys list[identity.WebAuthnKey]
		a.expect(http.StatusOK, "GET", "/api/v1/me/webauthn", nil).json(t, &keys)
		if len(keys.Items) != 1 || keys.Items[0].ID != k.ID {
			t.Fatalf("keys: %+v", keys.Items)
		}

		// A password alone gives a pending session; the key completes it.
		b := e.client(e.customer)
		if roleOf(t, b.expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": "fd-admin", "password": flowPW})) != identity.RoleMFAPending {
			t.Fatal("no second factor asked")
		}
		b.expect(http.StatusForbidden, "GET", "/api/v1/me", nil)
		b.expect(http.StatusForbidden, "POST", "/api/v1/me/webauthn/register/begin", nil) // no new key with a password alone
		req := b.expect(http.StatusOK, "POST", "/api/v1/session/webauthn/begin", nil)
		assertion := key.get(req.body, []byte(acc.ID))
		pending := cookieOf(t, b)
		b.expect(http.StatusNoContent, "POST", "/api/v1/session/webauthn/finish", assertion)
		if cookieOf(t, b) == pending {
			t.Error("session ID not rotated at the second factor")
		}
		if roleOf(t, b.expect(http.StatusOK, "GET", "/api/v1/me", nil)) != identity.RoleAdmin {
			t.Error("not an admin after the key")
		}

		// A replayed assertion is refused and audited: against a new
		// challenge its signature covers the wrong challenge, and without
		// one there is nothing to answer.
		c := e.client(e.customer)
		c.login("fd-admin", flowPW)
		c.expect(http.StatusBadRequest, "POST", "/api/v1/session/webauthn/finish", assertion)
		c.expect(http.StatusOK, "POST", "/api/v1/session/webauthn/begin", nil)
		c.expect(http.StatusBadRequest, "POST", "/api/v1/session/webauthn/finish", assertion)
		if !e.auditHas("mfa.webauthn.verify", audit.Denied) {
			t.Error("the replay was not audited")
		}
		// A cloned key (its counter going backwards) is refused.
		req = c.expect(http.StatusOK, "POST", "/api/v1/session/webauthn/begin", nil)
		key.count = 0
		c.expect(http.StatusBadRequest, "POST", "/api/v1/session/webauthn/finish", key.get(req.body, []byte(acc.ID)))
		// The genuine key, counting on, still works.
		key.count = 10
		req = c.expect(http.StatusOK, "POST", "/api/v1/session/webauthn/begin", nil)
		c.expect(http.StatusNoContent, "POST", "/api/v1/session/webauthn/finish", key.get(req.body, []byte(acc.ID)))
		c.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		// A key of someone else (a different private key under the same
		// credential ID) does not verify.
		forged := newSoftAuthenticator(t, "localhost", "https://localhost")
		forged.credID, forged.count = key.credID, 50
		d := e.client(e.customer)
		d.login("fd-admin", flowPW)
		req = d.expect(http.StatusOK, "POST", "/api/v1/session/webauthn/begin", nil)
		d.expect(http.StatusBadRequest, "POST", "/api/v1/session/webauthn/finish", forged.get(req.body, []byte(acc.ID)))
		d.expect(http.StatusForbidden, "GET", "/api/v1/me", nil)
		d.expect(http.StatusForbidden, "DELETE", "/api/v1/me/webauthn/"+k.ID, nil) // not with a password alone
		// The owner removes the key; a password alone then suffices again.
		c.expect(http.StatusNoContent, "DELETE", "/api/v1/me/webauthn/"+k.ID, nil)
		c.expect(http.StatusNotFound, "DELETE", "/api/v1/me/webauthn/"+k.ID, nil)
		if roleOf(t, e.client(e.customer).expect(http.StatusOK, "POST", "/api/v1/session",
			map[string]string{"login_id": "fd-admin", "password": flowPW})) != identity.RoleAdmin {
			t.Error("still asked for a removed key")
		}
	})
}
