package network

import (
	"encoding/json"
	"reflect"
	"strconv"
)

// ASN is an AS number as the customer may write it (docs/service-spec.md
// §6): a JSON number (65001) or a string in plain ("65001"), prefixed
// ("AS65001") or asdot ("2.10" = 131082) notation. Every answer spells it as
// a plain JSON number. AS 0 is never an AS number: sent explicitly it is
// refused when the document is read, so that a configuration which leaves
// the hub ASN out (and gets the deployment's default) cannot be confused
// with one that asked for 0.
type ASN uint32

// UnmarshalJSON reads any of the documented spellings and refuses the rest,
// 0 included, with a type error that the web layer turns into a field error
// (it carries the literal, to find the field among several with one name).
func (a *ASN) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return asnError(b)
		}
	}
	v, err := ParseASN(s)
	if err != nil || v == 0 {
		return asnError(b)
	}
	*a = ASN(v)
	return nil
}

// JSONForm says what UnmarshalJSON accepts.
func (ASN) JSONForm() string {
	return `an AS number from 1 to 4294967295: 65001, "AS65001" or asdot "2.10"`
}

func asnError(b []byte) error {
	return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[ASN]()}
}

// Tunable is a layer-2 guard value the customer may leave out to get the
// service default (Normalize fills it). 0 is never a value: sent
// explicitly it is refused when the document is read rather than silently
// replaced by the default.
type Tunable int

// UnmarshalJSON reads a whole JSON number other than 0; the range of each
// field is Validate's.
func (t *Tunable) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil || v == 0 {
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Tunable]()}
	}
	*t = Tunable(v)
	return nil
}

// JSONForm says what UnmarshalJSON accepts.
func (Tunable) JSONForm() string {
	return "a whole number other than 0; leave it out for the service default"
}
