package smtptest

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

type mimeWordDecoder = mime.WordDecoder

func decodeBody(encoding, body string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
		return string(b), err
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
		return string(b), err
	default:
		return body, nil
	}
}
