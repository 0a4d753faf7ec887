package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/audit"
	"github.com/tsunagi-net/tsunagi/internal/fault"
	"github.com/tsunagi-net/tsunagi/internal/identity"
	"github.com/tsunagi-net/tsunagi/internal/ids"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyPrincipal
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(keyRequestID).(string)
	return id
}

// sourceIP is the address the request came from: the direct peer. (Trusted
// proxies and X-Forwarded-For belong to the identity issue's allow-lists.)
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// outer is the middleware every request passes: request ID, the anonymous
// audit actor, security headers, panic recovery, access log and metrics.
func (s *Server) outer(listener string, next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	inner := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := ids.New("req")
		ctx := context.WithValue(r.Context(), keyRequestID, rid)
		ctx = audit.WithActor(ctx, audit.Actor{ID: "anonymous", Kind: "anonymous", Name: "anonymous",
			SourceIP: sourceIP(r), RequestID: rid})
		r = r.WithContext(ctx)
		h := w.Header()
		h.Set("X-Request-Id", rid)
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		sw := &statusWriter{ResponseWriter: w}
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
			if sw.code >= 500 {
				level = slog.LevelError
			}
			s.deps.Log.Log(ctx, level, "http", "listener", listener, "request_id", rid, "method", r.Method,
				"path", r.URL.Path, "status", sw.code, "duration_ms", float64(d.Microseconds())/1000, "source", sourceIP(r))
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
// cookie. It never looks at anything else in the request for scope.
func (s *Server) authenticate(r *http.Request, side identity.Side) (identity.Principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return identity.Principal{}, fault.New(fault.Unauthorized, "Authorization must be a Bearer token")
		}
		return s.deps.Identity.AuthenticateToken(ctx, side, strings.TrimSpace(tok))
	}
	c, err := r.Cookie(cookieName(side))
	if err != nil {
		return identity.Principal{}, fault.New(fault.Unauthorized, "authentication required")
	}
	return s.deps.Identity.AuthenticateSession(ctx, side, c.Value)
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
