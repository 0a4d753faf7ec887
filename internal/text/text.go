// Package text holds the one rule for the free text people type into
// tsunagi (names, reasons, comments): what a single-line field may hold and
// what a field documented as multi-line may hold in addition. Domain
// validators call it; the web layer's decoder has already refused invalid
// UTF-8, so the rule here is about characters, not encodings.
//
// Why it matters: such text is rendered into nftables rulesets, mail
// headers, CSV exports and log lines. A line break or an escape sequence in
// a firewall comment (`a";\n}\nflush ruleset\n`) or a break-glass reason
// would start a new statement, header or record there.
package text

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SingleLine reports why s cannot be a single-line text field, or "" when
// it can: it must be valid UTF-8 without control characters (C0 including
// tab, CR and LF; DEL; C1), line or paragraph separators, or the
// bidirectional overrides that make text display other than it reads.
func SingleLine(s string) string {
	return check(s, false)
}

// MultiLine is SingleLine for a field documented as multi-line: line feeds,
// carriage returns and tabs are allowed as well.
func MultiLine(s string) string {
	return check(s, true)
}

// MaxReason bounds a reason, in characters.
const MaxReason = 500

// Reason reports why s cannot be a reason — the one line an operator or a
// customer gives for an action (a drain, a move, an override, a dated
// end), recorded in the audit log — or "" when it can: not blank, at most
// MaxReason characters, and a single line (SingleLine).
func Reason(s string) string {
	if strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > MaxReason {
		return fmt.Sprintf("must be given, at most %d characters", MaxReason)
	}
	return SingleLine(s)
}

func check(s string, multi bool) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8 text"
	}
	for i, r := range s {
		if multi && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if forbidden(r) {
			what := "one line of text without control characters"
			if multi {
				what = "text without control characters other than line breaks and tabs"
			}
			return fmt.Sprintf("must be %s (found U+%04X at byte %d)", what, r, i)
		}
	}
	return ""
}

func forbidden(r rune) bool {
	switch {
	case unicode.IsControl(r): // C0, DEL, C1
		return true
	case r == '\u2028' || r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069': // bidi embeddings, overrides, isolates
		return true
	}
	return false
}
