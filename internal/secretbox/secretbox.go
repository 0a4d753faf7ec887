// Package secretbox seals the few secrets the controller must be able to
// read back (TOTP seeds, BGP MD5 passwords, the node CA's private key, mail
// bodies until they are sent) before they are stored: AES-256-GCM under the
// controller's secret key, which lives in a file beside — not in — the
// database. A copy of the database alone does not give the seeds away.
//
// Each sealed value is bound to what it belongs to (the additional data,
// e.g. "totp:acc_…"): a value copied into another row does not open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tsunagi-net/tsunagi/internal/atomicfile"
)

// KeySize is the secret key's length: AES-256.
const KeySize = 32

// prefix marks a sealed value and its format version.
const prefix = "v1:"

// Box seals and opens values under one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key: want %d bytes, have %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Ephemeral returns a Box under a random key that lives as long as the
// process: for tests and tools that keep nothing.
func Ephemeral() *Box {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	b, _ := New(key)
	return b
}

// Seal seals plain, bound to context.
func (b *Box) Seal(plain, context string) string {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	sealed := b.aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return prefix + base64.RawStdEncoding.EncodeToString(sealed)
}

// ErrNotSealed is Open's error for a value that was stored unsealed.
var ErrNotSealed = errors.New("secretbox: value is not sealed")

// IsSealed says whether v is a sealed value.
func IsSealed(v string) bool { return strings.HasPrefix(v, prefix) }

// Open returns the plain value sealed in v for context. A value sealed under
// another key or for another context does not open.
func (b *Box) Open(v, context string) (string, error) {
	if !IsSealed(v) {
		return "", ErrNotSealed
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(v, prefix))
	n := b.aead.NonceSize()
	if err != nil || len(raw) < n+b.aead.Overhead() {
		return "", errors.New("secretbox: sealed value is damaged")
	}
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", errors.New("secretbox: sealed value does not open with this key (was the secret key file replaced?)")
	}
	return string(plain), nil
}

// LoadOrCreateKey reads the key file at path, or makes one (mode 0600) when
// there is none; created says which. A file of the wrong size is an error,
// never replaced: the values sealed under it would be lost.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = ReadKey(path)
	if !errors.Is(err, os.ErrNotExist) {
		return key, false, err
	}
	key, err = CreateKey(path)
	return key, err == nil, err
}

// ReadKey reads the key file at path; a missing file is an error that
// matches os.ErrNotExist.
func ReadKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("secret key file: %w", err)
	case len(key) != KeySize:
		return nil, fmt.Errorf("secret key file %s: want %d bytes, have %d", path, KeySize, len(key))
	}
	return key, nil
}

// CreateKey makes a new random key and writes it to path (mode 0600).
func CreateKey(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("secret key file: %w", err)
	}
	return key, nil
}
