package mail

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	gomail "github.com/wneessen/go-mail"
)

// Dir is the development mail sink: a Transport that writes each message
// as an RFC 5322 file <outbox ID>.eml in a directory instead of handing it
// to an SMTP server, for deployments without one (the embedded default,
// --demo). The files hold single-use links, so the directory is 0700 and
// each file 0600, written whole and renamed into place: a reader never sees
// half a message, and a message sent again after a crash replaces its own
// file. The sender treats it like SMTP: retries on failure, the outbox
// records the status.
type Dir struct {
	path, from string
}

// DefaultDirFrom is the sender address of the mail sink's messages when no
// --smtp-from is given.
const DefaultDirFrom = "tsunagi@localhost"

// NewDir makes (or tightens to 0700) directory path and returns the sink;
// from is the sender address written into each message.
func NewDir(path, from string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("mail: the mail directory is empty")
	}
	if from == "" {
		from = DefaultDirFrom
	}
	if err := CheckFrom(from); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	if err := os.Chmod(path, 0o700); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return &Dir{path: path, from: from}, nil
}

// Path is the directory the sink writes to.
func (d *Dir) Path() string { return d.path }

var outboxIDRE = regexp.MustCompile(`^[a-z]+_[a-z2-7]+$`)

// Send writes m as <id>.eml.
func (d *Dir) Send(ctx context.Context, id string, m Message) error {
	if !outboxIDRE.MatchString(id) {
		return &PermanentError{fmt.Errorf("mail: %q is not an outbox ID", id)}
	}
	// 8-bit, not quoted-printable: the file is read by a person, who copies
	// the link out of it whole.
	msg, err := compose(d.from, id, m, gomail.WithEncoding(gomail.NoEncoding))
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(d.path, ".tmp-*") // mode 0600; not *.eml, so that no reader takes a half-written file for a message
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename, there is nothing left to remove
	if _, err := msg.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(d.path, id+".eml"))
}
