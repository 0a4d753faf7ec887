// Package agent is `tsunagi agent`, the program on each hub node: it enrols
// with a one-time token (a key made here, a CSR, a certificate from the
// controller's node CA), then talks to the controller only over mutual TLS,
// and loops — pull the node's desired state (long poll), apply it to the data
// plane, report what it observed. It keeps the last applied state on disk so
// that a node whose controller is unreachable keeps forwarding with it, and a
// restarted agent re-applies it without waiting for the controller.
// Between passes its prober (Prober) runs the hubs' reachability monitors
// and hands their probes to the next report, which it sends at once when
// a monitor goes down or comes back.
//
// The agent imports neither the store nor the web server: it needs no
// database and has no listener.
package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
	"github.com/tsunagi-net/tsunagi/internal/pki"
)

// Files in the agent's state directory.
const (
	keyFile   = "node.key"
	certFile  = "node.crt"
	caFile    = "node-ca.crt"
	stateFile = "desired-state.json"
)

// Enrolled reports whether dir already holds a node identity.
func Enrolled(dir string) bool {
	for _, f := range []string{keyFile, certFile, caFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// PrivateStateDir makes the state directory the owner's alone (0700, files
// 0600), tightening what an earlier version or an operator left open: it
// holds the node's key and the last desired state, BGP passwords included.
func PrivateStateDir(dir string) error {
	if err := atomicfile.Private(dir); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	return nil
}

// Enrol makes a key in dir, sends a CSR with the one-time token to the
// controller's agent listener, and stores the certificate it returns. roots
// verifies the controller's server certificate.
func Enrol(ctx context.Context, controller string, roots *x509.CertPool, token, dir string) error {
	if err := PrivateStateDir(dir); err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	keyPEM, csrPEM, err := pki.NewNodeKey("node")
	if err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	body, _ := json.Marshal(map[string]string{"token": token, "csr": string(csrPEM)})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(controller, "/")+"/agent/v1/enrol", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("enrol: controller answered %d: %s", resp.StatusCode, apiMessage(raw))
	}
	var e struct {
		Node        string `json:"node"`
		Certificate string `json:"certificate"`
		CA          string `json:"ca"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Certificate == "" || e.CA == "" {
		return errors.New("enrol: the controller's answer holds no certificate")
	}
	if _, err := tls.X509KeyPair([]byte(e.Certificate), keyPEM); err != nil {
		return fmt.Errorf("enrol: the certificate does not match the key: %w", err)
	}
	// The key last, after the certificate and CA: Enrolled needs all three.
	for _, f := range []struct {
		name string
		data []byte
	}{{caFile, []byte(e.CA)}, {certFile, []byte(e.Certificate)}, {keyFile, keyPEM}} {
		if err := writeFile(filepath.Join(dir, f.name), f.data); err != nil {
			return fmt.Errorf("enrol: %w", err)
		}
	}
	return nil
}

// apiMessage extracts the message of a tsunagi error body.
func apiMessage(raw []byte) string {
	var e struct {
		Error struct {
			Code, Message string
		} `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
		return e.Error.Code + ": " + e.Error.Message
	}
	if len(raw) > 200 {
		raw = raw[:200]
	}
	return string(raw)
}

func writeFile(path string, data []byte) error { return atomicfile.Write(path, data, 0o600) }
