package mail

import (
	"context"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/store"
	"github.com/tsunagi-net/tsunagi/internal/storetest"
)

// TestSenderDir: the development mail sink writes each message through the
// sender as a private RFC 5322 file, readable as it was sent, and the
// outbox records it as sent; a sink that cannot write is retried like an
// SMTP server that is down.
func TestSenderDir(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		dir := filepath.Join(t.TempDir(), "mail")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		sink, err := NewDir(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("mail directory mode %v (%v), want 0700", fi.Mode().Perm(), err)
		}
		ob := NewOutbox(db)
		var id string
		if err := db.InTx(context.Background(), func(tx *store.Tx) error {
			id, err = Enqueue(context.Background(), tx, Message{Cause: "account.invite", To: "hanako@example.jp", Language: "ja",
				Subject: "[tsunagi] パスワード設定のお願い", Body: "花子 様\n\n  https://localhost:8443/setup?token=tsu_" +
					strings.Repeat("a", 52) + "\n"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		s := &Sender{Outbox: ob, Transport: sink}
		if n, err := s.Drain(context.Background()); err != nil || n != 1 {
			t.Fatalf("drain: %d, %v", n, err)
		}
		if e := status(t, ob, id); e.Status != Sent {
			t.Errorf("status %s, want sent", e.Status)
		}
		path := filepath.Join(dir, id+".eml")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mail file mode %v, want 0600", fi.Mode().Perm())
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		msg, err := mail.ReadMessage(f)
		if err != nil {
			t.Fatalf("not an RFC 5322 message: %v", err)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		body, _ := io.ReadAll(msg.Body)
		if msg.Header.Get("To") != "<hanako@example.jp>" || subject != "[tsunagi] パスワード設定のお願い" ||
			msg.Header.Get("Message-Id") != "<"+id+"@tsunagi>" || !strings.Contains(string(body), "setup?token=tsu_"+strings.Repeat("a", 52)+"\n") {
			t.Errorf("message: %v\nsubject %q\n%s", msg.Header, subject, body)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) != 0 {
			t.Errorf("temporary files left: %v", left)
		}

		// The directory gone (and a file in its place): retried later.
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		id2 := enqueue(t, db, "taro@example.jp")
		if _, err := s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e := status(t, ob, id2); e.Status != Pending || e.LastError == "" {
			t.Errorf("unwritable sink: status %s (%q), want pending with the error", e.Status, e.LastError)
		}
	})
}
