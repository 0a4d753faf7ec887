package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/catalog"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
	keySourceIP
	keyCookies
	keyState
)

// reqState is what outer learns about a request from the layers inside it.
type reqState struct {
	principal *identity.Principal // set by authenticate
	w         *statusWriter       // the answer's writer, whose code the audit guard reads
	// failed is set when the request was answered with an error (refused):
	// a page's refusal may be a redirect to the sign-in, whose status
	// alone would look like a success.
	failed bool
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// sourceIP is the address the request came from, as outer resolved it (see
// clientIP); before outer ran, the direct peer.
func sourceIP(r *http.Request) string {
	if ip, ok := r.Context().Value(keySourceIP).(string); ok {
		return ip
	}
	return peerIP(r)
}

func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}

// clientIP is the direct peer, unless the peer is a trusted proxy: then it is
// the right-most X-Forwarded-For address that is not itself a trusted proxy
// (entries left of it could be forged by the client). A malformed header
// from a trusted proxy falls back to the proxy's own address, which an
// allow-list will then refuse rather than admit.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := peerIP(r)
	if len(trusted) == 0 || !inPrefixes(peer, trusted) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		client = a.Unmap().String()
		if !inPrefixes(client, trusted) {
			break
		}
	}
	return client
}

func inPrefixes(ip string, ps []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// pendingCookies are cookies decided after the handler started (a session ID
// rotated during authentication); statusWriter sends them with the headers.
type pendingCookies struct{ list []*http.Cookie }

func setLateCookie(r *http.Request, c *http.Cookie) {
	if pc, ok := r.Context().Value(keyCookies).(*pendingCookies); ok {
		pc.list = append(pc.list, c)
	}
}

type statusWriter struct {
	http.ResponseWriter
	code    int
	cookies *pendingCookies
}

func (w *statusWriter) flushCookies() {
	if w.cookies != nil {
		for _, c := range w.cookies.list {
			http.SetCookie(w.ResponseWriter, c)
		}
		w.cookies.list = nil
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
		w.flushCookies()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
		w.flushCookies()
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// outer is the middleware every request passes: request ID, the anonymous
// audit actor, security headers, panic recovery, access log and metrics.
func (s *Server) outer(listener string, next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A refused access like any other: recorded (in the platform's
		// chain: nobody is signed in yet), then answered.
		if err := s.deps.Audit.Record(r.Context(), audit.Event{Action: "access.denied", Target: r.Method + " " + r.URL.Path,
			Result: audit.Denied, Detail: map[string]any{"reason": "cross_origin"}}); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeError(w, r, fault.New(fault.Forbidden, "cross-origin request refused"))
	}))
	inner := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := ids.New("req")
		src := clientIP(r, s.deps.Identity.TrustedProxies())
		cookies := &pendingCookies{}
		ctx := context.WithValue(r.Context(), keyRequestID, rid)
		ctx = context.WithValue(ctx, keySourceIP, src)
		ctx = context.WithValue(ctx, keyCookies, cookies)
		sw := &statusWriter{ResponseWriter: w, cookies: cookies}
		st := &reqState{w: sw}
		ctx = context.WithValue(ctx, keyState, st)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			// TLS has proved the client holds the key; identity decides
			// whether the certificate is a registered device.
			ctx = identity.WithClientCert(ctx, r.TLS.PeerCertificates[0])
		}
		ctx = audit.WithActor(ctx, audit.Actor{ID: "anonymous", Kind: "anonymous", Name: "anonymous",
			SourceIP: src, RequestID: rid})
		r = r.WithContext(ctx)
		h := w.Header()
		h.Set("X-Request-Id", rid)
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		defer func() {
			if v := recover(); v != nil {
				s.deps.Log.Error("panic", "request_id", rid, "panic", v, "stack", string(debug.Stack()))
				if sw.code == 0 {
					s.writeError(sw, r, fault.New(fault.Internal, "internal error"))
				}
			}
			d := time.Since(start)
			s.metrics.observe(listener, r.Method, sw.code, d)
			level := slog.LevelInfo
			switch {
			case sw.code == http.StatusServiceUnavailable:
				level = slog.LevelWarn
			case sw.code >= 500:
				level = slog.LevelError
			}
			s.deps.Log.Log(ctx, level, "http", "listener", listener, "request_id", rid, "method", r.Method,
				"path", r.URL.Path, "status", sw.code, "duration_ms", float64(d.Microseconds())/1000, "source", sourceIP(r))
			s.auditBadInput(ctx, st, r, sw.code)
		}()
		if strings.HasPrefix(r.URL.Path, "/api/") && !s.ready.Load() {
			s.writeError(sw, r, fault.New(fault.Unavailable, "the service is temporarily unavailable; retry shortly"))
			return
		}
		inner.ServeHTTP(sw, r)
	})
}

// principal returns the request's authenticated principal.
func principal(r *http.Request) identity.Principal {
	p, _ := r.Context().Value(keyPrincipal).(identity.Principal)
	return p
}

// authenticate finds the caller from a bearer token or the listener's session
// cookie. It never looks at anything else in the request for scope. A
// credential that was presented but is not (or no longer) valid — expired,
// revoked, of a deleted account — is audited. A session whose ID was rotated
// (privilege change) gets its new cookie with this response.
func (s *Server) authenticate(r *http.Request, side identity.Side) (identity.Principal, error) {
	ctx := r.Context()
	var (
		p   identity.Principal
		err error
		via string
	)
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return identity.Principal{}, fault.New(fault.Unauthorized, "Authorization must be a Bearer token")
		}
		via = "token"
		p, err = s.deps.Identity.AuthenticateToken(ctx, side, strings.TrimSpace(tok))
	} else {
		c, cerr := r.Cookie(cookieName(side))
		if cerr != nil {
			return identity.Principal{}, fault.New(fault.Unauthorized, "authentication required")
		}
		via = "session"
		p, err = s.deps.Identity.AuthenticateSession(ctx, side, c.Value)
	}
	if fault.Is(err, fault.Unauthorized) {
		if aerr := s.deps.Audit.Record(ctx, audit.Event{Action: "access.denied.credential", Target: r.Method + " " + r.URL.Path,
			Result: audit.Denied, Detail: map[string]any{"via": via}}); aerr != nil {
			return identity.Principal{}, aerr
		}
	}
	if err != nil {
		return identity.Principal{}, err
	}
	if p.Rotated != "" {
		setLateCookie(r, sessionCookie(side, p.Rotated))
	}
	if st, ok := ctx.Value(keyState).(*reqState); ok {
		st.principal = &p
	}
	return p, nil
}

// identityPaths are the API paths of accounts and credentials (issue 3),
// whose refused input is audited: an attack on them is an attack on access.
var identityPaths = regexp.MustCompile(`^/api/v1/(session|setup|password-reset|me|tokens|sessions|accounts|security-policy|devices|staff|officers|break-glass|customers/[^/]+/(accounts|break-glass))(/|$)`)

// auditBadInput records every state-changing identity request refused for
// its input (400, 413): malformed JSON, invalid text, injection attempts
// caught by validation. Nothing was changed by such a request; the record
// says who tried what, from where.
func (s *Server) auditBadInput(ctx context.Context, st *reqState, r *http.Request, code int) {
	if code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead || !identityPaths.MatchString(r.URL.Path) {
		return
	}
	ctx = context.WithoutCancel(ctx)
	ev := audit.Event{Action: "request.invalid", Target: r.Method + " " + r.URL.Path, Result: audit.Denied,
		Detail: map[string]any{"status": code}}
	if st.principal != nil {
		a := audit.ActorFrom(ctx)
		ctx = audit.WithActor(ctx, st.principal.Actor(a.SourceIP, a.RequestID))
		ev.CustomerID = string(st.principal.CustomerID)
	}
	if err := s.deps.Audit.Record(ctx, ev); err != nil {
		s.deps.Log.ErrorContext(ctx, "audit of a refused request failed", "request_id", requestID(r), "err", err)
	}
}

// breakGlass gives an operator the break-glass role and the read-only scope
// of the customer in the path ({customer}) for which it holds a live grant;
// identity records the access, with the grant's reason, in that customer's
// audit log. Without a grant nothing changes.
func (s *Server) breakGlass(r *http.Request, p identity.Principal) (identity.Principal, error) {
	return s.deps.Identity.EnterBreakGlass(r.Context(), p, catalog.CustomerID(r.PathValue("customer")), r.Method+" "+r.URL.Path)
}

// sessionCookie is the listener's session cookie: Secure, HttpOnly,
// SameSite=Strict, host-only (__Host- prefix), no Max-Age (ends with the
// browser; the server enforces idle and absolute limits).
func sessionCookie(side identity.Side, secret string) *http.Cookie {
	return &http.Cookie{Name: cookieName(side), Value: secret, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode}
}

// cookieName differs per listener: cookies are not isolated by port, so the
// name (and the side check in identity) keeps an operator session from ever
// being presented on the customer listener and vice versa.
func cookieName(side identity.Side) string {
	if side == identity.OperatorSide {
		return "__Host-tsunagi-ops"
	}
	return "__Host-tsunagi"
}
