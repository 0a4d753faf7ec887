package main

// The browser harness: Debian's chromium, driven through the DevTools
// protocol by chromedp, against a real `tsunagi serve` (startServe). Each test
// gets its own headless browser with a fresh profile in a temporary
// directory; each person in a scenario gets their own browser context
// (cookies apart), as two people on two machines would. The browser trusts
// the controller's self-signed certificate and no other: its SPKI hash is
// passed with --ignore-certificate-errors-spki-list. Every page a test visits
// is checked with axe-core (testdata/axe-core, vendored from npm, used only
// here) and can be photographed at 1280 and 375 px.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// actionTimeout bounds one browser step (a navigation, a click and the page
// it leads to); the machine may be a loaded 2-core box.
const actionTimeout = 45 * time.Second

// chromiumPath finds the browser. Without one the browser tests skip, unless
// TSUNAGI_TEST_BROWSER=required (as .ci/run sets) makes that a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TSUNAGI_TEST_BROWSER") == "required" {
		t.Fatal("TSUNAGI_TEST_BROWSER=required but no chromium on PATH (Debian: apt-get install chromium fonts-noto-cjk)")
	}
	t.Skip("no chromium on PATH: the browser tests skip (set TSUNAGI_TEST_BROWSER=required to fail instead)")
	return ""
}

// browser is one headless chromium for one test.
type browser struct {
	t   *testing.T
	ctx context.Context // the browser's first (default) context
}

// newBrowser starts chromium for s; it is killed and its profile removed
// when the test ends.
func newBrowser(t *testing.T, s *server) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(t, s)),
		chromedp.Flag("lang", "ja"),
		chromedp.Flag("disable-gpu", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // kills chromium and waits for it
	})
	t.Cleanup(func() {
		// A page that failed says only "internal error" and a request
		// ID: the controller's error records say what it was.
		if !t.Failed() {
			return
		}
		for _, rec := range s.logLines() {
			if rec["level"] == "ERROR" {
				b, _ := json.Marshal(rec)
				t.Logf("controller error: %s", b)
			}
		}
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// spkiHash is the base64 SHA-256 of the controller certificate's public key,
// the form --ignore-certificate-errors-spki-list takes.
func spkiHash(t *testing.T, s *server) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dataDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("tls/cert.pem holds no PEM block")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// tab is one person at the browser: a tab in a browser context of its own.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	lang string // "ja" or "en": what Accept-Language says
}

// person opens a tab in a new browser context (its own cookies) whose
// Accept-Language is lang.
func (b *browser) person(name, lang string) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	p := &tab{t: b.t, name: name, ctx: ctx}
	p.setLang(lang) // opens the tab
	// A destructive button asks first (data-confirm, window.confirm): the
	// person says yes, as the scenario means to go on.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return p
}

// setLang sets the Accept-Language the tab sends.
func (p *tab) setLang(lang string) {
	p.t.Helper()
	p.lang = lang
	al := "ja,en;q=0.5"
	if lang == "en" {
		al = "en-GB,en;q=0.9"
	}
	if _, err := chromedp.Call(p.ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": al}}); err != nil {
		p.t.Fatalf("%s: Accept-Language: %v", p.name, err)
	}
}

func (p *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(p.ctx, actionTimeout)
}

// do runs steps, failing the test on an error.
func (p *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %s: %v (at %s)\n%s", p.name, what, err, p.location(), tail(p.text(), 1500))
	}
}

// open loads url and returns the HTTP status of the document; every page
// opened is checked by axe-core.
func (p *tab) open(url string) int64 {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		p.t.Fatalf("%s: open %s: %v", p.name, url, err)
	}
	p.axe()
	return res.Status
}

// submit clicks sel (a submit button or link) and waits for the page it
// leads to; it returns that page's status and checks it with axe-core.
func (p *tab) submit(sel string) int64 {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		p.t.Fatalf("%s: click %s: %v (at %s)\n%s", p.name, sel, err, p.location(), tail(p.text(), 1500))
	}
	p.axe()
	return res.Status
}

// clickUntil clicks sel, a button that works through script (WebAuthn,
// then a page load), and waits until the JavaScript condition cond holds
// (asked again across the page loads); the status line the script writes
// is shown when it does not.
func (p *tab) clickUntil(sel, cond string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	deadline := time.Now().Add(actionTimeout)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			st := eval[string](p, `(document.querySelector("#webauthn-status") || {}).textContent || ""`)
			p.t.Fatalf("%s: after clicking %s, %s did not hold (at %s; status %q)", p.name, sel, cond, p.location(), st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fill types v into the field sel, replacing what was there.
func (p *tab) fill(sel, v string) {
	p.t.Helper()
	p.do("find "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	p.setValue(sel, "")
	p.do("fill "+sel, chromedp.SendKeys(chromedp.CSS(sel), v))
}

// choose sets a select (or any field) to v without typing.
func (p *tab) choose(sel, v string) {
	p.t.Helper()
	p.do("find "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	p.setValue(sel, v)
}

func (p *tab) setValue(sel, v string) {
	p.t.Helper()
	sj, _ := json.Marshal(sel)
	vj, _ := json.Marshal(v)
	if got := eval[string](p, `(() => { const e = document.querySelector(`+string(sj)+`); e.value = `+string(vj)+`; e.dispatchEvent(new Event("change", {bubbles: true})); return e.value; })()`); got != v {
		p.t.Fatalf("%s: %s cannot be set to %q (it has no such choice?)", p.name, sel, v)
	}
}

// eval evaluates js in the page and decodes its value into T.
func eval[T any](p *tab, js string) T {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: evaluate %.80s: %v", p.name, js, err)
	}
	return v
}

// text is the page's visible text.
func (p *tab) text() string {
	ctx, cancel := p.step()
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return s
}

func (p *tab) location() string {
	ctx, cancel := p.step()
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Location())
	return s
}

// has reports whether an element matches the CSS selector sel.
func (p *tab) has(sel string) bool {
	p.t.Helper()
	js, _ := json.Marshal(sel)
	return eval[bool](p, "document.querySelector("+string(js)+") !== null")
}

// mustHave fails unless sel matches (after waiting for it a little: htmx may
// still be swapping).
func (p *tab) mustHave(sel, why string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("%s: %s: no %s on %s\n%s", p.name, why, sel, p.location(), tail(p.text(), 1500))
	}
}

// contains fails unless the visible text has every one of want.
func (p *tab) contains(why string, want ...string) {
	p.t.Helper()
	txt := p.text()
	for _, w := range want {
		if !strings.Contains(txt, w) {
			p.t.Errorf("%s: %s: %q not on %s:\n%s", p.name, why, w, p.location(), tail(txt, 2000))
		}
	}
}

// post sends a same-origin form POST from the page, as a forged form would,
// and returns the status (redirects not followed).
func (p *tab) post(path string, form map[string]string) int {
	p.t.Helper()
	f, _ := json.Marshal(form)
	pj, _ := json.Marshal(path)
	return eval[int](p, `fetch(`+string(pj)+`, {method: "POST", redirect: "manual", body: new URLSearchParams(`+string(f)+`)}).then(r => r.type === "opaqueredirect" ? 303 : r.status)`)
}

// The vendored axe-core script, read once.
var (
	axeOnce sync.Once
	axeSrc  string
	axeErr  error
)

// axeViolation is the part of an axe-core result the report prints.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// axe runs axe-core on the current page and fails the test on a serious or
// critical violation. The script is evaluated over the DevTools protocol,
// which the page's Content-Security-Policy does not govern.
func (p *tab) axe() {
	p.t.Helper()
	axeOnce.Do(func() {
		var b []byte
		b, axeErr = os.ReadFile(filepath.Join("testdata", "axe-core", "axe.min.js"))
		axeSrc = string(b)
	})
	if axeErr != nil {
		p.t.Fatalf("axe-core: %v", axeErr)
	}
	ctx, cancel := p.step()
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err == nil && !loaded {
		err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSrc))
	}
	if err != nil {
		p.t.Fatalf("%s: load axe-core: %v", p.name, err)
	}
	var vs []axeViolation
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`,
		chromedp.EvalAwaitPromise))
	if err == nil {
		err = json.Unmarshal(raw, &vs)
	}
	if err != nil {
		p.t.Fatalf("%s: axe.run on %s: %v", p.name, p.location(), err)
	}
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		var targets []string
		for _, n := range v.Nodes {
			targets = append(targets, fmt.Sprint(n.Target...))
		}
		p.t.Errorf("axe-core on %s (%s): %s %s: %s; nodes: %s", p.location(), p.lang, v.Impact, v.ID, v.Help, strings.Join(targets, ", "))
	}
}

// Screenshots go to TSUNAGI_SCREENSHOTS, or to one directory per test run
// under the temporary directory, kept after the run and named in the log.
var (
	shotOnce sync.Once
	shotDir  string
)

func screenshotDir(t *testing.T) string {
	shotOnce.Do(func() {
		shotDir = os.Getenv("TSUNAGI_SCREENSHOTS")
		if shotDir == "" {
			shotDir = filepath.Join(os.TempDir(), "tsunagi-screenshots-"+time.Now().Format("20060102-150405"))
		}
		if err := os.MkdirAll(shotDir, 0o755); err != nil {
			shotDir = ""
			t.Logf("screenshots: %v", err)
		}
	})
	return shotDir
}

// shoot saves the whole page at 1280 and at 375 px width as <name>-1280.png
// and <name>-375.png, and puts the viewport back.
func (p *tab) shoot(name string) {
	p.t.Helper()
	dir := screenshotDir(p.t)
	if dir == "" {
		return
	}
	for _, w := range []int64{1280, 375} {
		steps := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(w, 900)}
		if w == 375 {
			steps = []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(w, 812, chromedp.EmulateMobile)}
		}
		p.do("viewport", steps...)
		if w == 375 {
			p.checkNarrow()
		}
		ctx, cancel := p.step()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			p.t.Fatalf("%s: screenshot %s: %v", p.name, name, err)
		}
		f := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.png", name, p.lang, w))
		if err := os.WriteFile(f, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	p.do("viewport", chromedp.EmulateViewport(1280, 900))
	p.t.Logf("screenshots of %s in %s", name, dir)
}

// checkNarrow fails when the page is wider than a 375 px screen: the panel
// must be usable there without scrolling sideways (wide tables scroll in
// their own .table-wrap).
func (p *tab) checkNarrow() {
	p.t.Helper()
	if w := eval[int](p, `document.documentElement.scrollWidth`); w > 380 {
		// What sticks out: elements past the edge that no narrower
		// scrolling .table-wrap holds, innermost first.
		wide := eval[string](p, `[...document.querySelectorAll("body *")].filter(e => {
			if (e.getBoundingClientRect().right <= 380) return false;
			// A positioned element escapes a wrap that is not its
			// containing block, scroll or not.
			const w = e.parentElement && e.parentElement.closest(".table-wrap");
			return !w || w.getBoundingClientRect().right > 380 || getComputedStyle(e).position === "absolute";
		}).reverse().slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "")).join(", ")`)
		p.t.Errorf("%s at 375 px is %d px wide (scrolls sideways); widest: %s", p.location(), w, wide)
	}
}

// keyShape matches a catalogue key of any catalogue file, as a page would
// show it when a template printed the key instead of its text.
var (
	keyOnce  sync.Once
	keyShape *regexp.Regexp
)

func catalogueKeyShape(t *testing.T) *regexp.Regexp {
	keyOnce.Do(func() {
		files, _ := filepath.Glob(filepath.Join("..", "..", "internal", "web", "panel", "messages", "*.json"))
		prefixes := map[string]bool{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var m map[string]json.RawMessage
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			for k := range m {
				if i := strings.IndexByte(k, '.'); i > 0 {
					prefixes[regexp.QuoteMeta(k[:i])] = true
				}
			}
		}
		var ps []string
		for p := range prefixes {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		keyShape = regexp.MustCompile(`\b(?:` + strings.Join(ps, "|") + `)\.[a-z0-9_]+(?:\.[a-z0-9_]+)*\b`)
	})
	if keyShape == nil || keyShape.String() == `\b(?:)\.[a-z0-9_]+(?:\.[a-z0-9_]+)*\b` {
		t.Fatal("no catalogue files found under internal/web/panel/messages")
	}
	return keyShape
}

// kana matches hiragana and katakana: English pages have none (names such
// as a region's may be in kanji in the data, never in kana).
var kana = regexp.MustCompile(`[\p{Hiragana}\p{Katakana}]`)

// virtualKey gives the tab a platform authenticator (CTAP2, internal
// transport, user verification) that answers WebAuthn requests, as a
// fingerprint reader would.
func (p *tab) virtualKey() webauthn.AuthenticatorID {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		p.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
			HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		p.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// credentials lists what the virtual authenticator holds.
func (p *tab) credentials(id webauthn.AuthenticatorID) int {
	p.t.Helper()
	ctx, cancel := p.step()
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		p.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return len(res.Credentials)
}

// docShot, when TSUNAGI_DOC_SCREENSHOTS names a directory (relative to the
// repository root, e.g. docs/panel), saves what the screen shows of the
// page at 1024 px, in Japanese and in English, as <name>-<lang>.png for the
// customer guide (docs/panel.md), small enough to commit.
func (p *tab) docShot(name string) {
	p.t.Helper()
	dir := os.Getenv("TSUNAGI_DOC_SCREENSHOTS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // the test runs in cmd/tsunagi
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	p.docShotIn(dir, name)
	other := map[string]string{"ja": "en", "en": "ja"}
	back := p.lang
	p.switchLang(other[back])
	p.docShotIn(dir, name)
	p.switchLang(back)
}

func (p *tab) docShotIn(dir, name string) {
	p.t.Helper()
	p.do("viewport", chromedp.EmulateViewport(1024, 720))
	ctx, cancel := p.step()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	cancel()
	p.do("viewport", chromedp.EmulateViewport(1280, 900))
	if err != nil {
		p.t.Fatalf("%s: screenshot %s: %v", p.name, name, err)
	}
	if len(png) > 150<<10 {
		p.t.Errorf("doc screenshot %s is %d KB, over 150 KB", name, len(png)>>10)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-"+p.lang+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}
