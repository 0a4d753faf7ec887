package panel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
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
	// literal is how much fixed text the English has: a message is matched
	// against the most specific patterns first, so that "port not found"
	// wins over "%s not found".
	literal int
	// nested marks the arguments (by %s, %v or %w) that may be messages
	// themselves, translated in turn (a problem with "and 2 more").
	nested []bool
}

// jaFormat is a translation with each verb made %s, since the values it
// takes are the texts the English message carried; "%%" stays.
func jaFormat(ja string) string {
	return percentOrVerbRE.ReplaceAllStringFunc(ja, func(v string) string {
		if v == "%%" {
			return v
		}
		return "%s"
	})
}

var percentOrVerbRE = regexp.MustCompile(`%%|` + faultVerbRE.String())

// faultEntry is one translation as faults/ja.json has it.
type faultEntry struct{ EN, JA string }

// faultVerbRE finds the verbs a pattern's arguments were formatted with.
var faultVerbRE = regexp.MustCompile(`%[-+# 0]*\d*(\.\d+)?[vsdqxXfgtTw]`)

func loadFaults() ([]faultText, error) {
	b, err := fs.ReadFile(files, "messages/faults/ja.json")
	if err != nil {
		return nil, err
	}
	entries, err := parseFaultEntries(b)
	if err != nil {
		return nil, err
	}
	return compileFaults(entries), nil
}

// compileFaults makes the entries' patterns, most specific first.
func compileFaults(entries []faultEntry) []faultText {
	out := make([]faultText, 0, len(entries))
	for _, e := range entries {
		literal := len(faultVerbRE.ReplaceAllString(strings.ReplaceAll(e.EN, "%%", "\x00"), ""))
		var nested []bool
		for _, v := range faultVerbRE.FindAllString(strings.ReplaceAll(e.EN, "%%", ""), -1) {
			nested = append(nested, strings.ContainsAny(v[len(v)-1:], "svw"))
		}
		out = append(out, faultText{en: faultPattern(e.EN), ja: e.JA, literal: literal, nested: nested})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].literal > out[j].literal })
	return out
}

// parseFaultEntries reads and checks faults/ja.json: both texts present,
// the same verbs in the same order, and some fixed English text (a bare
// "%s" would match every message).
func parseFaultEntries(b []byte) ([]faultEntry, error) {
	var entries []faultEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("faults/ja.json: %w", err)
	}
	var problems []string
	for _, e := range entries {
		switch {
		case strings.TrimSpace(e.JA) == "":
			problems = append(problems, fmt.Sprintf("faults/ja.json: %q has no translation", e.EN))
		case strings.TrimSpace(faultVerbRE.ReplaceAllString(e.EN, "")) == "":
			problems = append(problems, fmt.Sprintf("faults/ja.json: %q has no fixed text to match", e.EN))
		case faultVerbs(e.EN) != faultVerbs(e.JA):
			problems = append(problems, fmt.Sprintf("faults/ja.json: %q takes %q but its translation %q", e.EN, faultVerbs(e.EN), faultVerbs(e.JA)))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n  "))
	}
	return entries, nil
}

// faultVerbs lists the verbs of a fault format in order, as one string.
func faultVerbs(s string) string {
	return strings.Join(faultVerbRE.FindAllString(strings.ReplaceAll(s, "%%", ""), -1), " ")
}

// faultPattern turns an English format into a regexp capturing each
// argument.
func faultPattern(format string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	rest := strings.ReplaceAll(format, "%%", "\x00")
	for {
		loc := faultVerbRE.FindStringIndex(rest)
		if loc == nil {
			b.WriteString(regexp.QuoteMeta(strings.ReplaceAll(rest, "\x00", "%")))
			break
		}
		b.WriteString(regexp.QuoteMeta(strings.ReplaceAll(rest[:loc[0]], "\x00", "%")))
		b.WriteString(verbCapture(rest[loc[1]-1]))
		rest = rest[loc[1]:]
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// verbCapture is what a value formatted with the verb letter v can be. A
// number or a quoted string is matched as one, so that a message such as
// `line 3: "x" is not …` is not taken for a quoted value `"…" is not …`.
func verbCapture(v byte) string {
	switch v {
	case 'd':
		return `( *[-+]?\d+)`
	case 'x', 'X':
		return `([0-9a-fA-F]+)`
	case 'q':
		return `("(?:[^"\\]|\\.)*"|` + "`[^`]*`" + `)`
	}
	return "(.*?)"
}

// Fault is an API fault's message in lang. English is the message itself;
// Japanese is its translation, or, for a message not yet translated, the
// kind's general Japanese text followed by the English message.
func (c *Catalogue) Fault(lang, kind, message string) string {
	if lang == "en" {
		return message
	}
	if s, ok := c.translateFault(message, 3); ok {
		return s
	}
	general := c.MustText(lang, "fault."+kind)
	return general + "（" + message + "）"
}

// translateFault is message in Japanese, if a pattern matches it. The
// values the English carried are put into the Japanese as they were (a %q
// value keeps its quotes); a value given by %s, %v or %w that is itself a
// message with a translation is translated too, depth levels down.
func (c *Catalogue) translateFault(message string, depth int) (string, bool) {
	for _, f := range c.faults {
		m := f.en.FindStringSubmatch(message)
		if m == nil {
			continue
		}
		args := make([]any, len(m)-1)
		for i, v := range m[1:] {
			args[i] = v
			if depth > 0 && i < len(f.nested) && f.nested[i] {
				if s, ok := c.translateFault(v, depth-1); ok {
					args[i] = s
				}
			}
		}
		return fmt.Sprintf(jaFormat(f.ja), args...), true
	}
	return "", false
}
