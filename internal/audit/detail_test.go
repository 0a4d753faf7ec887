package audit

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// corruptions are the bytes a corrupted detail gets: JSON's own and a few others.
const corruptions = "{}[]\":,0123456789.eE+-tfnul\\ x\xff"

// TestDecodeDetailMatchesJSON holds the detail decoder to json.Unmarshal:
// the same map or an error alike, over random details as the log stores
// them and random corruptions of them.
func TestDecodeDetailMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 7))
	inputs := []string{"null", "{}", "{", "}", "", `{"a":1}`, `{"a":-0}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`,
		`{"a":1e400}`, `{"a":-}`, `{"a":tru}`, `{"a":true,}`, `{"a" :1}`, `{"a":1 }`, `{"a":"\u00e9"}`, `{"a":"x\ty"}`,
		`{"a":1,"a":2}`, `{"a":{"b":1}}`, `{"a":[1]}`, `{"a":"\xff"}`, `{"a":1}x`, `{"a":NaN}`, `{"a":0x10}`, `{"a":1_0}`,
		`{"a":+1}`, `{"a":1E+2,"b":2e-3}`, `{"":""}`, `[]`, `"x"`, `{"a":null,"b":false,"c":true}`}
	for range 20000 {
		d := map[string]any{}
		for range r.IntN(5) {
			d[randString(r)] = randValue(r, 2)
		}
		b, err := json.Marshal(d)
		if err != nil {
			continue
		}
		inputs = append(inputs, string(b))
		if len(b) > 0 && r.IntN(3) == 0 {
			c := []byte(string(b))
			c[r.IntN(len(c))] = corruptions[r.IntN(len(corruptions))]
			inputs = append(inputs, string(c))
		}
	}
	for _, in := range inputs {
		var want map[string]any
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := decodeDetail(in)
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, %v; encoding/json %#v, %v", in, got, err, want, wantErr)
		}
	}
}
