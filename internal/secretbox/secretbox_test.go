package secretbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	b := Ephemeral()
	v := b.Seal("JBSWY3DPEHPK3PXP", "totp:acc_a")
	if !IsSealed(v) || strings.Contains(v, "JBSWY3DPEHPK3PXP") {
		t.Fatalf("sealed value %q shows the secret", v)
	}
	if got, err := b.Open(v, "totp:acc_a"); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if v2 := b.Seal("JBSWY3DPEHPK3PXP", "totp:acc_a"); v2 == v {
		t.Error("two seals of one value are equal: the nonce is not fresh")
	}
	// Bound to its row: another account's context does not open it.
	if _, err := b.Open(v, "totp:acc_b"); err == nil {
		t.Error("a value opened for another context")
	}
	if _, err := Ephemeral().Open(v, "totp:acc_a"); err == nil {
		t.Error("a value opened under another key")
	}
	if _, err := b.Open("JBSWY3DPEHPK3PXP", "totp:acc_a"); err != ErrNotSealed {
		t.Errorf("plain value: %v", err)
	}
	if _, err := b.Open(v[:len(v)-4], "totp:acc_a"); err == nil {
		t.Error("a damaged value opened")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created || len(k1) != KeySize {
		t.Fatalf("create: %d bytes, %v, %v", len(k1), created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v, %v", fi.Mode(), err)
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created || string(k1) != string(k2) {
		t.Fatalf("reload: created %v, %v, same %v", created, err, string(k1) == string(k2))
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(path); err == nil {
		t.Error("a key file of the wrong size was accepted")
	}
	if b, _ := os.ReadFile(path); string(b) != "short" {
		t.Error("a key file of the wrong size was replaced")
	}
	if _, err := New(k1[:16]); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}
