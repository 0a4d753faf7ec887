package panel

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var updateGolden = os.Getenv("TSUNAGI_UPDATE_GOLDEN") == "1"

// TestTopologyGolden renders each case of testdata/topology (input.json,
// a TopologyInput) in both languages and compares the SVG and its table
// with <lang>.html; TSUNAGI_UPDATE_GOLDEN=1 rewrites them.
func TestTopologyGolden(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob("testdata/topology/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, "input.json"))
			if err != nil {
				t.Fatal(err)
			}
			var in TopologyInput
			if err := json.Unmarshal(b, &in); err != nil {
				t.Fatal(err)
			}
			for _, lang := range Languages {
				got := renderTopology(t, r, lang, LayoutTopology(in))
				want := filepath.Join(dir, lang+".html")
				if updateGolden {
					if err := os.WriteFile(want, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				w, err := os.ReadFile(want)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, w) {
					t.Errorf("%s: the picture differs from %s (TSUNAGI_UPDATE_GOLDEN=1 to accept):\n%s", lang, want, got)
				}
			}
		})
	}
}

func renderTopology(t *testing.T, r *Renderer, lang string, topo Topology) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := r.pages[lang]["error"].ExecuteTemplate(&buf, "topology", topo); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The picture does not depend on the order of its input, says every
// state in words as well as colour, and draws each port once under its
// hub with what lies beyond it.
func TestTopologyProperties(t *testing.T) {
	in := TopologyInput{
		Hubs: []TopologyHub{{ID: "h2", RegionName: "Osaka", Priority: "sub"}, {ID: "h1", RegionName: "Tokyo", Priority: "main"}},
		Ports: []TopologyPort{{Code: "shc2", HubID: "h1", Kind: "a-public", State: StateHeld},
			{Code: "shc1", HubID: "h1", Kind: "onprem", State: StateUp}, {Code: "shc3", HubID: "h2", Kind: "m-public", State: StateDown}},
		Backbone: []TopologyLink{{A: "h2", B: "h1", State: StateDegraded}, {A: "h1", B: "h9", State: StateUp}},
	}
	a := LayoutTopology(in)
	rev := TopologyInput{Hubs: slices.Clone(in.Hubs), Ports: slices.Clone(in.Ports), Backbone: in.Backbone[:1]}
	slices.Reverse(rev.Hubs)
	slices.Reverse(rev.Ports)
	rev.Backbone = []TopologyLink{{A: "h1", B: "h2", State: StateDegraded}}
	if b := LayoutTopology(rev); !reflect.DeepEqual(a, b) {
		t.Errorf("input order changes the picture:\n%+v\n%+v", a, b)
	}
	if a.Hubs[0].Priority != "main" || len(a.Backbone) != 1 || len(a.Ports) != 3 || len(a.Ends) != 3 {
		t.Fatalf("layout: %+v", a)
	}
	if a.Ports[0].Code != "shc1" || a.Ports[0].End != "site" || a.Ports[1].End != "aws" || a.Ports[2].End != "azure" {
		t.Errorf("ports: %+v", a.Ports)
	}
	for _, p := range a.Ports {
		if p.CX < 0 || p.CX > a.Width || p.CY > a.Height {
			t.Errorf("port %s outside the picture", p.Code)
		}
	}
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	out := string(renderTopology(t, r, "en", a))
	for _, want := range []string{`role="img"`, `aria-labelledby="topo-title topo-desc"`, ">Held down<", ">Down<", ">Up<", "Degraded", `<th scope="row">shc2</th>`} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered picture lacks %q", want)
		}
	}
}
