package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/tsunagi-net/tsunagi/internal/dataplane"
	"github.com/tsunagi-net/tsunagi/internal/network/desired"
	lgc "github.com/tsunagi-net/tsunagi/internal/network/lookingglass"
)

// The looking glass: the controller queues a customer's read of one of its
// BGP sessions; this loop, beside the desired-state loop and never held up
// by an apply pass, long-polls for the queries of this node's hubs,
// answers each from the hub's BIRD at once and posts the answer. The
// session is found by the desired state's own keys (hub, customer, port
// code, session name) through the names the translation gave them — never
// by taking a BIRD protocol name apart.

// LookingGlassBird is what the looking glass reads of a hub's BIRD
// (dataplane.BirdClient; a fake in tests).
type LookingGlassBird interface {
	Session(ctx context.Context, protocol string) (dataplane.SessionDetail, error)
	ImportedRoutes(ctx context.Context, protocol string) ([]dataplane.RouteDetail, error)
	RefusedRoutes(ctx context.Context, protocol string) ([]dataplane.RouteDetail, error)
	ExportedRoutes(ctx context.Context, protocol string) ([]dataplane.RouteDetail, error)
}

// LookingGlass answers the controller's looking-glass queries.
type LookingGlass struct {
	Client *Client
	// Bird returns the BIRD of the data plane's hub ID
	// (dataplane.Manager.BirdClient).
	Bird func(hubID string) LookingGlassBird
	// State returns the desired state the node runs (the one kept on
	// disk: LoadLastState).
	State func() (desired.State, bool, error)
	Log   *slog.Logger
	// Wait is the long poll (≤ 30 s); MaxBackoff bounds the wait after a
	// failed poll.
	Wait, MaxBackoff time.Duration
	// ReadTimeout bounds the BIRD reads of one answer, which the
	// customer waits for (at most 10 s in all).
	ReadTimeout time.Duration
}

func (g *LookingGlass) defaults() {
	if g.Wait == 0 {
		g.Wait = 25 * time.Second
	}
	if g.MaxBackoff == 0 {
		g.MaxBackoff = time.Minute
	}
	if g.ReadTimeout == 0 {
		g.ReadTimeout = 5 * time.Second
	}
	if g.Log == nil {
		g.Log = slog.New(slog.DiscardHandler)
	}
}

// Run answers queries until ctx ends.
func (g *LookingGlass) Run(ctx context.Context) {
	g.defaults()
	backoff := time.Second
	for ctx.Err() == nil {
		qs, err := g.Client.LookingGlassQueries(ctx, g.Wait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			g.Log.Warn("looking glass: poll failed", "err", err, "retry_in", backoff.String())
			sleep(ctx, backoff+time.Duration(rand.Int64N(int64(backoff/4)+1)))
			backoff = min(2*backoff, g.MaxBackoff)
			continue
		}
		backoff = time.Second
		for _, q := range qs {
			a := g.Answer(ctx, q)
			if err := g.Client.SendLookingGlassAnswer(ctx, a); err != nil && ctx.Err() == nil {
				g.Log.Warn("looking glass: answer refused", "query", q.ID, "err", err)
			}
		}
	}
}

// Answer reads the queried session from its hub's BIRD. What cannot be
// read is said in the answer's Error, so the customer sees why.
func (g *LookingGlass) Answer(ctx context.Context, q lgc.Query) lgc.Answer {
	g.defaults()
	a := lgc.Answer{Schema: lgc.Schema, ID: q.ID}
	if err := g.read(ctx, q, &a); err != nil {
		// The customer reads Error: it says what failed in words of its
		// own; the cause (socket paths, BIRD's text) stays in the log.
		var said *answerError
		if errors.As(err, &said) {
			a.Error = said.text
		}
		g.Log.Warn("looking glass: answered in part", "query", q.ID, "hub", q.HubID, "port", q.PortCode, "session", q.Session, "err", err)
	}
	a.AnsweredAt = time.Now().UTC()
	a.Cut()
	return a
}

func (g *LookingGlass) read(ctx context.Context, q lgc.Query, a *lgc.Answer) error {
	s, ok, err := g.State()
	if err != nil || !ok {
		return &answerError{"the node has no desired state yet", err}
	}
	i := slices.IndexFunc(s.Hubs, func(h desired.Hub) bool { return h.HubID == q.HubID && h.CustomerID == q.CustomerID })
	if i < 0 {
		return &answerError{"the hub does not run on this node", nil}
	}
	h := s.Hubs[i]
	j := slices.IndexFunc(h.Ports, func(p desired.Port) bool { return p.PortCode == q.PortCode })
	if j < 0 || !slices.ContainsFunc(h.Ports[j].Sessions, func(ss desired.Session) bool { return ss.Name == q.Session }) {
		return &answerError{"the port has no such session on this node", nil}
	}
	dh, _ := translateHub(s, h)
	proto := dataplane.SessionName(portName(q.PortCode, q.Session))
	ctx, cancel := context.WithTimeout(ctx, g.ReadTimeout)
	defer cancel()
	bird := g.Bird(dh.ID)
	d, err := bird.Session(ctx, proto)
	if err != nil {
		return &answerError{"the hub's BGP daemon did not answer", err}
	}
	a.State, a.Info, a.HoldTime, a.KeepaliveTime = d.State, d.Info, d.HoldTime, d.KeepaliveTime
	if !d.Since.IsZero() {
		since := d.Since.UTC()
		a.Since = &since
	}
	var errs []error
	imported, err := bird.ImportedRoutes(ctx, proto)
	errs = append(errs, err)
	for _, r := range imported {
		a.Received = append(a.Received, lgc.ReceivedRoute{Prefix: r.Net.String(), NextHop: addr(r.NextHop), ASPath: r.ASPath, Accepted: true})
	}
	refused, err := bird.RefusedRoutes(ctx, proto)
	errs = append(errs, err)
	for _, r := range refused {
		a.Received = append(a.Received, lgc.ReceivedRoute{Prefix: r.Net.String(), NextHop: addr(r.NextHop), ASPath: r.ASPath,
			Reason: dataplane.RefusalReason(r.Net, dh)})
	}
	exported, err := bird.ExportedRoutes(ctx, proto)
	errs = append(errs, err)
	for _, r := range exported {
		// On the wire the hub is the next hop (eBGP); BIRD shows the
		// route as its table holds it.
		a.Advertised = append(a.Advertised, lgc.AdvertisedRoute{Prefix: r.Net.String(), NextHop: addr(d.Source), ASPath: r.ASPath})
	}
	if err := errors.Join(errs...); err != nil {
		return &answerError{"the hub's BGP daemon listed the routes only in part", err}
	}
	return nil
}

// answerError is a failure to answer: text for the customer, err for the
// log.
type answerError struct {
	text string
	err  error
}

func (e *answerError) Error() string {
	if e.err == nil {
		return e.text
	}
	return e.text + ": " + e.err.Error()
}

func (e *answerError) Unwrap() error { return e.err }

func addr(a netip.Addr) string {
	if !a.IsValid() || !a.Is4() {
		return ""
	}
	return a.String()
}

// LookingGlassQueries long-polls for the looking-glass queries of this
// node's hubs; none when wait passes without one.
func (c *Client) LookingGlassQueries(ctx context.Context, wait time.Duration) ([]lgc.Query, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/agent/v1/queries?wait="+strconv.Itoa(int(wait/time.Second)), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &ErrStatus{resp.StatusCode, apiMessage(raw)}
	}
	qs, err := lgc.DecodeQueries(raw)
	return qs.Queries, err
}

// SendLookingGlassAnswer posts the answer to its query.
func (c *Client) SendLookingGlassAnswer(ctx context.Context, a lgc.Answer) error {
	body, err := lgc.EncodeAnswer(a)
	if err != nil {
		return err
	}
	return c.post(ctx, "/agent/v1/queries/"+url.PathEscape(a.ID), body)
}
