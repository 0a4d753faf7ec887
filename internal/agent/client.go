package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/disposal"
	"github.com/tsunagi-net/tsunagi/internal/network/flowrec"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
)

// Client talks to the controller's agent listener with the node certificate.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient loads the node identity from dir. roots verifies the controller.
func NewClient(controller string, roots *x509.CertPool, dir string) (*Client, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		return nil, fmt.Errorf("node identity: %w", err)
	}
	return &Client{
		base: strings.TrimSuffix(controller, "/"),
		hc: &http.Client{Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     90 * time.Second,
		}},
	}, nil
}

// HTTP returns the client's HTTP client, which presents the node
// certificate: for tests that send what the agent never would.
func (c *Client) HTTP() *http.Client { return c.hc }

// ErrStatus is a non-success answer from the controller.
type ErrStatus struct {
	Code    int
	Message string
}

func (e *ErrStatus) Error() string {
	return fmt.Sprintf("controller answered %d: %s", e.Code, e.Message)
}

// DesiredState asks for the node's document; with have set to the current
// generation and wait > 0 the controller holds the request until it changes.
// It returns nil doc when nothing changed.
func (c *Client) DesiredState(ctx context.Context, have string, wait time.Duration) ([]byte, error) {
	u := c.base + "/agent/v1/desired-state"
	if wait > 0 {
		u += "?wait=" + strconv.Itoa(int(wait/time.Second))
	}
	ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if have != "" {
		req.Header.Set("If-None-Match", `"`+have+`"`)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, nil
	case http.StatusOK:
		doc, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err == nil && len(doc) == 0 {
			err = errors.New("desired state: empty answer")
		}
		return doc, err
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return nil, &ErrStatus{resp.StatusCode, apiMessage(raw)}
}

// SendReport posts the node's report.
func (c *Client) SendReport(ctx context.Context, r observed.Report) error {
	body, err := observed.Encode(r)
	if err != nil {
		return err
	}
	return c.post(ctx, "/agent/v1/status", body)
}

// SendDecommission posts the report of the node's wipe; the controller
// records it and revokes the certificate this request is made with.
func (c *Client) SendDecommission(ctx context.Context, r disposal.Report) error {
	body, err := disposal.Encode(r)
	if err != nil {
		return err
	}
	return c.post(ctx, "/agent/v1/decommissioned", body)
}

// post sends an encoded document to the controller, which answers 204 when
// it has recorded it.
func (c *Client) post(ctx context.Context, path string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return &ErrStatus{resp.StatusCode, apiMessage(raw)}
	}
	return nil
}

// SendFlows posts a batch of flow records.
func (c *Client) SendFlows(ctx context.Context, b flowrec.Batch) error {
	body, err := flowrec.Encode(b)
	if err != nil {
		return err
	}
	return c.post(ctx, "/agent/v1/flows", body)
}
