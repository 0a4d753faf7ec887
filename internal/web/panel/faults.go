package panel

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// The API's fault messages are written in English (fault.Error.Message).
// faults/ja.json translates them: each entry is the English text as the
// domain code formats it, with its fmt verbs, and the Japanese text taking
// the same verbs in the same order. A message is matched against the
// English patterns; the values it carried are put into the Japanese text.
type faultText struct {
	en *regexp.Regexp
	ja string
}

// faultVerbRE finds the verbs a pattern's arguments were formatted with.
var faultVerbRE = regexp.MustCompile(`%[-+# 0]*\d*(\.\d+)?[vsdqxXfgtT]`)

func loadFaults() ([]faultText, error) {
	b, err := fs.ReadFile(files, "messages/faults/ja.json")
	if err != nil {
		return nil, err
	}
	var entries []struct{ EN, JA string }
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("faults/ja.json: %w", err)
	}
	out := make([]faultText, 0, len(entries))
	for _, e := range entries {
		if verbs(e.EN) != verbs(e.JA) {
			return nil, fmt.Errorf("faults/ja.json: %q takes %q but its translation %q", e.EN, verbs(e.EN), verbs(e.JA))
		}
		out = append(out, faultText{en: faultPattern(e.EN), ja: e.JA})
	}
	return out, nil
}

// faultPattern turns an English format into a regexp capturing each
// argument.
func faultPattern(format string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rest := strings.ReplaceAll(format, "%%", "\x00")
	for {
		loc := faultVerbRE.FindStringIndex(rest)
		if loc == nil {
			b.WriteString(regexp.QuoteMeta(strings.ReplaceAll(rest, "\x00", "%")))
			break
		}
		b.WriteString(regexp.QuoteMeta(strings.ReplaceAll(rest[:loc[0]], "\x00", "%")))
		b.WriteString("(.*?)")
		rest = rest[loc[1]:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Fault is an API fault's message in lang. English is the message itself;
// Japanese is its translation, or, for a message not yet translated, the
// kind's general Japanese text followed by the English message.
func (c *Catalogue) Fault(lang, kind, message string) string {
	if lang == "en" {
		return message
	}
	for _, f := range c.faults {
		if m := f.en.FindStringSubmatch(message); m != nil {
			args := make([]any, len(m)-1)
			for i, v := range m[1:] {
				args[i] = v
			}
			return fmt.Sprintf(faultVerbRE.ReplaceAllString(f.ja, "%s"), args...)
		}
	}
	general := c.MustText(lang, "fault."+kind)
	return general + "（" + message + "）"
}
