package web

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func roleOf(t *testing.T, r resp) identity.Role {
	t.Helper()
	var me meBody
	r.json(t, &me)
	return me.Role
}

func TestTOTP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "TOTP K.K.", "tp")
		e.account(cust, "tp-admin", identity.RoleAdmin, flowPW)
		a := e.client(e.customer)
		a.login("tp-admin", flowPW)
		var en identity.TOTPEnrolment
		a.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en)
		a.expect(http.StatusBadRequest, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": "000000"})
		now := time.Now()
		var rc recoveryCodes
		a.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en.Secret, now)}).json(t, &rc)
		if len(rc.RecoveryCodes) != identity.RecoveryCodeCount {
			t.Fatalf("recovery codes: %v", rc.RecoveryCodes)
		}
		// The enrolment is no proof of the new factor (reauth.go).
		a.expectCode(http.StatusForbidden, identity.CodeReauthRequired, "POST", "/api/v1/me/totp", nil)
		a.expect(http.StatusNoContent, "POST", "/api/v1/session/reauth",
			map[string]string{"password": flowPW, "code": rc.RecoveryCodes[identity.RecoveryCodeCount-1]})
		a.expect(http.StatusConflict, "POST", "/api/v1/me/totp", nil)

		// A password alone now opens only an MFA-pending session.
		b := e.client(e.customer)
		r := b.expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": "tp-admin", "password": flowPW})
		if roleOf(t, r) != identity.RoleMFAPending {
			t.Fatalf("login without the second factor: %s", r.body)
		}
		b.expect(http.StatusForbidden, "GET", "/api/v1/me", nil)
		b.expect(http.StatusForbidden, "GET", "/api/v1/contracts", nil)
		b.expect(http.StatusForbidden, "POST", "/api/v1/me/totp", nil) // no second enrolment with a password alone
		// The code used at the confirmation is spent, even within its step.
		b.expect(http.StatusBadRequest, "POST", "/api/v1/session/mfa", map[string]string{"code": totpCode(t, en.Secret, now)})
		pending := cookieOf(t, b)
		b.expect(http.StatusNoContent, "POST", "/api/v1/session/mfa", map[string]string{"code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		if cookieOf(t, b) == pending {
			t.Error("session ID not rotated at the second factor")
		}
		if roleOf(t, b.expect(http.StatusOK, "GET", "/api/v1/me", nil)) != identity.RoleAdmin {
			t.Error("not an admin after the second factor")
		}
		// Reuse of that code by another login: refused and audited.
		c := e.client(e.customer)
		c.login("tp-admin", flowPW)
		c.expect(http.StatusBadRequest, "POST", "/api/v1/session/mfa", map[string]string{"code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		if !e.auditHas("mfa.verify", audit.Denied) {
			t.Error("a reused code was not audited")
		}
		// A recovery code works once.
		c.expect(http.StatusNoContent, "POST", "/api/v1/session/mfa", map[string]string{"code": rc.RecoveryCodes[0]})
		d := e.client(e.customer)
		d.login("tp-admin", flowPW)
		d.expect(http.StatusBadRequest, "POST", "/api/v1/session/mfa", map[string]string{"code": rc.RecoveryCodes[0]})
		d.expect(http.StatusNoContent, "POST", "/api/v1/session/mfa", map[string]string{"code": rc.RecoveryCodes[1]})

		// A customer policy requiring MFA for admins: open sessions without a
		// second factor become pending at once and can enrol their first.
		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": true, "require_device": false})
		r = ops.expect(http.StatusForbidden, "GET", "/api/v1/me", nil)
		var en2 identity.TOTPEnrolment
		ops.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en2)
		before := cookieOf(t, ops)
		ops.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en2.Secret, time.Now())})
		if cookieOf(t, ops) == before {
			t.Error("session ID not rotated when the first factor completed the session")
		}
		ops.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		// Users (read-only) are not subject to the admins' MFA policy.
		e.account(cust, "tp-user", identity.RoleUser, flowPW)
		u := e.client(e.customer)
		if roleOf(t, u.expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": "tp-user", "password": flowPW})) != identity.RoleUser {
			t.Error("user held to the admins' MFA policy")
		}
	})
}

// deviceCert makes a self-signed client certificate.
func deviceCert(t *testing.T, name string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// deviceClient is a client that presents cert in the TLS handshake.
func (e *idEnv) deviceClient(cert tls.Certificate) *client {
	c := e.client(e.customer)
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{cert}}}
	e.t.Cleanup(tr.CloseIdleConnections)
	c.hc = &http.Client{Transport: OpenAPIChecked(e.t, tr), Jar: jar, Timeout: 30 * time.Second}
	return c
}

func TestDeviceCertificates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "Device K.K.", "dv")
		e.account(cust, "dv-admin", identity.RoleAdmin, flowPW)
		cert, certPEM := deviceCert(t, "dv-laptop")
		other, _ := deviceCert(t, "stranger")

		ops.expect(http.StatusBadRequest, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": false, "require_device": true})
		ops.expect(http.StatusBadRequest, "POST", "/api/v1/devices", map[string]string{"name": "bad", "certificate_pem": "not pem"})
		var dev identity.Device
		ops.expect(http.StatusCreated, "POST", "/api/v1/devices", map[string]string{"name": "laptop", "certificate_pem": certPEM}).json(t, &dev)
		ops.expect(http.StatusConflict, "POST", "/api/v1/devices", map[string]string{"name": "again", "certificate_pem": certPEM})
		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": false, "require_device": true})

		login := map[string]string{"login_id": "dv-admin", "password": flowPW}
		e.client(e.customer).expect(http.StatusForbidden, "POST", "/api/v1/session", login)
		e.deviceClient(other).expect(http.StatusForbidden, "POST", "/api/v1/session", login)
		if !e.auditHas("access.denied.device", audit.Denied) {
			t.Error("a login without a registered device was not audited")
		}
		laptop := e.deviceClient(cert)
		laptop.login("dv-admin", flowPW)
		laptop.expect(http.StatusOK, "GET", "/api/v1/me", nil)
		// Another customer cannot use (or see) the device.
		_, foreign := flowCustomer(e, "Foreign K.K.", "fx")
		foreign.expect(http.StatusNotFound, "DELETE", "/api/v1/devices/"+dev.ID, nil)
		// Revoking the device ends the sessions opened from it.
		ops.expect(http.StatusNoContent, "DELETE", "/api/v1/devices/"+dev.ID, nil)
		laptop.expect(http.StatusUnauthorized, "GET", "/api/v1/me", nil)
		e.deviceClient(cert).expect(http.StatusForbidden, "POST", "/api/v1/session", login)
	})
}

// A session that owed its second factor got 403 "your role does not allow
// this" on everything, GET /api/v1/me included, and could not tell why. It
// gets the code mfa_pending, telling it to give the factor or enrol the
// first one; what it may do (give the factor, enrol the first) still works.
func TestPendingSessionToldWhatItOwes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := startIDEnv(t, db, identity.Config{})
		cust, ops := flowCustomer(e, "Owes K.K.", "ow")
		e.account(cust, "ow-admin", identity.RoleAdmin, flowPW)
		e.account(cust, "ow-new", identity.RoleAdmin, flowPW)
		a := e.client(e.customer)
		a.login("ow-admin", flowPW)
		var en identity.TOTPEnrolment
		a.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil).json(t, &en)
		now := time.Now()
		a.expect(http.StatusOK, "POST", "/api/v1/me/totp/confirm", map[string]string{"code": totpCode(t, en.Secret, now)})

		// An account with a factor: give it.
		b := e.client(e.customer)
		if roleOf(t, b.expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": "ow-admin", "password": flowPW})) !=
			identity.RoleMFAPending {
			t.Fatal("no second factor asked")
		}
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/me", nil}, {"GET", "/api/v1/contracts", nil}, {"GET", "/api/v1/tokens", nil},
			{"PUT", "/api/v1/me/password", map[string]string{"current_password": flowPW, "new_password": "a pending passphrase 2236"}},
			{"POST", "/api/v1/me/totp", nil}, {"DELETE", "/api/v1/me/totp", nil},
		} {
			r := b.expectCode(http.StatusForbidden, identity.CodeMFAPending, c.method, c.path, c.body)
			if !strings.Contains(string(r.body), "second factor") {
				t.Errorf("%s %s: %s", c.method, c.path, r.body)
			}
		}
		b.expect(http.StatusNoContent, "POST", "/api/v1/session/mfa", map[string]string{"code": totpCode(t, en.Secret, now.Add(30*time.Second))})
		b.expect(http.StatusOK, "GET", "/api/v1/me", nil)

		// An account without one, while the policy requires it: enrol it.
		ops.expect(http.StatusOK, "PUT", "/api/v1/security-policy", map[string]any{"allow_list": []string{}, "require_mfa": true,
			"require_device": false})
		n := e.client(e.customer)
		if roleOf(t, n.expect(http.StatusOK, "POST", "/api/v1/session", map[string]string{"login_id": "ow-new", "password": flowPW})) !=
			identity.RoleMFAPending {
			t.Fatal("no second factor asked under the policy")
		}
		n.expectCode(http.StatusForbidden, identity.CodeMFAPending, "GET", "/api/v1/me", nil)
		n.expect(http.StatusCreated, "POST", "/api/v1/me/totp", nil)
		if !e.auditHas("access.denied", audit.Denied) {
			t.Error("the refusals were not audited")
		}
	})
}
