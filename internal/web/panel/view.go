package panel

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/clock"
)

// View is what every page renders: who is looking, in which language, the
// page's own data, and what a form that was refused said.
type View struct {
	Lang string // "ja" or "en"
	Side string // "customer" or "operator"
	Page string // set by Render: the page's name
	Path string // the request's path, for the navigation and the language switch
	User *User  // nil when nobody is signed in
	Nav  []NavItem
	// Flash is a catalogue key shown once after a redirect ("saved").
	Flash string
	// Error is a message for the whole form, and Errors one per field
	// (the form field's name → message), both already in Lang.
	Error  string
	Errors map[string]string
	// Form is what the refused form sent, so that the page shows it again.
	Form url.Values
	Data any
	// Allow says whether the viewer's role may perform an action (the
	// permission table's action name); nil allows nothing.
	Allow func(action string) bool
}

// User is the signed-in person, as the pages show them.
type User struct {
	LoginID    string
	Role       string
	CustomerID string
}

// NavItem is one entry of the navigation.
type NavItem struct {
	Href    string
	Key     string // catalogue key of its label
	Current bool
}

// Can says whether the viewer may perform action; pages show a control only
// when it does (the handler checks again: hiding is not the protection).
func (v *View) Can(action string) bool { return v.Allow != nil && v.Allow(action) }

// Value is the form field's value as the refused form sent it, or def
// formatted when no form was sent.
func (v *View) Value(name string, def any) string {
	if v.Form != nil {
		if _, sent := v.Form[name]; sent {
			return v.Form.Get(name)
		}
	}
	if def == nil {
		return ""
	}
	return fmt.Sprint(def)
}

// FieldError is the message for the form field name, or "".
func (v *View) FieldError(name string) string { return v.Errors[name] }

func (r *Renderer) funcs(lang string) template.FuncMap {
	return template.FuncMap{
		// t is the catalogue text of key in this language; a missing key
		// fails the render.
		"t": func(key string, args ...any) (string, error) { return r.cat.Text(lang, key, args...) },
		// tk is t for a key built at run time (a role, a state, a kind):
		// "tk "state." .State" reads state.up.
		"tk": func(prefix string, name any) (string, error) {
			return r.cat.Text(lang, prefix+strings.ReplaceAll(fmt.Sprint(name), "-", "_"))
		},
		// faultText is an API refusal's English message in this
		// language (Catalogue.Fault), for messages a page lists itself
		// (a review's problems).
		"faultText": func(message string) string { return r.cat.Fault(lang, "invalid", message) },
		"jst":       formatJST,
		"jstDate":   formatJSTDate,
		"bps":       FormatBPS,
		"pct":       func(part, whole float64) int { return Percent(part, whole) },
		"dict":      dict,
		"seq": func(n int) []int {
			s := make([]int, n)
			for i := range s {
				s[i] = i
			}
			return s
		},
		"add":     func(a, b int) int { return a + b },
		"join":    strings.Join,
		"lang":    func() string { return lang },
		"pathEsc": url.PathEscape,
		"query":   url.QueryEscape,
	}
}

// formatJST shows a time in JST to the minute, "2026-12-06 17:55 JST"; the
// zero time and nil show as a dash.
func formatJST(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return "—"
	}
	return clock.Read(t)
}

func formatJSTDate(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return "—"
	}
	return t.In(clock.JST).Format(clock.DateLayout)
}

func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t == nil {
			return time.Time{}, false
		}
		return *t, !t.IsZero()
	case string:
		p, err := time.Parse(time.RFC3339Nano, t)
		return p, err == nil && !p.IsZero()
	}
	return time.Time{}, false
}

// FormatBPS shows a rate in bit/s the way contracts name speeds: 100M, 1G,
// 2.5G.
func FormatBPS(v any) string {
	var n float64
	switch x := v.(type) {
	case int:
		n = float64(x)
	case int64:
		n = float64(x)
	case uint64:
		n = float64(x)
	case float64:
		n = x
	default:
		return fmt.Sprint(v)
	}
	for _, u := range []struct {
		div  float64
		unit string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if n >= u.div {
			return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", n/u.div), "0"), ".") + u.unit
		}
	}
	return fmt.Sprintf("%.0f", n)
}

// Percent is part of whole in whole percent, 0 when whole is not positive,
// capped at 999 so that a bar never runs off the page.
func Percent(part, whole float64) int {
	if whole <= 0 {
		return 0
	}
	return min(999, int(part*100/whole+0.5))
}

// dict builds a map from key, value pairs, to hand several values to a
// partial template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}
