package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/tsunagi-net/tsunagi/internal/lookingglass"
	lgc "github.com/tsunagi-net/tsunagi/internal/network/lookingglass"
	"io"
	"log/slog"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/evidence"
	"github.com/tsunagi-net/tsunagi/internal/fleet"
	"github.com/tsunagi-net/tsunagi/internal/flows"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/mail"
	"github.com/tsunagi-net/tsunagi/internal/network"
	"github.com/tsunagi-net/tsunagi/internal/network/observed"
	"github.com/tsunagi-net/tsunagi/internal/notice"
	"github.com/tsunagi-net/tsunagi/internal/signing"
	"github.com/tsunagi-net/tsunagi/internal/usage"
)

// The OpenAPI documents are written by hand; these tests keep them true to the
// route tables. A route added to routes.go without its operation in the
// listener's document fails here, and so does an operation left behind after
// its route was removed.

// openAPIListener is one listener: its document and its route table.
type openAPIListener struct {
	name   string
	file   string
	doc    []byte
	routes []route
	side   identity.Side
}

func openAPIListeners() []openAPIListener {
	// The route tables only take method values; nothing is called, so a server
	// without dependencies will do.
	s := New(Config{}, Deps{Log: slog.New(slog.DiscardHandler)})
	return []openAPIListener{
		{"customer", "openapi-customer.json", openapiCustomer, s.customerRoutes(), identity.CustomerSide},
		{"management", "openapi-operator.json", openapiOperator, s.mgmtRoutes(), identity.OperatorSide},
	}
}

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIPath turns a net/http pattern path into OpenAPI's form: {name...}
// becomes {name}, and {$} (exact match of a trailing slash) is dropped.
func openAPIPath(p string) string {
	p = strings.ReplaceAll(p, "{$}", "")
	return regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\.\.\.\}`).ReplaceAllString(p, "{$1}")
}

// operation is one operation of a document, with its key.
type operation struct {
	key  string // "GET /api/v1/me"
	path string
	item map[string]any // the path item, for path-level parameters
	op   map[string]any
}

func loadOpenAPI(t *testing.T, l openAPIListener) (map[string]any, []operation) {
	t.Helper()
	if err := checkDuplicateKeys(l.doc); err != nil {
		t.Fatalf("%s: %v", l.file, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(l.doc, &doc); err != nil {
		t.Fatalf("%s does not parse: %v", l.file, err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("%s: openapi is %q, want 3.1.x", l.file, v)
	}
	info, _ := doc["info"].(map[string]any)
	for _, k := range []string{"title", "version", "description"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("%s: info.%s is missing", l.file, k)
		}
	}
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no paths object", l.file)
	}
	var ops []operation
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: path %s is not an object", l.file, path)
			continue
		}
		for _, m := range openAPIMethods {
			if o, ok := item[m].(map[string]any); ok {
				ops = append(ops, operation{strings.ToUpper(m) + " " + path, path, item, o})
			}
		}
	}
	slices.SortFunc(ops, func(a, b operation) int { return strings.Compare(a.key, b.key) })
	return doc, ops
}

// TestOpenAPIMatchesRoutes: each listener's document lists exactly its routes.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	for _, l := range openAPIListeners() {
		t.Run(l.name, func(t *testing.T) {
			_, ops := loadOpenAPI(t, l)
			documented := map[string]bool{}
			for _, o := range ops {
				documented[o.key] = true
			}
			inTable := map[string]bool{}
			for _, rt := range l.routes {
				k := rt.Method + " " + openAPIPath(rt.Path)
				if inTable[k] {
					t.Errorf("route %s is in the table twice", k)
				}
				inTable[k] = true
				if !documented[k] {
					t.Errorf("route %s (routes.go) is missing from %s", k, l.file)
				}
			}
			for _, o := range ops {
				if !inTable[o.key] {
					t.Errorf("%s documents %s, which is not in the %s route table", l.file, o.key, l.name)
				}
			}
		})
	}
}

// TestEveryRouteActionDocumented: every action a route names is in the
// permission table's documented actions (and so in docs/roles.md).
func TestEveryRouteActionDocumented(t *testing.T) {
	known := map[identity.Action]bool{}
	for _, a := range identity.Actions() {
		known[a.Action] = true
	}
	for _, l := range openAPIListeners() {
		for _, rt := range l.routes {
			if rt.Action != "" && !known[rt.Action] {
				t.Errorf("%s: %s %s needs %s, which internal/identity/permissions.go does not document", l.name, rt.Method, rt.Path, rt.Action)
			}
		}
	}
}

// TestOpenAPIOperations: every operation is complete, and its security matches
// the route's authentication.
func TestOpenAPIOperations(t *testing.T) {
	for _, l := range openAPIListeners() {
		t.Run(l.name, func(t *testing.T) {
			doc, ops := loadOpenAPI(t, l)
			actions := map[string]identity.Action{}
			for _, rt := range l.routes {
				actions[rt.Method+" "+openAPIPath(rt.Path)] = rt.Action
			}
			schemes, _ := pointer(doc, "#/components/securitySchemes").(map[string]any)
			if c, _ := schemes["sessionCookie"].(map[string]any); c["in"] != "cookie" || c["name"] != cookieName(l.side) {
				t.Errorf("%s: components.securitySchemes.sessionCookie must be the cookie %s", l.file, cookieName(l.side))
			}
			if b, _ := schemes["bearerToken"].(map[string]any); b["type"] != "http" || b["scheme"] != "bearer" {
				t.Errorf("%s: components.securitySchemes.bearerToken must be HTTP bearer", l.file)
			}
			ids := map[string]string{}
			for _, o := range ops {
				id, _ := o.op["operationId"].(string)
				switch {
				case id == "":
					t.Errorf("%s: %s has no operationId", l.file, o.key)
				case ids[id] != "":
					t.Errorf("%s: operationId %s is used by %s and %s", l.file, id, ids[id], o.key)
				default:
					ids[id] = o.key
				}
				if s, _ := o.op["summary"].(string); strings.TrimSpace(s) == "" {
					t.Errorf("%s: %s has no summary", l.file, o.key)
				}
				if tags, _ := o.op["tags"].([]any); len(tags) == 0 {
					t.Errorf("%s: %s has no tags", l.file, o.key)
				}
				resp, _ := o.op["responses"].(map[string]any)
				if len(resp) == 0 {
					t.Errorf("%s: %s has no responses", l.file, o.key)
				}
				checkPathParams(t, l.file, doc, o)
				action, known := actions[o.key]
				if known {
					checkSecurity(t, l.file, o, action, schemes, resp)
				}
				if strings.HasPrefix(o.path, "/api/") {
					checkErrorShape(t, l.file, doc, o, resp)
				}
				checkListParams(t, l.file, doc, o, resp)
			}
		})
	}
}

func checkSecurity(t *testing.T, file string, o operation, action identity.Action, schemes, resp map[string]any) {
	t.Helper()
	sec, present := o.op["security"].([]any)
	if action == "" {
		if !present || len(sec) != 0 {
			t.Errorf("%s: %s needs no authentication and must declare \"security\": []", file, o.key)
		}
		return
	}
	if len(sec) == 0 {
		t.Errorf("%s: %s requires authentication (%s) and must declare security (bearerToken, sessionCookie)", file, o.key, action)
	}
	for _, req := range sec {
		m, _ := req.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s: %s lists an empty security requirement, which would allow anonymous calls", file, o.key)
		}
		for name := range m {
			if schemes[name] == nil {
				t.Errorf("%s: %s uses undefined security scheme %s", file, o.key, name)
			}
		}
	}
	if got, _ := o.op["x-tsunagi-action"].(string); got != string(action) {
		t.Errorf("%s: %s: x-tsunagi-action is %q, the route table says %q", file, o.key, got, action)
	}
	if resp["401"] == nil {
		t.Errorf("%s: %s requires authentication but documents no 401", file, o.key)
	}
}

// checkPathParams: the {name}s of the path and the path parameters declared
// (on the path item or the operation) are the same set.
func checkPathParams(t *testing.T, file string, doc map[string]any, o operation) {
	t.Helper()
	var inPath []string
	for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(o.path, -1) {
		inPath = append(inPath, m[1])
	}
	var declared []string
	for _, list := range []any{o.item["parameters"], o.op["parameters"]} {
		ps, _ := list.([]any)
		for _, p := range ps {
			pm, _ := resolve(doc, p).(map[string]any)
			if pm["in"] == "path" {
				if pm["required"] != true {
					t.Errorf("%s: %s: path parameter %v must be required", file, o.key, pm["name"])
				}
				declared = append(declared, fmt.Sprint(pm["name"]))
			}
		}
	}
	slices.Sort(inPath)
	slices.Sort(declared)
	if !slices.Equal(inPath, declared) {
		t.Errorf("%s: %s: path parameters declared %v, the path has %v", file, o.key, declared, inPath)
	}
}

// checkErrorShape: every JSON error answer of the API is the one error shape.
func checkErrorShape(t *testing.T, file string, doc map[string]any, o operation, resp map[string]any) {
	t.Helper()
	for code, r := range resp {
		if code < "400" {
			continue
		}
		rm, _ := resolve(doc, r).(map[string]any)
		content, _ := rm["content"].(map[string]any)
		js, _ := content["application/json"].(map[string]any)
		if js == nil {
			continue
		}
		if s, _ := js["schema"].(map[string]any); s["$ref"] != "#/components/schemas/Error" {
			t.Errorf("%s: %s: the JSON %s answer must be #/components/schemas/Error", file, o.key, code)
		}
	}
}

// checkListParams: an operation answering a list takes limit and after. An
// operation may say otherwise with "x-tsunagi-paging": "none" (never paged)
// or "before" (newest first, paged with limit and before).
func checkListParams(t *testing.T, file string, doc map[string]any, o operation, resp map[string]any) {
	t.Helper()
	want := []string{"limit", "after"}
	switch o.op["x-tsunagi-paging"] {
	case nil:
	case "none":
		return
	case "before":
		want = []string{"limit", "before"}
	default:
		t.Errorf("%s: %s: x-tsunagi-paging must be \"none\" or \"before\"", file, o.key)
	}
	r, _ := resolve(doc, resp["200"]).(map[string]any)
	content, _ := r["content"].(map[string]any)
	js, _ := content["application/json"].(map[string]any)
	schema, _ := resolve(doc, js["schema"]).(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	if props["items"] == nil || props["next_after"] == nil {
		return
	}
	query := map[string]bool{}
	ps, _ := o.op["parameters"].([]any)
	for _, p := range ps {
		if pm, _ := resolve(doc, p).(map[string]any); pm["in"] == "query" {
			query[fmt.Sprint(pm["name"])] = true
		}
	}
	for _, q := range want {
		if !query[q] {
			t.Errorf("%s: %s answers a list but does not declare the %s query parameter", file, o.key, q)
		}
	}
}

// TestOpenAPIRefs: every $ref resolves inside its document.
func TestOpenAPIRefs(t *testing.T) {
	for _, l := range openAPIListeners() {
		t.Run(l.name, func(t *testing.T) {
			doc, _ := loadOpenAPI(t, l)
			var walk func(at string, v any)
			walk = func(at string, v any) {
				switch v := v.(type) {
				case map[string]any:
					if r, ok := v["$ref"]; ok {
						s, _ := r.(string)
						if !strings.HasPrefix(s, "#/") || pointer(doc, s) == nil {
							t.Errorf("%s: %s: $ref %v does not resolve inside the document", l.file, at, r)
						}
					}
					for k, x := range v {
						walk(at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), x)
					}
				case []any:
					for i, x := range v {
						walk(fmt.Sprintf("%s/%d", at, i), x)
					}
				}
			}
			walk("#", doc)
		})
	}
}

// pointer resolves a local JSON pointer such as #/components/schemas/Error;
// nil when it does not resolve.
func pointer(doc map[string]any, ref string) any {
	var cur any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[tok]; !ok {
			return nil
		}
	}
	return cur
}

// resolve follows $ref (repeatedly) to the object it names.
func resolve(doc map[string]any, v any) any {
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		r, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		v = pointer(doc, r)
	}
	return v
}

// checkDuplicateKeys reports an object key given twice: encoding/json would
// keep only the last, so a second "get" under a path would hide the first.
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var value func(at string) error
	value = func(at string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if seen[k] {
					return fmt.Errorf("key %q appears twice in %s", k, at)
				}
				seen[k] = true
				if err := value(at + "/" + k); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := value(fmt.Sprintf("%s/%d", at, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := value("#"); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("trailing data after the document")
	}
	return nil
}

// TestOpenAPISchemasMatchGoTypes: the component schemas name the JSON fields
// of the Go types the handlers decode and encode. A request schema lists
// exactly the fields its type accepts (anything else is refused); an answer
// schema requires every field that is always sent and invents none.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	type shape struct {
		schema string
		typ    any
		input  bool
	}
	common := []shape{
		{"Error", errorBody{}, false},
		{"LoginInput", loginInput{}, true},
		{"Me", meBody{}, false},
		{"SetupInput", identity.SetupInput{}, true},
		{"Account", identity.Account{}, false},
		{"AccountList", list[identity.Account]{}, false},
		{"TokenInput", identity.TokenInput{}, true},
		{"NewToken", tokenBody{}, false},
		{"Region", catalog.Region{}, false},
		{"RegionList", list[catalog.Region]{}, false},
		{"Contract", catalog.Contract{}, false},
		{"ContractList", list[catalog.Contract]{}, false},
		{"Option", catalog.Option{}, false},
		{"Hub", catalog.Hub{}, false},
		{"HubList", list[catalog.Hub]{}, false},
		{"Port", catalog.Port{}, false},
		{"PortList", list[catalog.Port]{}, false},
		{"ResetInput", identity.ResetInput{}, true},
		{"PasswordInput", identity.PasswordInput{}, true},
		{"Session", identity.Session{}, false},
		{"SessionList", list[identity.Session]{}, false},
		{"Token", identity.Token{}, false},
		{"TokenList", list[identity.Token]{}, false},
		{"RoleInput", identity.RoleInput{}, true},
		{"AuditEntry", audit.Entry{}, false},
		{"AuditEntryList", list[audit.Entry]{}, false},
		{"Signature", signing.Signature{}, false},
		{"SignedHead", evidence.SignedHead{}, false},
		{"Checkpoint", evidence.Checkpoint{}, false},
		{"Verdict", evidence.Verdict{}, false},
		{"InviteInput", identity.InviteInput{}, true},
		{"CodeInput", identity.CodeInput{}, true},
		{"ReauthInput", identity.ReauthInput{}, true},
		{"PasswordProof", identity.PasswordProof{}, true},
		{"TOTPEnrolment", identity.TOTPEnrolment{}, false},
		{"RecoveryCodes", recoveryCodes{}, false},
		{"WebAuthnKey", identity.WebAuthnKey{}, false},
		{"WebAuthnKeyList", list[identity.WebAuthnKey]{}, false},
		// reports (handlers_reports.go), on both listeners
		{"Report", notice.Report{}, false},
		{"ReportList", list[notice.Report]{}, false},
		{"ReportDetail", notice.ReportDetail{}, false},
		{"ReportMessage", notice.ReportMessage{}, false},
		{"ReportAttachment", notice.Attachment{}, false},
		{"ReplyInput", notice.ReplyInput{}, true},
	}
	perListener := map[string][]shape{
		"customer": append(slices.Clip(common),
			shape{"Customer", catalog.Customer{}, false},
			shape{"SecurityPolicy", identity.SecurityPolicy{}, false},
			shape{"SecurityPolicy", identity.PolicyInput{}, true},
			shape{"Device", identity.Device{}, false},
			shape{"DeviceList", list[identity.Device]{}, false},
			shape{"DeviceInput", identity.DeviceInput{}, true},
			shape{"NetworkConfig", network.Config{}, false},
			shape{"NetworkConfig", network.Config{}, true},
			shape{"NetworkConfigInput", network.Config{}, true},
			shape{"HubConfig", network.HubConfig{}, true},
			shape{"PortConfig", network.PortConfig{}, false},
			shape{"PortConfig", network.PortConfig{}, true},
			shape{"PortConfigInput", network.PortConfig{}, true},
			shape{"OnPremConnection", network.OnPremConnection{}, false},
			shape{"OnPremConnection", network.OnPremConnection{}, true},
			shape{"OnPremConnectionInput", network.OnPremConnection{}, true},
			shape{"L2Guard", network.L2Guard{}, true},
			shape{"CloudConnection", network.CloudConnection{}, false},
			shape{"CloudConnection", network.CloudConnection{}, true},
			shape{"Link", network.Link{}, true},
			shape{"RoutePolicy", network.RoutePolicy{}, false},
			shape{"RoutePolicy", network.RoutePolicy{}, true},
			shape{"Firewall", network.Firewall{}, true},
			shape{"FirewallRule", network.Rule{}, false},
			shape{"FirewallRule", network.Rule{}, true},
			shape{"FirewallObjects", network.Objects{}, true},
			shape{"AddressObject", network.AddressObject{}, true},
			shape{"ServiceObject", network.ServiceObject{}, false},
			shape{"ServiceObject", network.ServiceObject{}, true},
			shape{"ApplicationObject", network.ApplicationObject{}, true},
			shape{"NAPTGrade", network.NAPTGrade{}, true},
			shape{"StaticNAT", network.StaticNAT{}, true},
			shape{"EditLock", network.Lock{}, false},
			shape{"Draft", network.Draft{}, false},
			shape{"Editing", network.Editing{}, false},
			shape{"Version", network.Version{}, false},
			shape{"VersionSummary", network.VersionSummary{}, false},
			shape{"VersionSummaryList", list[network.VersionSummary]{}, false},
			shape{"Review", network.Review{}, false},
			shape{"Change", network.Change{}, false},
			shape{"Problem", network.Problem{}, false},
			shape{"RiskReason", network.Reason{}, false},
			shape{"NATAddresses", natView{}, false},
			shape{"BGPState", network.BGPState{}, false},
			shape{"LookingGlass", lookingglass.View{}, false},
			shape{"LookingGlassAnswer", lgc.Answer{}, false},
			shape{"LookingGlassReceived", lgc.ReceivedRoute{}, false},
			shape{"LookingGlassAdvertised", lgc.AdvertisedRoute{}, false},
			shape{"RouteQuota", network.PortQuota{}, false},
			shape{"SessionQuota", network.SessionQuota{}, false},
			shape{"PortGuardState", network.PortGuardState{}, false},
			shape{"BandwidthChange", network.BandwidthChange{}, false},
			shape{"BandwidthChangeList", list[network.BandwidthChange]{}, false},
			shape{"HubDataplane", hubDataplane{}, false},
			shape{"PortDataplane", observed.Port{}, false},
			shape{"SessionDataplane", observed.Session{}, false},
			shape{"RefusedPrefix", observed.Refused{}, false},
			shape{"LinkDataplane", observed.Link{}, false},
			shape{"DataplaneProblem", observed.Problem{}, false},
			shape{"FirewallRuleCounter", observed.RuleCounter{}, false},
			// reports (handlers_reports.go)
			shape{"ReportInput", notice.ReportInput{}, true},
			// audit evidence (handlers_evidence.go)
			shape{"ChainStatus", evidence.ChainStatus{}, false},
			shape{"EvidenceExportInput", windowInput{}, true},
			// usage records (handlers_usage.go)
			shape{"UsageBin", usage.Bin{}, false},
			shape{"UsageTotals", usage.Totals{}, false},
			shape{"PortUsage", usage.PortUsage{}, false},
			shape{"UsageList", usageList{}, false},
			shape{"FirewallCounters", usage.FirewallCounters{}, false},
			// flow records (handlers_flows.go)
			shape{"FlowPage", flows.Page{}, false},
			shape{"Flow", flows.Flow{}, false},
			shape{"FlowCounts", flows.Counts{}, false},
		),
		"management": append(slices.Clip(common),
			shape{"RegionInput", catalog.RegionInput{}, true},
			shape{"Node", catalog.Node{}, false},
			shape{"NodeList", list[catalog.Node]{}, false},
			shape{"NodeInput", catalog.NodeInput{}, true},
			shape{"EnrolToken", fleet.EnrolToken{}, false},
			shape{"NodeRevokeInput", revokeInput{}, true},
			shape{"NodeStatus", fleet.Status{}, false},
			shape{"NodeHubStatus", fleet.HubStatus{}, false},
			shape{"NodeHold", observed.Hold{}, false},
			shape{"DataplaneProblem", observed.Problem{}, false},
			shape{"PhysicalPort", catalog.PhysicalPort{}, true}, // both ways; every field is always sent
			shape{"Customer", catalog.Customer{}, false},
			shape{"CustomerList", list[catalog.Customer]{}, false},
			shape{"CustomerInput", catalog.CustomerInput{}, true},
			shape{"ContractInput", catalog.ContractInput{}, true},
			shape{"OptionInput", catalog.OptionInput{}, true},
			shape{"CancelInput", catalog.CancelInput{}, true},
			shape{"HubInput", catalog.HubInput{}, true},
			shape{"PortInput", catalog.PortInput{}, true},
			shape{"Invitation", invitation{}, false},
			shape{"Recovery", identity.Recovery{}, false},
			shape{"RecoveryList", list[identity.Recovery]{}, false},
			shape{"RecoveryInput", identity.RecoveryInput{}, true},
			shape{"RecoveryDecision", identity.RecoveryDecision{}, true},
			shape{"MailEntry", mail.Entry{}, false},
			shape{"MailList", list[mail.Entry]{}, false},
			shape{"BreakGlassInput", identity.BreakGlassInput{}, true},
			shape{"Grant", identity.Grant{}, false},
			shape{"BandwidthChange", network.BandwidthChange{}, false},
			shape{"BandwidthChangeList", list[network.BandwidthChange]{}, false},
			shape{"CapacityReport", network.CapacityReport{}, false},
			shape{"CapacityRow", network.CapacityRow{}, false},
			shape{"NATPool", network.Pool{}, false},
			shape{"NATPoolList", list[network.Pool]{}, false},
			shape{"NATPoolInput", network.PoolInput{}, true},
			shape{"Placement", network.Placement{}, false},
			shape{"PlacementList", list[network.Placement]{}, false},
			shape{"PlacedLeg", network.PlacedLeg{}, false},
			shape{"PhysRef", network.PhysRef{}, true},
			shape{"PlaceInput", network.PlaceInput{}, true},
			shape{"BandwidthInput", network.BandwidthInput{}, true},
			shape{"Notice", notice.Notice{}, false},
			shape{"NoticeList", list[notice.Notice]{}, false},
			shape{"NoticeDetail", notice.Detail{}, false},
			shape{"NoticeUpdate", notice.Update{}, false},
			shape{"NoticeAffectedCustomer", notice.AffectedCustomer{}, false},
			shape{"NoticeReason", notice.Reason{}, false},
			shape{"NoticeScope", notice.Scope{}, false},
			shape{"NoticeScopeInput", notice.Scope{}, true},
			shape{"NoticePhysicalPort", notice.PhysicalPort{}, true}, // both ways; every field is always sent
			shape{"NoticePreview", notice.Preview{}, false},
			shape{"NoticeApprovals", notice.Approvals{}, false},
			shape{"NoticeDraftInput", noticeDraftInput{}, true},
			shape{"NoticeUpdateInput", noticeUpdateInput{}, true},
			shape{"NoticePublishInput", noticePublishInput{}, true},
			shape{"NoticeApprovalInput", noticeApprovalInput{}, true},
			// reports (handlers_reports.go)
			shape{"ReportStatusInput", reportStatusInput{}, true},
			// audit evidence (handlers_evidence.go)
			shape{"ChainHead", evidence.ChainHead{}, false},
			shape{"ChainHeadList", list[evidence.ChainHead]{}, false},
			shape{"VerdictList", list[evidence.Verdict]{}, false},
			shape{"EvidenceRequestInput", evidenceRequestInput{}, true},
		),
	}
	for _, l := range openAPIListeners() {
		t.Run(l.name, func(t *testing.T) {
			doc, _ := loadOpenAPI(t, l)
			for _, sh := range perListener[l.name] {
				schema, _ := pointer(doc, "#/components/schemas/"+sh.schema).(map[string]any)
				if schema == nil {
					t.Errorf("%s: components.schemas.%s is missing", l.file, sh.schema)
					continue
				}
				checkSchemaFields(t, l.file, sh.schema, doc, schema, reflect.TypeOf(sh.typ), sh.input)
			}
		})
	}
}

func checkSchemaFields(t *testing.T, file, name string, doc, schema map[string]any, typ reflect.Type, input bool) {
	t.Helper()
	fields := map[string]reflect.StructField{}
	omit := map[string]bool{}
	jsonFields(typ, fields, omit)
	props, _ := schema["properties"].(map[string]any)
	required := map[string]bool{}
	req, _ := schema["required"].([]any)
	for _, r := range req {
		required[fmt.Sprint(r)] = true
	}
	for p := range props {
		if _, ok := fields[p]; !ok {
			t.Errorf("%s: %s has property %s, which %v does not have", file, name, p, typ)
		}
	}
	for f, sf := range fields {
		switch {
		case props[f] == nil && (input || !omit[f]):
			t.Errorf("%s: %s lacks property %s of %v", file, name, f, typ)
		case !input && !omit[f] && !required[f]:
			t.Errorf("%s: %s: %s is always sent and must be required", file, name, f)
		case !input && omit[f] && required[f]:
			t.Errorf("%s: %s: %s is omitted when empty and must not be required", file, name, f)
		}
		// An anonymous nested struct (the error body) is checked in place.
		if ft := sf.Type; ft.Kind() == reflect.Struct && ft.Name() == "" && props[f] != nil {
			sub, _ := resolve(doc, props[f]).(map[string]any)
			checkSchemaFields(t, file, name+"."+f, doc, sub, ft, input)
		}
	}
}

// jsonFields collects the JSON names of typ's fields as encoding/json sees
// them, flattening embedded structs.
func jsonFields(typ reflect.Type, fields map[string]reflect.StructField, omit map[string]bool) {
	for i := range typ.NumField() {
		sf := typ.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			jsonFields(sf.Type, fields, omit)
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields[name] = sf
		o := strings.Split(opts, ",")
		omit[name] = slices.Contains(o, "omitempty") || slices.Contains(o, "omitzero")
	}
}
