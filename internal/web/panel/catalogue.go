package panel

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Catalogue holds every text of the panel in both languages. Its files are
// messages/<area>.json, one per part of the panel so that parts are edited
// apart, each an object of key → {"ja": …, "en": …}. A key is defined once
// across all files, and each of its texts must be present and non-empty in
// both languages and take the same fmt verbs.
type Catalogue struct {
	texts map[string]map[string]string // key → language → text
	file  map[string]string            // key → file that defines it
	// faults translate the API's English fault messages (faults.go).
	faults []faultText
}

var keyRE = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_-]+)+$`)

// verbRE finds the fmt verbs of a text, so that both languages of a key take
// the same arguments.
var verbRE = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[vsdqxXfg]`)

// LoadCatalogue reads and checks every catalogue file.
func LoadCatalogue() (*Catalogue, error) {
	c := &Catalogue{texts: map[string]map[string]string{}, file: map[string]string{}}
	names, err := fs.Glob(files, "messages/*.json")
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, name := range names {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		var m map[string]map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", name, err)
		}
		for key, texts := range m {
			if !keyRE.MatchString(key) {
				problems = append(problems, fmt.Sprintf("%s: key %q is not area.name", name, key))
			}
			if prev, dup := c.file[key]; dup {
				problems = append(problems, fmt.Sprintf("%s: key %q is also defined in %s", name, key, prev))
			}
			for lang := range texts {
				if !isLanguage(lang) {
					problems = append(problems, fmt.Sprintf("%s: key %q has unknown language %q", name, key, lang))
				}
			}
			for _, lang := range Languages {
				if strings.TrimSpace(texts[lang]) == "" {
					problems = append(problems, fmt.Sprintf("%s: key %q has no %s text", name, key, lang))
				}
			}
			if a, b := verbs(texts["ja"]), verbs(texts["en"]); a != b {
				problems = append(problems, fmt.Sprintf("%s: key %q takes %q in ja but %q in en", name, key, a, b))
			}
			c.texts[key], c.file[key] = texts, path.Base(name)
		}
	}
	if c.faults, err = loadFaults(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("catalogue:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, nil
}

// verbs lists a text's fmt verbs in order, as one string.
func verbs(s string) string {
	s = strings.ReplaceAll(s, "%%", "")
	return strings.Join(verbRE.FindAllString(s, -1), " ")
}

func isLanguage(l string) bool {
	for _, x := range Languages {
		if x == l {
			return true
		}
	}
	return false
}

// Has says whether key is in the catalogue.
func (c *Catalogue) Has(key string) bool { _, ok := c.texts[key]; return ok }

// Keys lists every key, sorted.
func (c *Catalogue) Keys() []string {
	out := make([]string, 0, len(c.texts))
	for k := range c.texts {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Text is key's text in lang, formatted with args. A key the catalogue lacks
// is an error: the page that asked for it fails to render rather than show a
// raw key.
func (c *Catalogue) Text(lang, key string, args ...any) (string, error) {
	texts, ok := c.texts[key]
	if !ok {
		return "", fmt.Errorf("catalogue has no key %q", key)
	}
	t, ok := texts[lang]
	if !ok {
		return "", fmt.Errorf("catalogue key %q has no %s text", key, lang)
	}
	if len(args) == 0 {
		return strings.ReplaceAll(t, "%%", "%"), nil
	}
	return fmt.Sprintf(t, args...), nil
}

// MustText is Text for keys written in Go code, which the catalogue test
// checks (catalogue_test.go scans the code for them): a missing one there
// shows the key rather than fail a page.
func (c *Catalogue) MustText(lang, key string, args ...any) string {
	s, err := c.Text(lang, key, args...)
	if err != nil {
		return key
	}
	return s
}
