package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// The strict JSON reader. encoding/json alone accepts duplicate keys (the
// last one wins, and keys match fields without regard to case), replaces
// invalid UTF-8 and lone surrogate escapes with U+FFFD, and names a field
// in a type error without the list indexes the client sent. A token-level
// pass over the body refuses the first two before anything is unmarshalled,
// and remembers where every value sits so that a type error names the
// exact path (objects.services[2].name).

// jsonValue is one value of the body: its path as the client sent it, the
// same path without list indexes (how encoding/json names a field), and
// where it sits in the body.
type jsonValue struct {
	path, bare string
	start, end int64
	raw        string // scalars only: the literal as sent
}

// jsonIndex is every value of a body, in document order.
type jsonIndex []jsonValue

// scanJSON walks one JSON value and refuses duplicate keys and text that is
// not valid UTF-8. Syntax errors come back as encoding/json's own. With
// index it also returns where every value sits; that is asked for only to
// name the field of a type error, so a large valid body (a node's report)
// costs no index.
func scanJSON(body []byte, index bool) (jsonIndex, error) {
	s := &jsonScan{body: body, dec: json.NewDecoder(bytes.NewReader(body)), index: index}
	s.dec.UseNumber()
	if err := s.value("", ""); err != nil {
		return nil, err
	}
	if _, err := s.dec.Token(); err != io.EOF {
		return nil, fault.New(fault.Invalid, "the body must hold exactly one JSON object")
	}
	return s.idx, nil
}

type jsonScan struct {
	body  []byte
	dec   *json.Decoder
	index bool
	idx   jsonIndex
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (s *jsonScan) value(path, bare string) error {
	start := s.dec.InputOffset()
	tok, err := s.dec.Token()
	if err != nil {
		return err
	}
	at := -1
	if s.index {
		at = len(s.idx)
		s.idx = append(s.idx, jsonValue{path: path, bare: bare, start: start})
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			for i := 0; s.dec.More(); i++ {
				if err := s.value(path+"["+strconv.Itoa(i)+"]", bare); err != nil {
					return err
				}
			}
		} else {
			seen := map[string]bool{}
			for s.dec.More() {
				kstart := s.dec.InputOffset()
				ktok, err := s.dec.Token()
				if err != nil {
					return err
				}
				key, _ := ktok.(string)
				kpath := joinKey(path, key)
				if err := s.text(kpath, kstart, key); err != nil {
					return err
				}
				// encoding/json matches keys to fields without regard to
				// case, so "Name" after "name" overwrites it just the same.
				if fold := strings.ToLower(key); seen[fold] {
					return fault.Field(kpath, "%s is given twice", kpath)
				} else {
					seen[fold] = true
				}
				if err := s.value(kpath, joinKey(bare, key)); err != nil {
					return err
				}
			}
		}
		if _, err := s.dec.Token(); err != nil { // the closing delimiter
			return err
		}
	case string:
		if err := s.text(path, start, t); err != nil {
			return err
		}
		if at >= 0 {
			s.idx[at].raw = string(bytes.TrimLeft(s.body[start:s.dec.InputOffset()], " \t\r\n,:"))
		}
	default:
		if at >= 0 {
			s.idx[at].raw = string(bytes.TrimLeft(s.body[start:s.dec.InputOffset()], " \t\r\n,:"))
		}
	}
	if at >= 0 {
		s.idx[at].end = s.dec.InputOffset()
	}
	return nil
}

// text refuses a string (key or value) whose bytes are not valid UTF-8 or
// that escapes a lone surrogate (\ud800): both would be stored as U+FFFD.
func (s *jsonScan) text(path string, start int64, decoded string) error {
	raw := s.body[start:s.dec.InputOffset()]
	bad := !utf8.Valid(raw)
	if !bad && strings.ContainsRune(decoded, utf8.RuneError) {
		// The replacement character is fine when the client sent it.
		bad = !bytes.Contains(raw, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
	}
	if bad {
		name := path
		if name == "" {
			name = "the body"
		}
		return fault.Field(path, "%s must be valid UTF-8 text", name)
	}
	return nil
}

// locate returns the client's path of the value a type error is about:
// among the values at the error's field (a path without indexes), the
// innermost one that holds the error's offset, or else the one whose
// literal the error quotes (a type's own UnmarshalJSON knows no offset).
func (x jsonIndex) locate(e *json.UnmarshalTypeError) string {
	var cands []jsonValue
	for _, v := range x {
		if v.bare == e.Field {
			cands = append(cands, v)
		}
	}
	if len(cands) == 0 {
		return e.Field
	}
	best := -1
	for i, v := range cands {
		if v.start <= e.Offset && e.Offset <= v.end && (best < 0 || v.start >= cands[best].start) {
			best = i
		}
	}
	if best >= 0 && e.Offset > 0 {
		return cands[best].path
	}
	for _, v := range cands {
		if v.raw != "" && v.raw == e.Value {
			return v.path
		}
	}
	return cands[0].path
}

// jsonForm is implemented by types with their own JSON spelling (an AS
// number as a number or "AS65001"); the message then says what is accepted.
type jsonForm interface{ JSONForm() string }

// typeFault is the refusal of a type error at field ("" for the body as a
// whole): what the field takes, in words where its type says them. Each
// case is its own format, for the panel to translate.
func typeFault(field string, e *json.UnmarshalTypeError) error {
	var form jsonForm
	if e.Type != nil {
		form, _ = reflect.New(e.Type).Elem().Interface().(jsonForm)
	}
	switch {
	case field == "" && form != nil:
		return fault.New(fault.Invalid, "the body must be %s", form.JSONForm())
	case field == "" && e.Type != nil:
		return fault.New(fault.Invalid, "the body must be a JSON %s", e.Type.Kind().String())
	case field == "":
		return fault.New(fault.Invalid, "the body has the wrong JSON type")
	case form != nil:
		return fault.Field(field, "%s must be %s", field, form.JSONForm())
	case e.Type != nil:
		return fault.Field(field, "%s must be a JSON %s", field, e.Type.Kind().String())
	}
	return fault.Field(field, "%s has the wrong JSON type", field)
}

// strictUnmarshal reads body, which holds exactly one JSON value, into v:
// duplicate keys, invalid UTF-8, unknown fields, wrong types and trailing
// data are refused, each naming the field as the client sent it.
func strictUnmarshal(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fault.New(fault.Invalid, "a JSON body is required")
	}
	// Every request body is one JSON object: null, a list or a bare value
	// in its place would decode into a struct as "nothing given".
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct &&
		bytes.TrimSpace(body)[0] != '{' {
		if _, err := scanJSON(body, false); err != nil {
			var syntaxErr *json.SyntaxError
			if errors.As(err, &syntaxErr) {
				return fault.New(fault.Invalid, "malformed JSON at byte %d", syntaxErr.Offset)
			}
		}
		return fault.New(fault.Invalid, "the body must be a JSON object")
	}
	_, err := scanJSON(body, false)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err == nil {
		return nil
	}
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case fault.Is(err, fault.Invalid):
		return err
	case errors.As(err, &typeErr):
		idx, _ := scanJSON(body, true) // the same body: it scanned cleanly above
		field := idx.locate(typeErr)
		return typeFault(field, typeErr)
	case errors.As(err, &syntaxErr):
		return fault.New(fault.Invalid, "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fault.New(fault.Invalid, "malformed JSON: the body ends early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fault.Field(name, "unknown field %q", name)
	}
	return fault.Wrap(fault.Invalid, err, "the body is not valid JSON for this request")
}
